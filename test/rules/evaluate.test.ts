import { Effect, Exit, Result } from "effect"
import { describe, expect, it } from "vitest"
import type { RuleInput } from "../../src/contract/rules/Rule.ts"
import { checkRegex } from "../../src/rules/regex.ts"
import {
  compileRule,
  compileRuleResult,
  EvaluationLimits,
  evaluateRule,
  formatEvaluation,
  matchesRule
} from "../../src/rules/evaluate.ts"
import { check, compile, message, rule } from "./fixtures.ts"

const passes = (condition: Record<string, unknown>, subject = message()) => check(condition, subject).passed

describe("address conditions", () => {
  it("from equals compares the address, case-insensitively and trimmed", () => {
    expect(passes({ field: "from", op: "equals", value: " rechnung@muster-shop.DE " })).toBe(true)
    expect(passes({ field: "from", op: "equals", value: "Muster Shop GmbH" })).toBe(false)
    expect(passes({ field: "from", op: "equals", value: "rechnung@muster-shop.de.evil" })).toBe(false)
  })

  it("from contains looks at the display name and the address", () => {
    expect(passes({ field: "from", op: "contains", value: "muster shop" })).toBe(true)
    expect(passes({ field: "from", op: "contains", value: "@muster-" })).toBe(true)
    expect(passes({ field: "from", op: "contains", value: "Amazon" })).toBe(false)
    expect(passes({ field: "from", op: "contains", value: "muster shop", caseSensitive: true })).toBe(false)
    expect(passes({ field: "from", op: "contains", value: "Muster Shop", caseSensitive: true })).toBe(true)
  })

  it("from domain matches the domain and its subdomains, not lookalikes", () => {
    expect(passes({ field: "from", op: "domain", value: "muster-shop.de" })).toBe(true)
    expect(passes({ field: "from", op: "domain", value: "@MUSTER-SHOP.DE" })).toBe(true)
    expect(passes({ field: "from", op: "domain", value: "shop.de" })).toBe(false)
    expect(passes({ field: "from", op: "domain", value: "de" })).toBe(true)
    const sub = message({ from: { address: "noreply@mail.muster-shop.de" } })
    expect(passes({ field: "from", op: "domain", value: "muster-shop.de" }, sub)).toBe(true)
    expect(passes({ field: "from", op: "domain", value: "example.com" })).toBe(false)
  })

  it("from regex tries the address, then the display name", () => {
    expect(passes({ field: "from", op: "regex", value: "^rechnung@" })).toBe(true)
    expect(passes({ field: "from", op: "regex", value: "^Muster\\s+Shop" })).toBe(true)
    expect(passes({ field: "from", op: "regex", value: "^rechnung@", caseSensitive: true })).toBe(false)
    expect(passes({ field: "from", op: "regex", value: "^noreply@" })).toBe(false)
  })

  it("a message without From fails every sender condition (and passes negated ones)", () => {
    const noFrom = message({ from: null })
    expect(check({ field: "from", op: "contains", value: "a" }, noFrom)).toMatchObject({
      passed: false,
      observed: null
    })
    expect(passes({ field: "from", op: "domain", value: "example.com", negate: true }, noFrom)).toBe(true)
  })

  it("to / cc / recipients: any address may satisfy the condition", () => {
    const m = message({
      to: [{ address: "alice@example.org" }, { name: "Carol", address: "carol@partner.com" }],
      cc: [{ name: "Bob", address: "bob@team.example.net" }]
    })
    expect(passes({ field: "to", op: "equals", value: "carol@partner.com" }, m)).toBe(true)
    expect(passes({ field: "to", op: "equals", value: "bob@team.example.net" }, m)).toBe(false)
    expect(passes({ field: "to", op: "contains", value: "carol" }, m)).toBe(true)
    expect(passes({ field: "to", op: "contains", value: "bob" }, m)).toBe(false)
    expect(passes({ field: "to", op: "domain", value: "partner.com" }, m)).toBe(true)
    expect(passes({ field: "to", op: "domain", value: "example.net" }, m)).toBe(false)
    expect(passes({ field: "to", op: "regex", value: "^alice@" }, m)).toBe(true)
    expect(passes({ field: "to", op: "regex", value: "^bob@" }, m)).toBe(false)
    expect(passes({ field: "cc", op: "equals", value: "BOB@team.example.net" }, m)).toBe(true)
    expect(passes({ field: "cc", op: "equals", value: "alice@example.org" }, m)).toBe(false)
    expect(passes({ field: "cc", op: "contains", value: "Bob" }, m)).toBe(true)
    expect(passes({ field: "cc", op: "contains", value: "carol" }, m)).toBe(false)
    expect(passes({ field: "cc", op: "domain", value: "example.net" }, m)).toBe(true)
    expect(passes({ field: "cc", op: "domain", value: "example.org" }, m)).toBe(false)
    expect(passes({ field: "cc", op: "regex", value: "team\\.example" }, m)).toBe(true)
    expect(passes({ field: "cc", op: "regex", value: "partner" }, m)).toBe(false)
    expect(passes({ field: "recipients", op: "equals", value: "bob@team.example.net" }, m)).toBe(true)
    expect(passes({ field: "recipients", op: "equals", value: "dave@example.org" }, m)).toBe(false)
    expect(passes({ field: "recipients", op: "contains", value: "carol" }, m)).toBe(true)
    expect(passes({ field: "recipients", op: "contains", value: "dave" }, m)).toBe(false)
    expect(passes({ field: "recipients", op: "domain", value: "example.net" }, m)).toBe(true)
    expect(passes({ field: "recipients", op: "domain", value: "example.com" }, m)).toBe(false)
    expect(passes({ field: "recipients", op: "regex", value: "^(alice|bob)@" }, m)).toBe(true)
    expect(passes({ field: "recipients", op: "regex", value: "^dave@" }, m)).toBe(false)
    expect(passes({ field: "cc", op: "contains", value: "x" }, message({ cc: [] }))).toBe(false)
  })

  it("observed shows the matching recipients, or all of them (capped) when none matched", () => {
    const to = Array.from({ length: 30 }, (_, i) => ({ address: `user${i}@example.org` }))
    const m = message({ to })
    expect(check({ field: "to", op: "equals", value: "user27@example.org" }, m).observed).toEqual([
      "user27@example.org"
    ])
    const none = check({ field: "to", op: "equals", value: "nobody@example.org" }, m).observed
    expect(none).toHaveLength(EvaluationLimits.observedMaxItems + 1)
    expect(Array.isArray(none) ? none.at(-1) : undefined).toBe("(+10 more)")
  })
})

