/**
 * Auto-rules evaluation rate: 20 realistic rules over 10,000 synthetic messages, beside baselines
 * measured in the same run:
 * - plain `String.includes`, one check per condition (the same number of checks the rules contain),
 *   on text lower-cased once per message;
 * - raw re2js `test()` for the regex conditions alone (the library the evaluator wraps).
 *
 * Run: npx tsx bench/rules-eval.ts
 */
import { Result, Schema } from "effect"
import { RE2JS } from "re2js"
import { RuleInput, ruleParseOptions } from "../src/rules/Rule.ts"
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

const MESSAGES = 10_000
const ROUNDS = Number(process.env.ROUNDS ?? 3)

// ---------------------------------------------------------------------------
// 20 realistic rules
// ---------------------------------------------------------------------------

const ruleInputs: ReadonlyArray<Record<string, unknown>> = [
  {
    name: "spam to junk",
    priority: 1,
    stopProcessing: true,
    conditions: [{ field: "spam", value: true }],
    actions: [{ type: "moveTo", mailbox: "Junk" }]
  },
  {
    name: "invoices",
    priority: 10,
    match: "any",
    conditions: [
      { field: "subject", op: "regex", value: "\\b(rechnung|invoice|faktura)\\b" },
      { field: "body", op: "contains", value: "zahlbar bis" }
    ],
    actions: [{ type: "addTag", tag: "invoice" }]
  },
  {
    name: "file invoices",
    priority: 11,
    conditions: [
      { field: "tag", op: "has", value: "invoice" },
      { field: "hasAttachment", value: true }
    ],
    actions: [{ type: "moveTo", mailbox: "Finanzen/Rechnungen" }]
  },
  {
    name: "boss",
    priority: 12,
    conditions: [{ field: "from", op: "equals", value: "chefin@firma.de" }],
    actions: [{ type: "flag" }, { type: "setPriority", importance: 3 }]
  },
  {
    name: "company",
    priority: 13,
    conditions: [
      { field: "from", op: "domain", value: "firma.de" },
      { field: "urgency", op: "gte", value: 2 }
    ],
    actions: [{ type: "addTag", tag: "work" }]
  },
  {
    name: "newsletters",
    priority: 20,
    conditions: [{ field: "category", op: "in", value: ["newsletter", "marketing"] }],
    actions: [{ type: "markRead" }, { type: "moveTo", mailbox: "Newsletter" }]
  },
  {
    name: "unsubscribe footer",
    priority: 21,
    conditions: [
      { field: "body", op: "regex", value: "(abmelden|unsubscribe|newsletter abbestellen)" },
      { field: "category", op: "equals", value: "newsletter", negate: true }
    ],
    actions: [{ type: "addTag", tag: "bulk" }]
  },
  {
    name: "shipping",
    priority: 22,
    match: "any",
    conditions: [
      { field: "subject", op: "contains", value: "versandbestätigung" },
      { field: "subject", op: "contains", value: "ihre bestellung" },
      { field: "subject", op: "regex", value: "(shipped|dispatched|zugestellt)" }
    ],
    actions: [{ type: "addTag", tag: "shipping" }]
  },
  {
    name: "github",
    priority: 23,
    conditions: [{ field: "from", op: "domain", value: "github.com" }],
    actions: [
      { type: "addTag", tag: "dev" },
      { type: "moveTo", mailbox: "Dev" }
    ]
  },
  {
    name: "ci failures",
    priority: 24,
    conditions: [
      { field: "from", op: "regex", value: "^(noreply|notifications)@" },
      { field: "subject", op: "regex", value: "(build|pipeline|run) (failed|fehlgeschlagen)" }
    ],
    actions: [{ type: "flag" }]
  },
  {
    name: "bank",
    priority: 25,
    conditions: [{ field: "from", op: "domain", value: "sparkasse.de" }],
    actions: [
      { type: "addTag", tag: "bank" },
      { type: "setPriority", urgency: 3 }
    ]
  },
  {
    name: "iban in body",
    priority: 26,
    conditions: [{ field: "body", op: "regex", value: "\\bDE\\d{2}(?: ?\\d{4}){4} ?\\d{2}\\b" }],
    actions: [{ type: "addTag", tag: "iban" }]
  },
  {
    name: "cc only",
    priority: 27,
    conditions: [
      { field: "to", op: "equals", value: "me@example.org", negate: true },
      { field: "cc", op: "equals", value: "me@example.org" }
    ],
    actions: [{ type: "setPriority", importance: 1 }]
  },
  {
    name: "team list",
    priority: 28,
    conditions: [{ field: "recipients", op: "contains", value: "team@" }],
    actions: [{ type: "addTag", tag: "team" }]
  },
  {
    name: "urgent words",
    priority: 29,
    match: "any",
    conditions: [
      { field: "subject", op: "contains", value: "dringend" },
      { field: "subject", op: "contains", value: "urgent" },
      { field: "subject", op: "contains", value: "asap" }
    ],
    actions: [{ type: "flag" }, { type: "setPriority", urgency: 3 }]
  },
  {
    name: "low score read",
    priority: 30,
    conditions: [
      { field: "score", op: "lt", value: 5 },
      { field: "mailbox", op: "equals", value: "INBOX" }
    ],
    actions: [{ type: "markRead" }]
  },
  {
    name: "social",
    priority: 31,
    conditions: [{ field: "category", op: "equals", value: "social" }],
    actions: [{ type: "moveTo", mailbox: "Social" }]
  },
  {
    name: "calendar",
    priority: 32,
    conditions: [{ field: "subject", op: "regex", value: "^(einladung|invitation|updated invitation):" }],
    actions: [{ type: "addTag", tag: "calendar" }]
  },
  {
    name: "todo cleanup",
    priority: 33,
    conditions: [
      { field: "tag", op: "has", value: "done" },
      { field: "tag", op: "has", value: "todo" }
    ],
    actions: [{ type: "removeTag", tag: "todo" }]
  },
  {
    name: "old trash",
    priority: 40,
    conditions: [
      { field: "mailbox", op: "equals", value: "Junk" },
      { field: "importance", op: "lte", value: 1 }
    ],
    actions: [{ type: "delete" }]
  }
]

