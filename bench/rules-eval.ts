/**
 * Auto-rules evaluation rate: 20 realistic rules over 10,000 synthetic messages, beside baselines
 * measured in the same run:
 * - plain `String.includes`, one check per condition (the same number of checks the rules contain),
 *   on text lower-cased once per message;
 * - raw re2js `test()` for the regex conditions alone (the library the evaluator wraps).
 *
 * Rules and messages: bench/support/rules.ts.
 *
 * Run: npx tsx bench/rules-eval.ts
 */
import { Result, Schema } from "effect"
import { RE2JS } from "re2js"
import { ruleParseOptions } from "../src/contract/rules/Rule.ts"
import { CheckedRuleInput } from "../src/rules/regex.ts"
import {
  type CompiledRule,
  compileRuleResult,
  diffPlan,
  EvaluationLimits,
  evaluateRule,
  matchesRule,
  planActions,
  type RuleSubject
} from "../src/rules/evaluate.ts"
import { ruleInputs, type SyntheticMessage, syntheticMessages } from "./support/rules.ts"

const MESSAGES = 10_000
const ROUNDS = Number(process.env.ROUNDS ?? 3)

const compileAll = (): ReadonlyArray<CompiledRule> =>
  ruleInputs.map((input, i) => {
    const decoded = Schema.decodeUnknownSync(CheckedRuleInput)(input, ruleParseOptions)
    return Result.getOrThrow(compileRuleResult(decoded, { id: `rule-${i}` }))
  })

/** A synthetic message as the evaluator sees it. */
const toSubject = (m: SyntheticMessage): RuleSubject => ({
  from: m.from,
  to: m.to,
  cc: m.cc,
  subject: m.subject,
  bodyText: m.bodyText,
  hasAttachment: m.hasAttachment,
  mailbox: m.mailbox,
  mailboxSpecialUse: null,
  trashMailbox: "Trash",
  category: m.category,
  urgency: m.urgency,
  importance: m.importance,
  score: m.score,
  spam: m.spam,
  tags: m.tags,
  flags: { seen: m.seen, flagged: m.flagged }
})

// ---------------------------------------------------------------------------
// Measurement
// ---------------------------------------------------------------------------

/** Fresh objects so no per-message cache survives from an earlier measurement. */
const fresh = (messages: ReadonlyArray<RuleSubject>): ReadonlyArray<RuleSubject> => messages.map((m) => ({ ...m }))

const time = (f: () => number): { ms: number; sink: number } => {
  const start = performance.now()
  const sink = f()
  return { ms: performance.now() - start, sink }
}

/** Best of ROUNDS (after one warm-up round). */
const measure = (
  label: string,
  run: (messages: ReadonlyArray<RuleSubject>) => number,
  base: ReadonlyArray<RuleSubject>
) => {
  run(fresh(base.slice(0, 1000)))
  let best = Number.POSITIVE_INFINITY
  let sink = 0
  for (let r = 0; r < ROUNDS; r++) {
    const input = fresh(base)
    const t = time(() => run(input))
    best = Math.min(best, t.ms)
    sink = t.sink
  }
  return { label, ms: best, sink }
}

const rules = compileAll()
const messages = syntheticMessages(MESSAGES).map(toSubject)
const pairs = MESSAGES * rules.length
const conditionCount = rules.reduce((n, r) => n + r.conditions.length, 0)
const regexConditions = rules.flatMap((r) =>
  r.source.conditions.flatMap((c) =>
    "op" in c && c.op === "regex"
      ? [{ field: c.field, regex: RE2JS.compile(c.value, c.caseSensitive === true ? 0 : RE2JS.CASE_INSENSITIVE) }]
      : []
  )
)
const avgBody = Math.round(messages.reduce((n, m) => n + m.bodyText.length, 0) / MESSAGES)

