/**
 * The mapping of old rules, without a database: every old condition and action either becomes ours
 * or is named in the reasons, never dropped (fast-check over random condition and action sets).
 */
import { describe, expect, it } from "vitest"
import fc from "fast-check"
import {
  mapOldCorrection,
  mapOldRule,
  normaliseMessageId,
  OldActionKeys,
  OldConditionKeys,
  pythonRegexDifference,
  pythonTruthy
} from "../../src/import/Mapping.ts"
import { checkRegex } from "../../src/rules/regex.ts"
import { compileRuleResult, matchesRule, type RuleSubject } from "../../src/rules/evaluate.ts"
import { parseMessage } from "../../src/sync/mime.ts"
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
          // sender_equals and sender_domain become two conditions each
          expect(result.rule.conditions.length).toBeGreaterThanOrEqual(keys.length)
          // the old engine: "any" is OR, every other value AND (a single composite condition: all)
          if (mode !== "any") expect(result.rule.match).toBe("all")
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
          // each action the old engine carried out became one action: yes/no keys by Python truthiness,
          // set_priority only for low and high, tag_color none (stop_processing is the rule's flag)
          const expected = Object.entries(acts).filter(([key, value]) => {
            if (key === "stop_processing" || key === "tag_color") return false
            if (key === "set_priority") return value === "low" || value === "high"
            return pythonTruthy(value)
          }).length
          expect(result.rule.actions.length).toBe(expected)
          expect(result.rule.stopProcessing).toBe(pythonTruthy(acts["stop_processing"]))
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
        "a{1001}",
        "\\bÄrger\\b",
        "\\d{4}",
        "a{,3}",
        "\\p{L}"
      ),
      fc.string({ minLength: 1, maxLength: 20 })
    )
    fc.assert(
      fc.property(pattern, (regex) => {
        const result = mapOldRule(
          { name: "r", active: true, conditions: { subject_regex: regex }, actions: { mark_as_read: true } },
          10
        )
        const accepted =
          regex.trim().length > 0 && checkRegex(regex)._tag === "Ok" && pythonRegexDifference(regex) === undefined
        expect(result._tag).toBe(accepted ? "Mapped" : "Unmapped")
      }),
      { numRuns: 300 }
    )
  })

  it("keeps the old name, state and priority", () => {
    const result = mapOldRule(
      { name: "Ünïcödé 🧾", active: false, conditions: { sender_domain: "example.org" }, actions: { delete: true } },
      42
    )
    expect(result._tag).toBe("Mapped")
    if (result._tag !== "Mapped") return
    expect(result.rule).toMatchObject({ name: "Ünïcödé 🧾", enabled: false, priority: 42, match: "all" })
    expect(result.rule.conditions).toEqual([
      { field: "from", op: "contains", value: " <", negate: true },
      { field: "from", op: "regex", value: "@example\\.org$" }
    ])
    // "@example.org" never matched in the old engine (it compares the text after the @)
    expect(
      mapOldRule(
        { name: "x", active: true, conditions: { sender_domain: "@example.org" }, actions: { delete: true } },
        1
      )._tag
    ).toBe("Unmapped")
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
  // our case folding treats ß as ss, the old lower() did not). The display-name alphabet has the
  // characters the old sender text wraps it in (" and <).
  const letters = ["a", "b", "C", "ä", "Ö", " ", "x"]
  const word = fc.string({ unit: fc.constantFrom(...letters), minLength: 1, maxLength: 4 })
  const senderWord = fc.string({ unit: fc.constantFrom(...letters, "<", '"', "@"), minLength: 1, maxLength: 4 })
  const domain = fc.constantFrom("example.org", "shop.example", "ÄRGER.example", "sub.example.org")
  const folders = ["INBOX", "Archiv"]
  const oldTags = ["rechnung", "urlaub"]
  const message = fc.record({
    messageId: fc.constant("<p@test>"),
    from: fc.record({
      // MIME parsers trim a display name; the old fetcher and our sync alike
      name: fc
        .oneof(fc.constant(""), fc.string({ unit: fc.constantFrom(...letters, "<", '"'), maxLength: 5 }))
        .map((n) => n.trim()),
      address: fc.tuple(fc.constantFrom("anna", "Bob"), domain).map(([u, d]) => `${u}@${d}`)
    }),
    subject: fc.oneof(
      fc.string({ unit: fc.constantFrom(...letters, "[", "]"), maxLength: 12 }),
      fc.constantFrom("a", "a ", " a", "Ä", "ä")
    ),
    body: fc.string({ unit: fc.constantFrom(...letters), maxLength: 20 }),
    attachment: fc.boolean(),
    folder: fc.constantFrom(...folders),
    tags: fc.subarray(oldTags)
  })
  const condition = fc.oneof(
    fc.record({
      key: fc.constant("sender_equals"),
      value: fc.constantFrom("anna@example.org", "BOB@shop.example", '"a" <anna@example.org>')
    }),
    fc.record({ key: fc.constantFrom("sender_contains", "sender_not_contains"), value: senderWord }),
    fc.record({ key: fc.constant("sender_domain"), value: fc.oneof(domain, fc.constantFrom("example.org>", "@x")) }),
    fc.record({
      key: fc.constantFrom("subject_contains", "subject_not_contains", "body_contains", "body_not_contains"),
      value: word
    }),
    fc.record({ key: fc.constant("subject_equals"), value: fc.oneof(word, fc.constantFrom("a", "a ", "ä")) }),
    fc.record({
      key: fc.constantFrom("subject_regex", "body_regex"),
      value: fc.constantFrom("^a", "b+c", "\\[x\\]", "ä|ö", "^$", "a.b", "\\bx")
    }),
    fc.record({ key: fc.constant("has_attachment"), value: fc.constantFrom(true, false, 1, 0, "true") }),
    fc.record({ key: fc.constant("folder_equals"), value: fc.constantFrom("INBOX", "Archiv", "Inbox") }),
    fc.record({ key: fc.constantFrom("has_tag", "not_has_tag"), value: fc.constantFrom(...oldTags, "anderes") })
  )
  const rule = fc.record({
    mode: fc.constantFrom("all", "any", "ALL"),
    conditions: fc.uniqueArray(condition, { minLength: 1, maxLength: 4, selector: (c) => c.key })
  })
  // the sender conditions alone, where the old sender text and ours differ most
  const senderRule = fc.record({
    mode: fc.constantFrom("all", "any"),
    conditions: fc.uniqueArray(
      condition.filter((c) => c.key.startsWith("sender_")),
      { minLength: 1, maxLength: 2, selector: (c) => c.key }
    )
  })

  it.each([
    ["every condition kind", rule, 600],
    ["sender conditions", senderRule, 3000]
  ] as const)("on random messages: %s", (_name, rules, numRuns) => {
    let mappedRules = 0
    fc.assert(
      fc.property(rules, fc.array(message, { minLength: 1, maxLength: 8 }), (r, mails) => {
        const conditions: Record<string, unknown> = { match_mode: r.mode }
        for (const c of r.conditions) conditions[c.key] = c.value
        const old = { conditions }
        const mapped = mapOldRule({ name: "p", active: true, conditions, actions: { mark_as_read: true } }, 10)
        if (mapped._tag !== "Mapped") {
          // refused only with a reason: a blank value, or a condition whose old meaning we cannot express
          expect(mapped.reasons.join("\n")).toMatch(/non-empty|not exactly mappable|never matched/)
          return
        }
        mappedRules++
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
            mailbox: m.folder,
            category: null,
            urgency: null,
            importance: null,
            score: null,
            spam: null,
            // our tags are the old ones, normalised as the import writes them
            tags: m.tags.map((t) => t.toLowerCase()),
            flags: { seen: false, flagged: false }
          }
          expect(matchesRule(compiled.success, subject)).toBe(oldDecision(old, m, { folder: m.folder, tags: m.tags }))
        }
      }),
      { numRuns }
    )
    // the property is not vacuous: many random rules map
    expect(mappedRules).toBeGreaterThan(150)
  })
})

describe("normaliseMessageId", () => {
  it("finds the id the sync stores, long ones cut the same way (parseMessage of src/sync/mime.ts)", async () => {
    const unit = fc.constantFrom("a", "b", "7", ".", "-", "_")
    // around the sync's cap of 998 as often as well below it
    const local = fc.oneof(
      fc.string({ unit, minLength: 1, maxLength: 40 }),
      fc.string({ unit, minLength: 980, maxLength: 1100 })
    )
    await fc.assert(
      fc.asyncProperty(local, fc.boolean(), async (id, bracketed) => {
        const header = bracketed ? `<${id}@example.org>` : `${id}@example.org`
        const raw = `Message-ID: ${header}\r\nFrom: a@example.org\r\nSubject: x\r\n\r\nbody\r\n`
        const parsed = await parseMessage(Buffer.from(raw, "utf8"))
        expect(normaliseMessageId(header)).toBe(parsed.messageId)
      }),
      { numRuns: 60 }
    )
  })
})
