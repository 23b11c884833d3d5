/**
 * The mapping of old rules, without a database: every old condition and action either becomes ours
 * or is named in the reasons, never dropped (fast-check over random condition and action sets).
 */
import { describe, expect, it } from "vitest"
import fc from "fast-check"
import { mapOldCorrection, mapOldRule, OldActionKeys, OldConditionKeys } from "../../src/import/Mapping.ts"
import { checkRegex } from "../../src/contract/rules/Rule.ts"
import { compileRuleResult, matchesRule, type RuleSubject } from "../../src/rules/evaluate.ts"
import { oldDecision } from "./fixture.ts"

const text = fc.string({ minLength: 0, maxLength: 30 })
const conditionValue = fc.oneof(text, fc.boolean(), fc.integer(), fc.constant(null), fc.array(text, { maxLength: 2 }))
const unknownKey = fc
  .stringMatching(/^[a-z_]{3,20}$/)
  .filter((k) => k !== "match_mode" && !(OldConditionKeys as ReadonlyArray<string>).includes(k) && k !== "__proto__")
const conditionKey = fc.oneof(fc.constantFrom(...OldConditionKeys), unknownKey)
const conditions = fc.dictionary(conditionKey, conditionValue, { minKeys: 0, maxKeys: 6 })
const actionKey = fc.oneof(
  fc.constantFrom(...OldActionKeys),
  fc
    .stringMatching(/^[a-z_]{3,20}$/)
    .filter((k) => !(OldActionKeys as ReadonlyArray<string>).includes(k) && k !== "__proto__")
)
const actionValue = fc.oneof(
  text,
  fc.boolean(),
  fc.constantFrom("high", "medium", "low", 1, 2, 3, 7),
  fc.constant(null)
)
const actions = fc.dictionary(actionKey, actionValue, { minKeys: 0, maxKeys: 5 })
const matchMode = fc.option(fc.constantFrom("all", "any", "both"), { nil: undefined })

describe("mapOldRule", () => {
  it("maps every condition or names it in the reasons (never drops one)", () => {
    fc.assert(
      fc.property(conditions, matchMode, (conds, mode) => {
        const input = mode === undefined ? conds : { ...conds, match_mode: mode }
        const result = mapOldRule({ name: "r", active: true, conditions: input, actions: { mark_as_read: true } }, 10)
        const keys = Object.keys(conds)
        if (result._tag === "Mapped") {
          expect(result.rule.conditions.length).toBe(keys.length)
          expect(result.rule.match).toBe(mode ?? "all")
        } else {
          expect(result.reasons.length).toBeGreaterThan(0)
          for (const key of keys) {
            if (!(OldConditionKeys as ReadonlyArray<string>).includes(key)) {
              expect(result.reasons.some((reason) => reason.includes(key))).toBe(true)
            }
          }
        }
      }),
      { numRuns: 500 }
    )
  })

  it("maps every action or names it in the reasons", () => {
    fc.assert(
      fc.property(actions, (acts) => {
        const result = mapOldRule({ name: "r", active: true, conditions: { subject_contains: "x" }, actions: acts }, 10)
        if (result._tag === "Mapped") {
          // each true flag / non-empty value became one action (stop_processing is the rule's flag)
          const expected = Object.entries(acts).filter(
            ([key, value]) =>
              key !== "stop_processing" && value !== false && value !== "false" && value !== null && value !== ""
          ).length
          expect(result.rule.actions.length).toBe(expected)
          expect(result.rule.stopProcessing).toBe(acts["stop_processing"] === true)
        } else {
          expect(result.reasons.length).toBeGreaterThan(0)
          for (const key of Object.keys(acts)) {
            if (!(OldActionKeys as ReadonlyArray<string>).includes(key)) {
              expect(result.reasons.some((reason) => reason.includes(key))).toBe(true)
            }
          }
        }
      }),
      { numRuns: 500 }
    )
  })

  it("a subject_regex is imported exactly when re2js accepts it", () => {
    const pattern = fc.oneof(
      fc.constantFrom(
        "(?=a)b",
        "(a)\\1",
        "a{2,1}",
        "(abc",
        "^\\[(urgent|dringend)\\]",
        "[a-z]+\\d{2,4}",
        "(?<!x)y",
        "a{1001}"
      ),
      fc.string({ minLength: 1, maxLength: 20 })
    )
    fc.assert(
      fc.property(pattern, (regex) => {
        const result = mapOldRule(
          { name: "r", active: true, conditions: { subject_regex: regex }, actions: { mark_as_read: true } },
          10
        )
        const accepted = regex.trim().length > 0 && checkRegex(regex)._tag === "Ok"
        expect(result._tag).toBe(accepted ? "Mapped" : "Unmapped")
      }),
      { numRuns: 300 }
    )
  })

  it("keeps the old name, state and priority", () => {
    const result = mapOldRule(
      { name: "Ünïcödé 🧾", active: false, conditions: { sender_domain: "@example.org" }, actions: { delete: true } },
      42
    )
    expect(result._tag).toBe("Mapped")
    if (result._tag !== "Mapped") return
    expect(result.rule).toMatchObject({ name: "Ünïcödé 🧾", enabled: false, priority: 42, match: "all" })
    expect(result.rule.conditions).toEqual([{ field: "from", op: "domain", value: "@example.org" }])
  })
})