const compileAll = (): ReadonlyArray<CompiledRule> =>
  ruleInputs.map((input, i) => {
    const decoded = Schema.decodeUnknownSync(RuleInput)(input, ruleParseOptions)
    return Result.getOrThrow(compileRuleResult(decoded, { id: `rule-${i}` }))
  })

// ---------------------------------------------------------------------------
// 10,000 synthetic messages (deterministic)
// ---------------------------------------------------------------------------

let seed = 42
const rnd = () => {
  seed = (seed * 1103515245 + 12345) & 0x7fffffff
  return seed / 0x7fffffff
}
const pick = <A>(items: ReadonlyArray<A>): A => {
  const item = items[Math.floor(rnd() * items.length)]
  if (item === undefined) throw new Error("empty list")
  return item
}

const senders = [
  { name: "Chefin", address: "chefin@firma.de" },
  { name: "Kollege", address: "max.mustermann@firma.de" },
  { name: "GitHub", address: "notifications@github.com" },
  { name: "Sparkasse", address: "service@sparkasse.de" },
  { name: "Muster Shop", address: "rechnung@muster-shop.de" },
  { name: "Newsletter", address: "news@angebote.example" },
  { name: "Freundin", address: "anna@mail.de" },
  { name: null, address: "noreply@ci.example.com" },
  { name: "Paketdienst", address: "info@paket.example" }
]
const subjects = [
  "Ihre Rechnung Nr. 2024-%n",
  "Versandbestätigung für Ihre Bestellung %n",
  "Re: Treffen am Donnerstag",
  "[repo] Run failed: CI - main (%n)",
  "Einladung: Projektbesprechung",
  "DRINGEND: Freigabe benötigt",
  "Wochenangebote bis zu 50% Rabatt",
  "Kontoauszug verfügbar",
  "Your order has shipped",
  "Fwd: Fotos vom Wochenende",
  "Invoice #%n from Example Corp"
]
const paragraphs = [
  "Sehr geehrte Damen und Herren, vielen Dank für Ihre Nachricht. Wir melden uns zeitnah bei Ihnen.",
  "Der Betrag von 49,90 EUR ist zahlbar bis zum 31.12. auf das Konto DE89 3704 0044 0532 0130 00.",
  "Hallo zusammen, anbei die Unterlagen für das Meeting. Viele Grüße und bis morgen!",
  "If you no longer wish to receive these emails, click here to unsubscribe from this list.",
  "Die Sendung wurde heute zugestellt. Bitte prüfen Sie den Inhalt auf Vollständigkeit.",
  "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore.",
  "The build for commit 3f2a1c failed in job test (ubuntu-latest). See the logs for details."
]
const categories = ["newsletter", "marketing", "work", "finance", "social", "personal", null]
const people = ["me@example.org", "team@example.org", "bob@example.org", "carol@partner.example"]

const makeSubject = (i: number): RuleSubject => {
  const paragraphCount = 2 + Math.floor(rnd() * 30) // ~200 B .. ~3 KB, a few larger below
  const body = Array.from({ length: i % 50 === 0 ? 300 : paragraphCount }, () => pick(paragraphs)).join("\n\n")
  const to = Array.from({ length: 1 + Math.floor(rnd() * 3) }, () => ({ address: pick(people) }))
  const cc = rnd() < 0.3 ? [{ name: "Me", address: "me@example.org" }] : []
  return {
    from: pick(senders),
    to,
    cc,
    subject: pick(subjects).replace("%n", String(1000 + i)),
    bodyText: body,
    hasAttachment: rnd() < 0.4,
    mailbox: rnd() < 0.9 ? "INBOX" : "Junk",
    mailboxSpecialUse: null,
    trashMailbox: "Trash",
    category: pick(categories),
    urgency: 1 + Math.floor(rnd() * 3),
    importance: 1 + Math.floor(rnd() * 3),
    score: 3 + Math.floor(rnd() * 7),
    spam: rnd() < 0.05,
    tags: rnd() < 0.2 ? ["todo", "done"] : [],
    flags: { seen: rnd() < 0.5, flagged: rnd() < 0.1 }
  }
}

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
const messages = Array.from({ length: MESSAGES }, (_, i) => makeSubject(i))
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