describe("subject and body conditions", () => {
  it("subject contains / equals / regex", () => {
    expect(passes({ field: "subject", op: "contains", value: "rechnung" })).toBe(true)
    expect(passes({ field: "subject", op: "contains", value: "Mahnung" })).toBe(false)
    expect(passes({ field: "subject", op: "equals", value: "  ihre rechnung nr. 2024-117 über 49,90 €" })).toBe(true)
    expect(passes({ field: "subject", op: "equals", value: "Ihre Rechnung" })).toBe(false)
    expect(passes({ field: "subject", op: "regex", value: "Nr\\.\\s*\\d{4}-\\d+" })).toBe(true)
    expect(passes({ field: "subject", op: "regex", value: "^Re:" })).toBe(false)
  })

  it("caseSensitive makes contains, equals and regex exact", () => {
    expect(passes({ field: "subject", op: "contains", value: "RECHNUNG", caseSensitive: true })).toBe(false)
    expect(passes({ field: "subject", op: "contains", value: "Rechnung", caseSensitive: true })).toBe(true)
    expect(
      passes({ field: "subject", op: "equals", value: "ihre rechnung nr. 2024-117 über 49,90 €", caseSensitive: true })
    ).toBe(false)
    expect(passes({ field: "subject", op: "regex", value: "rechnung", caseSensitive: true })).toBe(false)
  })

  it("body contains / equals / regex", () => {
    expect(passes({ field: "body", op: "contains", value: "betrag: 49,90" })).toBe(true)
    expect(passes({ field: "body", op: "contains", value: "Kündigung" })).toBe(false)
    expect(passes({ field: "body", op: "equals", value: "hallo" }, message({ bodyText: "\n Hallo \n" }))).toBe(true)
    expect(passes({ field: "body", op: "equals", value: "hallo" })).toBe(false)
    expect(passes({ field: "body", op: "regex", value: "Betrag:\\s*\\d+,\\d{2}\\s*EUR" })).toBe(true)
    expect(passes({ field: "body", op: "regex", value: "IBAN\\s+DE\\d{20}" })).toBe(false)
  })

  it("German umlauts and ß, in any case and in either Unicode normal form", () => {
    expect(passes({ field: "subject", op: "contains", value: "ÜBER" })).toBe(true)
    expect(passes({ field: "subject", op: "regex", value: "ÜBER 49" })).toBe(true)
    expect(passes({ field: "body", op: "contains", value: "GRÜSSEN" })).toBe(true)
    expect(passes({ field: "body", op: "contains", value: "grüßen" })).toBe(true)
    expect(passes({ field: "body", op: "regex", value: "GRÜßEN" })).toBe(true)
    // decomposed (NFD) text as some mail clients send it, composed pattern
    const nfd = message({ subject: "Bestellbestätigung für Jürgen".normalize("NFD") })
    expect(passes({ field: "subject", op: "contains", value: "bestätigung für jürgen" }, nfd)).toBe(true)
    expect(passes({ field: "subject", op: "regex", value: "Bestätigung" }, nfd)).toBe(true)
    // and the other way round
    expect(passes({ field: "subject", op: "contains", value: "Über".normalize("NFD") })).toBe(true)
    expect(passes({ field: "subject", op: "contains", value: "uber" })).toBe(false)
    expect(passes({ field: "subject", op: "contains", value: "Über", caseSensitive: true })).toBe(false)
  })

  it("only the first 64 KiB of the body are looked at", () => {
    const body = `${"x".repeat(EvaluationLimits.maxBodyChars - 10)}early${"y".repeat(100)}late`
    const m = message({ bodyText: body })
    expect(passes({ field: "body", op: "contains", value: "early" }, m)).toBe(true)
    expect(passes({ field: "body", op: "contains", value: "late" }, m)).toBe(false)
    expect(passes({ field: "body", op: "regex", value: "late" }, m)).toBe(false)
  })

  it("a body regex looks at the first 16 KiB only (contains still sees 64 KiB)", () => {
    const cutAt = EvaluationLimits.maxRegexBodyChars
    const body = `${"x".repeat(cutAt - 10)}early${"y".repeat(100)}late`
    const m = message({ bodyText: body })
    expect(passes({ field: "body", op: "regex", value: "early" }, m)).toBe(true)
    expect(passes({ field: "body", op: "regex", value: "late" }, m)).toBe(false)
    expect(passes({ field: "body", op: "contains", value: "late" }, m)).toBe(true)
  })

  it("observed is an excerpt around the match, cut to about 120 characters", () => {
    const body = `${"Lorem ipsum dolor sit amet. ".repeat(40)}Ihre Kündigung ist eingegangen.${" Weiterer Text.".repeat(40)}`
    const hit = check({ field: "body", op: "contains", value: "kündigung" }, message({ bodyText: body }))
    expect(typeof hit.observed).toBe("string")
    const text = String(hit.observed)
    expect(text).toContain("Ihre Kündigung ist eingegangen.")
    expect(text.startsWith("…")).toBe(true)
    expect(text.endsWith("…")).toBe(true)
    expect(text.length).toBeLessThanOrEqual(EvaluationLimits.observedMaxChars + 2)
    const regexHit = check({ field: "body", op: "regex", value: "k.ndigung" }, message({ bodyText: body }))
    expect(String(regexHit.observed)).toContain("Ihre Kündigung ist")
    const miss = check({ field: "body", op: "contains", value: "Rechnung" }, message({ bodyText: body }))
    expect(String(miss.observed).startsWith("Lorem ipsum dolor")).toBe(true)
    expect(String(miss.observed).length).toBeLessThanOrEqual(EvaluationLimits.observedMaxChars)
  })
})

