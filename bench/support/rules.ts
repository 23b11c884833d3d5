/**
 * Fixtures shared by the rule benchmarks (bench/rules-eval.ts, bench/rules.ts): 20 realistic rules and a
 * deterministic stream of synthetic messages.
 */

/** An action of a fixture rule, as the API accepts it (decoded with `RuleInput`). */
export interface FixtureAction {
  readonly type: string
  readonly mailbox?: string
  readonly tag?: string
  readonly importance?: number
  readonly urgency?: number
}

/** A fixture rule, as the API accepts it (decoded with `RuleInput`). */
export interface RuleFixture {
  readonly name: string
  readonly priority: number
  readonly match?: "all" | "any"
  readonly stopProcessing?: boolean
  readonly conditions: ReadonlyArray<Record<string, unknown>>
  readonly actions: ReadonlyArray<FixtureAction>
}

// ---------------------------------------------------------------------------
// 20 realistic rules
// ---------------------------------------------------------------------------

export const ruleInputs: ReadonlyArray<RuleFixture> = [
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

/**
 * An IMAP action (move, read, flag, delete) replaced by a database-only one (a tag naming it), so a benchmark
 * measures the database/evaluation path without the server's UID STORE/MOVE round trips.
 */
const databaseOnlyAction = (action: FixtureAction): FixtureAction => {
  switch (action.type) {
    case "moveTo":
      return { type: "addTag", tag: `to:${action.mailbox ?? ""}` }
    case "markRead":
      return { type: "addTag", tag: "read" }
    case "flag":
      return { type: "addTag", tag: "flagged" }
    case "delete":
      return { type: "addTag", tag: "to:Trash" }
    default:
      return action
  }
}

/** {@link ruleInputs} with their IMAP actions turned into database-only ones. */
export const databaseOnlyRuleInputs: ReadonlyArray<RuleFixture> = ruleInputs.map((rule) => ({
  ...rule,
  actions: rule.actions.map(databaseOnlyAction)
}))

// ---------------------------------------------------------------------------
// Synthetic messages (deterministic)
// ---------------------------------------------------------------------------

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

export interface SyntheticMessage {
  readonly from: { readonly name: string | null; readonly address: string }
  readonly to: ReadonlyArray<{ readonly address: string }>
  readonly cc: ReadonlyArray<{ readonly name: string; readonly address: string }>
  readonly subject: string
  readonly bodyText: string
  readonly hasAttachment: boolean
  readonly mailbox: "INBOX" | "Junk"
  readonly category: string | null
  readonly urgency: number
  readonly importance: number
  readonly score: number
  readonly spam: boolean
  readonly tags: ReadonlyArray<string>
  readonly seen: boolean
  readonly flagged: boolean
}

/** `count` synthetic messages, the same ones on every call (a fixed seed). */
export const syntheticMessages = (count: number): ReadonlyArray<SyntheticMessage> => {
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
  const message = (i: number): SyntheticMessage => {
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
      category: pick(categories),
      urgency: 1 + Math.floor(rnd() * 3),
      importance: 1 + Math.floor(rnd() * 3),
      score: 3 + Math.floor(rnd() * 7),
      spam: rnd() < 0.05,
      tags: rnd() < 0.2 ? ["todo", "done"] : [],
      seen: rnd() < 0.5,
      flagged: rnd() < 0.1
    }
  }
  return Array.from({ length: count }, (_, i) => message(i))
}
