import { Effect, Exit, Result, Schema } from "effect"
import { describe, expect, it } from "vitest"
import { actionConflicts, RuleAction, RuleCondition, RuleInput, RuleLimits } from "../../src/contract/rules/Rule.ts"
import { CheckedRuleInput, checkRegex, decodeRuleInput } from "../../src/rules/regex.ts"
import { decodeError } from "./fixtures.ts"

const valid = {
  name: "Rechnungen",
  priority: 1,
  conditions: [{ field: "subject", op: "contains", value: "Rechnung" }],
  actions: [{ type: "addTag", tag: "invoice" }]
}

const everyCondition = [
  { field: "from", op: "equals", value: "a@b.de" },
  { field: "from", op: "contains", value: "shop" },
  { field: "from", op: "domain", value: "example.com" },
  { field: "from", op: "regex", value: "^no-?reply@" },
  { field: "to", op: "contains", value: "alice" },
  { field: "cc", op: "domain", value: "team.example.net", negate: true },
  { field: "recipients", op: "regex", value: "bob", caseSensitive: true },
  { field: "subject", op: "equals", value: "Hallo" },
  { field: "body", op: "regex", value: "Betrag:\\s*\\d+" },
  { field: "hasAttachment", value: true },
  { field: "mailbox", op: "equals", value: "INBOX" },
  { field: "category", op: "equals", value: "finance" },
  { field: "category", op: "in", value: ["finance", "shopping"] },
  { field: "urgency", op: "gte", value: 2 },
  { field: "importance", op: "lt", value: 3 },
  { field: "score", op: "eq", value: 9 },
  { field: "spam", value: false },
  { field: "tag", op: "has", value: "paid" },
  { field: "tag", op: "lacks", value: "done" }
]

const everyAction = [
  { type: "moveTo", mailbox: "Archive/2024" },
  { type: "markRead" },
  { type: "flag" },
  { type: "addTag", tag: "invoice" },
  { type: "removeTag", tag: "todo" },
  { type: "setPriority", urgency: 3, importance: 1 }
]

describe("RuleInput schema: valid input", () => {
  it("decodes a minimal rule and fills the defaults", () => {
    const decoded = Schema.decodeUnknownSync(CheckedRuleInput)(valid)
    expect(decoded).toEqual({ ...valid, enabled: true, match: "all", stopProcessing: false })
  })

  it("decodes every condition form and every action (and encodes back unchanged)", () => {
    const input = {
      ...valid,
      match: "any",
      enabled: false,
      stopProcessing: true,
      conditions: everyCondition,
      actions: everyAction
    }
    expect(decodeError(input)).toBe("")
    const decoded = Schema.decodeUnknownSync(CheckedRuleInput)(input)
    expect(decoded.conditions).toHaveLength(everyCondition.length)
    expect(Schema.encodeSync(RuleInput)(decoded)).toEqual(input)
    for (const other of [{ type: "markUnread" }, { type: "unflag" }, { type: "delete" }]) {
      expect(Schema.decodeUnknownSync(RuleAction)(other)).toEqual(other)
    }
  })

  it("accepts the limits themselves: 50 conditions, 20 actions, 200-char name, 500-char regex, 1000-char value", () => {
    const conditions = Array.from({ length: RuleLimits.maxConditions }, () => ({
      field: "body",
      op: "contains",
      value: "x".repeat(RuleLimits.valueMaxLength)
    }))
    conditions[0] = { field: "subject", op: "regex", value: "a".repeat(RuleLimits.regexMaxLength) }
    const actions = Array.from({ length: RuleLimits.maxActions }, (_, i) => ({ type: "addTag", tag: `t${i}` }))
    expect(decodeError({ ...valid, name: "n".repeat(RuleLimits.nameMaxLength), conditions, actions })).toBe("")
  })
})