describe("bounds on hostile input", () => {
  it("a long subject is shown from its start when the match is there", () => {
    const subject = `Rechnung ${"x".repeat(300)}`
    const observed = String(
      check({ field: "subject", op: "contains", value: "rechnung" }, message({ subject })).observed
    )
    expect(observed.startsWith("Rechnung xxx")).toBe(true)
    expect(observed.endsWith("…")).toBe(true)
  })

  it("only the first 500 To addresses are considered", () => {
    const to = Array.from({ length: 600 }, (_, i) => ({ address: `u${i}@example.org` }))
    const m = message({ to })
    expect(passes({ field: "to", op: "equals", value: "u499@example.org" }, m)).toBe(true)
    expect(passes({ field: "to", op: "equals", value: "u500@example.org" }, m)).toBe(false)
  })

  it("only the first 4 KiB of the subject are considered", () => {
    const m = message({ subject: `${"a".repeat(EvaluationLimits.maxSubjectChars)}needle` })
    expect(passes({ field: "subject", op: "contains", value: "needle" }, m)).toBe(false)
  })
})

describe("flag-like and analysis conditions", () => {
  it("hasAttachment", () => {
    expect(check({ field: "hasAttachment", value: true })).toMatchObject({ passed: true, observed: true })
    expect(passes({ field: "hasAttachment", value: false })).toBe(false)
    expect(passes({ field: "hasAttachment", value: false }, message({ hasAttachment: false }))).toBe(true)
  })

  it("mailbox equals (INBOX is case-insensitive, other paths are not)", () => {
    expect(passes({ field: "mailbox", op: "equals", value: "inbox" })).toBe(true)
    expect(passes({ field: "mailbox", op: "equals", value: "Archive" })).toBe(false)
    const m = message({ mailbox: "Archive/2024" })
    expect(passes({ field: "mailbox", op: "equals", value: "Archive/2024" }, m)).toBe(true)
    expect(passes({ field: "mailbox", op: "equals", value: "archive/2024" }, m)).toBe(false)
  })

  it("category equals / in (case-insensitive); an unanalysed message has none", () => {
    expect(passes({ field: "category", op: "equals", value: "finance" })).toBe(true)
    expect(passes({ field: "category", op: "equals", value: "newsletter" })).toBe(false)
    expect(passes({ field: "category", op: "in", value: ["newsletter", "FINANCE"] })).toBe(true)
    expect(passes({ field: "category", op: "in", value: ["newsletter", "social"] })).toBe(false)
    expect(check({ field: "category", op: "in", value: ["finance"] }, message({ category: null }))).toMatchObject({
      passed: false,
      observed: null
    })
  })

  it("urgency, importance and score with every comparison", () => {
    const m = message({ urgency: 2, importance: 3, score: 7 })
    const cases: ReadonlyArray<readonly [string, string, number, boolean]> = [
      ["urgency", "eq", 2, true],
      ["urgency", "eq", 3, false],
      ["urgency", "gte", 2, true],
      ["urgency", "gte", 3, false],
      ["urgency", "lte", 2, true],
      ["urgency", "lte", 1, false],
      ["urgency", "gt", 1, true],
      ["urgency", "gt", 2, false],
      ["urgency", "lt", 3, true],
      ["urgency", "lt", 2, false],
      ["importance", "eq", 3, true],
      ["importance", "eq", 1, false],
      ["importance", "gte", 3, true],
      ["importance", "lt", 3, false],
      ["score", "gt", 6, true],
      ["score", "gt", 7, false],
      ["score", "lte", 7, true],
      ["score", "lte", 6, false],
      ["score", "eq", 7, true],
      ["score", "gte", 8, false]
    ]
    for (const [field, op, value, expected] of cases) {
      expect([field, op, value, passes({ field, op, value }, m)]).toEqual([field, op, value, expected])
    }
    expect(check({ field: "urgency", op: "gte", value: 2 }, m)).toMatchObject({
      description: "urgency >= 2",
      observed: 2
    })
    expect(check({ field: "score", op: "lt", value: 9 }, message({ score: null }))).toMatchObject({
      passed: false,
      observed: null
    })
  })

  it("spam", () => {
    expect(passes({ field: "spam", value: false })).toBe(true)
    expect(passes({ field: "spam", value: true })).toBe(false)
    expect(passes({ field: "spam", value: true }, message({ spam: true }))).toBe(true)
    expect(passes({ field: "spam", value: false }, message({ spam: null }))).toBe(false)
  })

  it("tag has / lacks (case-insensitive)", () => {
    expect(passes({ field: "tag", op: "has", value: "Shopping" })).toBe(true)
    expect(passes({ field: "tag", op: "has", value: "invoice" })).toBe(false)
    expect(passes({ field: "tag", op: "lacks", value: "invoice" })).toBe(true)
    expect(passes({ field: "tag", op: "lacks", value: "SHOPPING" })).toBe(false)
    expect(check({ field: "tag", op: "has", value: "x" }).observed).toEqual(["shopping"])
  })
})