// the evaluator
const verdicts = measure(
  "matchesRule (verdict, short-circuit)",
  (input) => {
    let matched = 0
    for (const m of input) for (const rule of rules) if (matchesRule(rule, m)) matched += 1
    return matched
  },
  messages
)
let passes = 0
const plans = measure(
  "planActions + diffPlan (job path)",
  (input) => {
    let changes = 0
    passes = 0
    for (const m of input) {
      const plan = planActions(rules, m)
      passes += plan.passes
      changes += diffPlan(plan, m).length
    }
    return changes
  },
  messages
)
const explains = measure(
  "evaluateRule (explain every condition)",
  (input) => {
    let matched = 0
    for (const m of input) for (const rule of rules) if (evaluateRule(rule, m).matched) matched += 1
    return matched
  },
  messages
)

// baseline 1: the same number of plain String.includes checks
const needles = rules.flatMap((r) =>
  r.source.conditions.map((c) => ({
    onBody: c.field === "body",
    needle: "value" in c && typeof c.value === "string" ? c.value.toLowerCase() : "x"
  }))
)
const includes = measure(
  "baseline: String.includes x conditions",
  (input) => {
    let hits = 0
    for (const m of input) {
      const subject = m.subject.toLowerCase()
      const body = m.bodyText.slice(0, EvaluationLimits.maxBodyChars).toLowerCase()
      for (const { onBody, needle } of needles) if ((onBody ? body : subject).includes(needle)) hits += 1
    }
    return hits
  },
  messages
)

// baseline 2: raw re2js for the regex conditions only
const rawRegex = measure(
  "baseline: raw re2js test() for regex conditions",
  (input) => {
    let hits = 0
    for (const m of input) {
      const body = m.bodyText.slice(0, EvaluationLimits.maxBodyChars)
      const from = m.from?.address ?? ""
      for (const { field, regex } of regexConditions) {
        const text = field === "body" ? body : field === "subject" ? m.subject : from
        if (regex.test(text)) hits += 1
      }
    }
    return hits
  },
  messages
)

const rate = (n: number, ms: number) => Math.round((n * 1000) / ms).toLocaleString("en-US")
const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}x`

console.log(
  `rules-eval: ${rules.length} rules (${conditionCount} conditions, ${regexConditions.length} regex) x ` +
    `${MESSAGES.toLocaleString("en-US")} messages = ${pairs.toLocaleString("en-US")} message x rule pairs; ` +
    `avg body ${avgBody} chars; best of ${ROUNDS} rounds; node ${process.version}`
)
const row = (label: string, ms: number, unit: string, n: number, extra = "") =>
  console.log(`  ${label.padEnd(48)} ${ms.toFixed(0).padStart(6)} ms  ${rate(n, ms).padStart(12)} ${unit}${extra}`)
row(verdicts.label, verdicts.ms, "pairs/s", pairs, `  (${verdicts.sink} matches)`)
row(
  plans.label,
  plans.ms,
  "pairs/s",
  pairs,
  `  = ${rate(MESSAGES, plans.ms)} messages/s, ${(passes / MESSAGES).toFixed(2)} passes/message, ${plans.sink} changes`
)
row(explains.label, explains.ms, "pairs/s", pairs)
row(includes.label, includes.ms, "pairs/s", pairs, `  (${rate(MESSAGES * needles.length, includes.ms)} checks/s)`)
row(
  rawRegex.label,
  rawRegex.ms,
  "pairs/s",
  pairs,
  `  (${rate(MESSAGES * regexConditions.length, rawRegex.ms)} regex tests/s)`
)
console.log(
  `  ratio evaluator time / String.includes time: matchesRule ${ratio(verdicts.ms, includes.ms)}, ` +
    `planActions ${ratio(plans.ms, includes.ms)}, evaluateRule ${ratio(explains.ms, includes.ms)}`
)
console.log(
  `  ratio evaluator time / raw re2js (regex conditions only): matchesRule ${ratio(verdicts.ms, rawRegex.ms)}, ` +
    `planActions ${ratio(plans.ms, rawRegex.ms)}, evaluateRule ${ratio(explains.ms, rawRegex.ms)}`
)