describe("RuleInput schema: malformed input names the path", () => {
  it("missing fields", () => {
    const message = decodeError({ priority: 1, actions: [{ type: "moveTo" }] })
    expect(message).toContain('Missing key\n  at ["name"]')
    expect(message).toContain('Missing key\n  at ["conditions"]')
    expect(message).toContain('Missing key\n  at ["actions"][0]["mailbox"]')
  })

  it("a condition without its value", () => {
    expect(decodeError({ ...valid, conditions: [{ field: "spam" }] })).toBe(
      'Missing key\n  at ["conditions"][0]["value"]'
    )
  })

  it("unknown op for a known field lists the allowed ops", () => {
    expect(
      decodeError({ ...valid, conditions: [valid.conditions[0], { field: "subject", op: "startsWith", value: "x" }] })
    ).toBe('Expected "contains" | "equals" | "regex"\n  at ["conditions"][1]["op"]')
    expect(decodeError({ ...valid, conditions: [{ field: "urgency", op: "ne", value: 1 }] })).toContain(
      'Expected "eq" | "gte" | "lte" | "gt" | "lt"\n  at ["conditions"][0]["op"]'
    )
  })

  it("unknown field (or unknown category op) explains the condition forms", () => {
    for (const bad of [
      { field: "priority", op: "eq", value: 1 },
      { field: "category", op: "like", value: "x" },
      "subject"
    ]) {
      const message = decodeError({ ...valid, conditions: [bad] })
      expect(message).toMatch(/^Expected a condition: \{field: from\|to\|cc\|recipients/)
      expect(message).toMatch(/at \["conditions"\]\[0\]$/)
    }
  })

  it("unknown action type", () => {
    expect(decodeError({ ...valid, actions: [{ type: "archive" }] })).toMatch(
      /^Expected an action: .*\n {2}at \["actions"\]\[0\]$/
    )
  })

  it("wrong value types", () => {
    expect(decodeError({ ...valid, conditions: [{ field: "hasAttachment", value: "yes" }] })).toBe(
      'Expected boolean\n  at ["conditions"][0]["value"]'
    )
    expect(decodeError({ ...valid, conditions: [{ field: "score", op: "gte", value: 2.5 }] })).toContain(
      'at ["conditions"][0]["value"]'
    )
    // the score is 2 x urgency + importance: a rule on "score >= 50" could never match
    expect(decodeError({ ...valid, conditions: [{ field: "score", op: "gte", value: 50 }] })).toBe(
      'Expected a value between 3 and 9\n  at ["conditions"][0]["value"]'
    )
    expect(decodeError({ ...valid, conditions: [{ field: "urgency", op: "gte", value: 4 }] })).toBe(
      'Expected a value between 1 and 3\n  at ["conditions"][0]["value"]'
    )
    expect(decodeError({ ...valid, conditions: [{ field: "category", op: "in", value: "finance" }] })).toContain(
      'at ["conditions"][0]["value"]'
    )
    expect(decodeError({ ...valid, match: "most" })).toBe('Expected "all" | "any"\n  at ["match"]')
    expect(decodeError({ ...valid, priority: -1 })).toContain('at ["priority"]')
  })

  it("too many or too few conditions and actions", () => {
    const tooMany = Array.from({ length: RuleLimits.maxConditions + 1 }, () => valid.conditions[0])
    expect(decodeError({ ...valid, conditions: tooMany })).toBe(
      'Expected a value with a length between 1 and 50\n  at ["conditions"]'
    )
    expect(decodeError({ ...valid, conditions: [] })).toBe(
      'Expected a value with a length between 1 and 50\n  at ["conditions"]'
    )
    const actions = Array.from({ length: RuleLimits.maxActions + 1 }, (_, i) => ({ type: "addTag", tag: `t${i}` }))
    expect(decodeError({ ...valid, actions })).toBe('Expected a value with a length between 1 and 20\n  at ["actions"]')
    expect(decodeError({ ...valid, actions: [] })).toBe(
      'Expected a value with a length between 1 and 20\n  at ["actions"]'
    )
  })

  it("oversized and empty strings", () => {
    expect(decodeError({ ...valid, name: "n".repeat(201) })).toBe(
      'Expected a value with a length of at most 200\n  at ["name"]'
    )
    expect(decodeError({ ...valid, name: "   " })).toBe('must not be blank\n  at ["name"]')
    expect(decodeError({ ...valid, conditions: [{ field: "body", op: "contains", value: "x".repeat(1001) }] })).toBe(
      'Expected a value with a length of at most 1000\n  at ["conditions"][0]["value"]'
    )
    expect(decodeError({ ...valid, conditions: [{ field: "subject", op: "regex", value: "a".repeat(501) }] })).toBe(
      'a regex must be at most 500 characters\n  at ["conditions"][0]["value"]'
    )
    expect(decodeError({ ...valid, conditions: [{ field: "subject", op: "contains", value: "" }] })).toContain(
      'at ["conditions"][0]["value"]'
    )
    expect(decodeError({ ...valid, actions: [{ type: "addTag", tag: "t".repeat(101) }] })).toBe(
      'Expected a value with a length of at most 100\n  at ["actions"][0]["tag"]'
    )
    expect(decodeError({ ...valid, actions: [{ type: "moveTo", mailbox: "Archive\r\nA1 LOGOUT" }] })).toBe(
      'mailbox must not contain control characters\n  at ["actions"][0]["mailbox"]'
    )
  })

  it("unknown keys are rejected with the parse options the module exports", () => {
    expect(
      decodeError({ ...valid, conditions: [{ field: "subject", op: "contains", value: "x", negated: true }] })
    ).toBe('Expected no excess property\n  at ["conditions"][0]["negated"]')
  })

  it("collects every problem at once", () => {
    const message = decodeError({ name: "", priority: "high", conditions: [{ field: "tag", op: "has" }], actions: [] })
    expect(message.split("\n  at ").length - 1).toBe(4)
  })
})

describe("regex validation", () => {
  it("an invalid regex is reported with the condition number and the problem", () => {
    const conditions = [valid.conditions[0], { field: "subject", op: "regex", value: "(abc" }]
    expect(decodeError({ ...valid, conditions })).toBe(
      "condition 2: invalid regex: missing closing ): `(abc`\n" + '  at ["conditions"][1]["value"]'
    )
  })

  it("reports every invalid regex, also in address conditions, and unsupported Perl syntax", () => {
    const conditions = [
      { field: "from", op: "regex", value: "[a-" },
      { field: "body", op: "regex", value: "(?=lookahead)" },
      { field: "to", op: "regex", value: "\\1" }
    ]
    expect(decodeError({ ...valid, conditions })).toBe(
      [
        "condition 1: invalid regex: missing closing ]: `[a-`",
        '  at ["conditions"][0]["value"]',
        "condition 2: invalid regex: invalid or unsupported Perl syntax: `(?=`",
        '  at ["conditions"][1]["value"]',
        "condition 3: invalid regex: invalid escape sequence: `\\1`",
        '  at ["conditions"][2]["value"]'
      ].join("\n")
    )
  })

  it("a regex that is valid but too large for bounded matching is rejected", () => {
    expect(
      decodeError({ ...valid, conditions: [{ field: "body", op: "regex", value: ".{0,1000}.{0,1000}" }] })
    ).toMatch(/^condition 1: regex too complex: program size \d+ exceeds 1000/)
    // each is 603 instructions, fine alone; six of them are not
    const six = Array.from({ length: 6 }, () => ({ field: "body", op: "regex", value: "[a-z]{0,300}x" }))
    expect(decodeError({ ...valid, conditions: six.slice(0, 4) })).toBe("")
    expect(decodeError({ ...valid, conditions: six })).toMatch(
      /^regexes too complex together: total program size \d+ exceeds 3000/
    )
  })

  it("the same text is not validated as a regex for non-regex ops", () => {
    expect(decodeError({ ...valid, conditions: [{ field: "subject", op: "contains", value: "(abc" }] })).toBe("")
  })

  it("checkRegex compiles with the case flag", () => {
    const insensitive = checkRegex("rechnung")
    const sensitive = checkRegex("rechnung", true)
    if (insensitive._tag !== "Ok" || sensitive._tag !== "Ok") throw new Error("expected valid regexes")
    expect(insensitive.regex.test("RECHNUNG")).toBe(true)
    expect(sensitive.regex.test("RECHNUNG")).toBe(false)
  })

  it("decodeRuleInput fails with a SchemaError that an API can turn into a 400", async () => {
    const exit = await Effect.runPromiseExit(
      decodeRuleInput({ ...valid, conditions: [{ field: "subject", op: "regex", value: "a)" }] })
    )
    expect(Exit.isFailure(exit)).toBe(true)
    const result = await Effect.runPromise(
      Effect.result(decodeRuleInput({ ...valid, conditions: [{ field: "subject", op: "regex", value: "a)" }] }))
    )
    if (!Result.isFailure(result)) throw new Error("expected a failure")
    expect(result.failure._tag).toBe("SchemaError")
    expect(result.failure.message).toBe(
      'condition 1: invalid regex: unexpected ): `a)`\n  at ["conditions"][0]["value"]'
    )
  })

  it("RuleCondition decoded alone still checks the regex length", () => {
    const result = Schema.decodeUnknownResult(RuleCondition)({ field: "body", op: "regex", value: "x".repeat(501) })
    expect(Result.isFailure(result)).toBe(true)
  })
})

describe("conflicting actions in one rule", () => {
  it("are rejected with a message naming both actions", () => {
    const message = decodeError({
      ...valid,
      actions: [
        { type: "markRead" },
        { type: "moveTo", mailbox: "A" },
        { type: "markUnread" },
        { type: "moveTo", mailbox: "B" },
        { type: "delete" },
        { type: "addTag", tag: "X" },
        { type: "removeTag", tag: "x" },
        { type: "flag" },
        { type: "unflag" },
        { type: "setPriority", urgency: 1 },
        { type: "setPriority", importance: 2 },
        { type: "flag" }
      ]
    })
    expect(message.split("\n")).toEqual([
      "actions[2] (markUnread) conflicts with actions[0] (markRead)",
      '  at ["actions"][2]',
      "actions[3] (moveTo 'B') conflicts with actions[1] (moveTo 'A'): a rule can move or delete a message only once",
      '  at ["actions"][3]',
      "actions[4] (delete) conflicts with actions[1] (moveTo 'A'): a rule can move or delete a message only once",
      '  at ["actions"][4]',
      "actions[6] (removeTag 'x') conflicts with actions[5] (addTag 'X')",
      '  at ["actions"][6]',
      "actions[8] (unflag) conflicts with actions[7] (flag)",
      '  at ["actions"][8]',
      "actions[10] (setPriority importance 2) conflicts with actions[9] (setPriority urgency 1): use one setPriority per rule",
      '  at ["actions"][10]',
      "actions[11] (flag) duplicates actions[7] (flag)",
      '  at ["actions"][11]'
    ])
  })

  it("different tags and a single move are fine", () => {
    expect(
      actionConflicts([
        { type: "addTag", tag: "a" },
        { type: "removeTag", tag: "b" },
        { type: "moveTo", mailbox: "A" },
        { type: "markRead" },
        { type: "unflag" }
      ])
    ).toEqual([])
  })

  it("setPriority needs at least one level", () => {
    expect(decodeError({ ...valid, actions: [{ type: "setPriority" }] })).toBe(
      'setPriority needs urgency, importance or both\n  at ["actions"][0]'
    )
  })
})