describe("mapOldCorrection", () => {
  it("a correction without Message-ID needs folder and UID", () => {
    const base = { urgency: 3, importance: null, category: null, tags: [] }
    expect(mapOldCorrection({ ...base, messageId: null, folder: "INBOX", uid: 4 })._tag).toBe("Mapped")
    expect(mapOldCorrection({ ...base, messageId: null, folder: null, uid: 4 })._tag).toBe("Unmapped")
    expect(mapOldCorrection({ ...base, messageId: "abc@x", folder: null, uid: null })).toMatchObject({
      _tag: "Mapped",
      correction: { messageId: "<abc@x>", mailbox: null, uid: null }
    })
  })

  it("only the old AI's values is not a correction; levels outside 1-3 and unknown categories are reported", () => {
    expect(
      mapOldCorrection({
        messageId: "<a@b>",
        folder: null,
        uid: null,
        urgency: null,
        importance: null,
        category: null,
        tags: []
      })._tag
    ).toBe("NotACorrection")
    const odd = mapOldCorrection({
      messageId: "<a@b>",
      folder: null,
      uid: null,
      urgency: 5,
      importance: null,
      category: "dringend",
      tags: []
    })
    expect(odd._tag).toBe("Unmapped")
    if (odd._tag === "Unmapped") expect(odd.reasons.join("\n")).toMatch(/urgency 5 .*\n.*category 'dringend'/)
  })
})

describe("an imported rule decides as the old rule did", () => {
  // small alphabets, so that conditions match often; ß and final sigma left out (see the README:
  // our case folding treats ß as ss, the old lower() did not)
  const word = fc.string({ unit: fc.constantFrom("a", "b", "C", "ä", "Ö", " ", "x"), minLength: 1, maxLength: 4 })
  const domain = fc.constantFrom("example.org", "shop.example", "ÄRGER.example")
  const message = fc.record({
    messageId: fc.constant("<p@test>"),
    from: fc.record({
      name: word,
      address: fc.tuple(fc.constantFrom("anna", "Bob"), domain).map(([u, d]) => `${u}@${d}`)
    }),
    subject: fc.string({ unit: fc.constantFrom("a", "b", "C", "ä", "Ö", " ", "x", "[", "]"), maxLength: 12 }),
    body: fc.string({ unit: fc.constantFrom("a", "b", "C", "ä", "Ö", " ", "x"), maxLength: 20 }),
    attachment: fc.boolean()
  })
  const condition = fc.oneof(
    fc.record({ key: fc.constant("sender_equals"), value: fc.constantFrom("anna@example.org", "BOB@shop.example") }),
    fc.record({ key: fc.constant("sender_contains"), value: word }),
    fc.record({ key: fc.constant("sender_domain"), value: domain }),
    fc.record({ key: fc.constant("subject_contains"), value: word }),
    fc.record({ key: fc.constant("subject_regex"), value: fc.constantFrom("^a", "b+c", "\\[x\\]", "ä|ö", "^$") }),
    fc.record({ key: fc.constant("body_contains"), value: word }),
    fc.record({ key: fc.constant("has_attachment"), value: fc.boolean() })
  )
  const rule = fc.record({
    mode: fc.constantFrom("all", "any"),
    conditions: fc.uniqueArray(condition, { minLength: 1, maxLength: 4, selector: (c) => c.key })
  })

  it("on random messages", () => {
    fc.assert(
      fc.property(rule, fc.array(message, { minLength: 1, maxLength: 8 }), (r, mails) => {
        const conditions: Record<string, unknown> = { match_mode: r.mode }
        for (const c of r.conditions) conditions[c.key] = c.value
        const old = { id: 1, name: "p", active: true, priority: 1, conditions, actions: { mark_as_read: true } }
        const mapped = mapOldRule({ name: "p", active: true, conditions, actions: old.actions }, 10)
        if (mapped._tag !== "Mapped") {
          // only a value that is blank after trimming is refused
          expect(mapped.reasons.join("\n")).toMatch(/non-empty/)
          return
        }
        const compiled = compileRuleResult(mapped.rule)
        if (compiled._tag !== "Success") throw new Error("an imported rule does not compile")
        for (const m of mails) {
          const subject: RuleSubject = {
            from: m.from,
            to: [],
            cc: [],
            subject: m.subject,
            bodyText: m.body,
            hasAttachment: m.attachment,
            mailbox: "INBOX",
            category: null,
            urgency: null,
            importance: null,
            score: null,
            spam: null,
            tags: [],
            flags: { seen: false, flagged: false }
          }
          expect(matchesRule(compiled.success, subject)).toBe(oldDecision(old, m))
        }
      }),
      { numRuns: 400 }
    )
  })
})