describe("negate, all and any", () => {
  it("negate inverts the result and says so", () => {
    const negated = check({ field: "subject", op: "contains", value: "Rechnung", negate: true })
    expect(negated).toMatchObject({ passed: false, description: "not (subject contains 'Rechnung')" })
    expect(passes({ field: "tag", op: "has", value: "done", negate: true })).toBe(true)
    expect(
      passes({ field: "category", op: "equals", value: "finance", negate: true }, message({ category: null }))
    ).toBe(true)
  })

  const yes = { field: "subject", op: "contains", value: "Rechnung" }
  const no = { field: "from", op: "domain", value: "example.com" }

  it("all needs every condition, any needs one", () => {
    const table: ReadonlyArray<readonly ["all" | "any", ReadonlyArray<Record<string, unknown>>, boolean]> = [
      ["all", [yes, yes], true],
      ["all", [yes, no], false],
      ["all", [no, no], false],
      ["any", [no, yes], true],
      ["any", [yes, yes], true],
      ["any", [no, no], false]
    ]
    for (const [match, conditions, expected] of table) {
      const compiled = compile(rule({ match, conditions }))
      expect(evaluateRule(compiled, message()).matched).toBe(expected)
      expect(matchesRule(compiled, message())).toBe(expected)
    }
  })

  it("explains every condition, even after the verdict is known", () => {
    const compiled = compile(rule({ conditions: [no, yes, { field: "urgency", op: "gte", value: 3 }] }))
    const evaluation = evaluateRule(compiled, message())
    expect(evaluation).toEqual({
      matched: false,
      match: "all",
      conditions: [
        {
          index: 0,
          description: "sender domain 'example.com'",
          passed: false,
          observed: "Muster Shop GmbH <Rechnung@Muster-Shop.de>"
        },
        {
          index: 1,
          description: "subject contains 'Rechnung'",
          passed: true,
          observed: "Ihre Rechnung Nr. 2024-117 über 49,90 €"
        },
        { index: 2, description: "urgency >= 3", passed: false, observed: 2 }
      ]
    })
    expect(formatEvaluation(evaluation)).toBe(
      "not matched (all): sender domain 'example.com': false (saw 'Muster Shop GmbH <Rechnung@Muster-Shop.de>'); " +
        "subject contains 'Rechnung': true (saw 'Ihre Rechnung Nr. 2024-117 über 49,90 €'); urgency >= 3: false (saw 2)"
    )
  })

  it("describes every kind of condition", () => {
    const described = (c: Record<string, unknown>) => check(c).description
    expect(described({ field: "from", op: "regex", value: "^a" })).toBe("sender matches /^a/i")
    expect(described({ field: "to", op: "equals", value: "a@b.de" })).toBe("to equals 'a@b.de'")
    expect(described({ field: "recipients", op: "contains", value: "x", caseSensitive: true })).toBe(
      "recipients contains 'x' (case-sensitive)"
    )
    expect(described({ field: "body", op: "regex", value: "x", caseSensitive: true })).toBe("body matches /x/")
    expect(described({ field: "hasAttachment", value: false })).toBe("has no attachment")
    expect(described({ field: "mailbox", op: "equals", value: "INBOX" })).toBe("mailbox equals 'INBOX'")
    expect(described({ field: "category", op: "in", value: ["a", "b"] })).toBe("category in ['a', 'b']")
    expect(described({ field: "spam", value: true })).toBe("is spam")
    expect(described({ field: "tag", op: "lacks", value: "done" })).toBe("lacks tag 'done'")
    expect(described({ field: "subject", op: "contains", value: "z".repeat(1000) }).length).toBeLessThan(150)
  })
})

