import { Result, Schema } from "effect"
import { expect } from "vitest"
import { type RuleInput, ruleParseOptions } from "../../src/contract/rules/Rule.ts"
import { CheckedRuleInput as RuleInputSchema } from "../../src/rules/regex.ts"
import {
  type CompiledRule,
  compileRuleResult,
  evaluateRule,
  matchesRule,
  type RuleSubject
} from "../../src/rules/evaluate.ts"

/** A plain message: German invoice mail from a shop, unread, in INBOX. */
export const message = (overrides: Partial<RuleSubject> = {}): RuleSubject => ({
  from: { name: "Muster Shop GmbH", address: "Rechnung@Muster-Shop.de" },
  to: [{ name: "Alice Example", address: "alice@example.org" }],
  cc: [{ name: "Bob", address: "bob@team.example.net" }],
  subject: "Ihre Rechnung Nr. 2024-117 über 49,90 €",
  bodyText:
    "Sehr geehrte Frau Example,\n\nanbei erhalten Sie Ihre Rechnung.\nBetrag: 49,90 EUR\n\nMit freundlichen Grüßen\nIhr Muster Shop",
  hasAttachment: true,
  mailbox: "INBOX",
  mailboxSpecialUse: null,
  trashMailbox: "Trash",
  category: "Finance",
  urgency: 2,
  importance: 3,
  score: 7,
  spam: false,
  tags: ["shopping"],
  flags: { seen: false, flagged: false },
  ...overrides
})

/** Decodes a rule through the real schema (so fixtures are valid rules), with defaults. */
export const rule = (input: Record<string, unknown>): RuleInput =>
  Schema.decodeUnknownSync(RuleInputSchema)(
    { name: "test rule", priority: 10, actions: [{ type: "markRead" }], ...input },
    ruleParseOptions
  )

export const compile = (input: RuleInput, id?: string): CompiledRule =>
  Result.getOrThrow(compileRuleResult(input, id === undefined ? undefined : { id }))

/**
 * Evaluates one condition on a message, checking that the fast verdict (`matchesRule`) and the
 * explained one (`evaluateRule`) agree.
 */
export const check = (condition: Record<string, unknown>, subject: RuleSubject = message()) => {
  const compiled = compile(rule({ conditions: [condition] }))
  const evaluation = evaluateRule(compiled, subject)
  expect(matchesRule(compiled, subject)).toBe(evaluation.matched)
  const [result] = evaluation.conditions
  if (result === undefined) throw new Error("no condition result")
  expect(result.passed).toBe(evaluation.matched)
  return result
}

/** Decodes and returns the failure message ("" when decoding succeeded). */
export const decodeError = (input: unknown): string => {
  const result = Schema.decodeUnknownResult(RuleInputSchema)(input, ruleParseOptions)
  return Result.isFailure(result) ? result.failure.message : ""
}