describe("compiling", () => {
  it("compileRule compiles a decoded rule and keeps its id", async () => {
    const compiled = await Effect.runPromise(
      compileRule(rule({ conditions: [{ field: "spam", value: false }] }), { id: "r-1" })
    )
    expect(compiled.id).toBe("r-1")
    expect(compiled.priority).toBe(10)
  })

  it("a rule that bypassed the schema with a bad regex fails with InvalidRule naming the condition", async () => {
    const valid = rule({ conditions: [{ field: "spam", value: false }] })
    const broken: RuleInput = {
      ...valid,
      conditions: [...valid.conditions, { field: "subject", op: "regex", value: "(unclosed" }]
    }
    const result = compileRuleResult(broken)
    if (!Result.isFailure(result)) throw new Error("expected a failure")
    expect(result.failure._tag).toBe("InvalidRule")
    expect(result.failure.conditionIndex).toBe(1)
    expect(result.failure.message).toBe("rule 'test rule': condition 2: invalid regex: missing closing ): `(unclosed`")
    const exit = await Effect.runPromiseExit(compileRule(broken))
    expect(Exit.isFailure(exit)).toBe(true)
  })
})

describe("pathological regexes run in linear time", () => {
  it("(a+)+$ against 'a' x 100000 + '!'", () => {
    const input = `${"a".repeat(100_000)}!`
    const checked = checkRegex("(a+)+$")
    if (checked._tag !== "Ok") throw new Error(checked.problem)

    // the raw engine on the whole input
    let start = performance.now()
    const rawMatched = checked.regex.test(input)
    const rawMs = performance.now() - start
    expect(rawMatched).toBe(false)

    // through the evaluator: the subject is cut to 4 KiB and the body to 64 KiB first, so the '!' is not
    // seen in the body; the regex then matches the run of a's
    const compiled = compile(
      rule({
        match: "any",
        conditions: [
          { field: "subject", op: "regex", value: "(a+)+$" },
          { field: "body", op: "regex", value: "(a+)+$" },
          { field: "from", op: "regex", value: "(a+)+$" }
        ]
      })
    )
    const hostile = message({
      subject: `${"a".repeat(EvaluationLimits.maxSubjectChars - 1)}!`,
      bodyText: input,
      from: { name: `${"a".repeat(900)}!`, address: `${"a".repeat(500)}!@x` }
    })
    start = performance.now()
    const evaluation = evaluateRule(compiled, hostile)
    const evalMs = performance.now() - start
    expect(evaluation.conditions.map((c) => c.passed)).toEqual([false, true, false])

    // also a version whose end stays inside the regex cut of the body
    const shortBody = message({ bodyText: `${"a".repeat(EvaluationLimits.maxRegexBodyChars - 100)}!` })
    start = performance.now()
    const short = evaluateRule(compiled, shortBody)
    const shortMs = performance.now() - start
    expect(short.conditions[1]?.passed).toBe(false)

    console.log(
      `(a+)+$: re2js on 100001 chars ${rawMs.toFixed(1)} ms; evaluateRule with 3 hostile fields ${evalMs.toFixed(1)} ms; ` +
        `body of 60001 chars ${shortMs.toFixed(1)} ms`
    )
  })
})
