/**
 * The old installation the import tests move in from: every rule condition and action kind, unicode,
 * tags, corrections (by Message-ID and by folder + UID), trusted senders, rules without an equivalent,
 * a second user whose rows must never come along; and the mail those rules and corrections are
 * about, as raw messages for Dovecot.
 */
import { encodeWord } from "../harness/mailgen.ts"
import type { OldInstallation, OldRuleSpec } from "./oldInstallation.ts"

export const MASTER_PASSWORD = "Mäster-Passwört 🔑 2024"
export const IMAP_PASSWORD = "imap-Pässwörd-🙂-Σ"
export const IMAP_USER = "anna"
/** The newest revisions of the old project's two Alembic chains (src/import/README.md). */
export const SQLITE_SCHEMA_VERSION = "ph22b_add_entity_map"
export const POSTGRES_SCHEMA_VERSION = "f1a2b3c4d5e6"
export const SCHEMA_VERSION = SQLITE_SCHEMA_VERSION

export interface FixtureMessage {
  readonly messageId: string
  readonly from: { readonly name: string; readonly address: string }
  readonly subject: string
  readonly body: string
  readonly attachment: boolean
}

/** The mail in the account's INBOX, in UID order (UID = index + 1). */
export const messages: ReadonlyArray<FixtureMessage> = [
  {
    messageId: "<m1@shop.example>",
    from: { name: "Müller Shop", address: "rechnung@shop.example" },
    subject: "Ihre Rechnung für März",
    body: "Anbei die Rechnung. Betrag 49,90 €",
    attachment: true
  },
  {
    messageId: "<m2@news.example>",
    from: { name: "Newsletter", address: "news@news.example" },
    subject: "Wöchentliche Neuigkeiten",
    body: "Abmelden: hier klicken",
    attachment: false
  },
  {
    // no display name: the old sender_equals / sender_domain only ever matched such mail
    messageId: "<m3@boss.example>",
    from: { name: "", address: "Chefin@Boss.Example" },
    subject: "[DRINGEND] Bitte heute erledigen",
    body: "Kannst du das bis 17 Uhr schaffen?",
    attachment: false
  },
  {
    messageId: "<m4@friend.example>",
    from: { name: "Ζωή Παπαδοπούλου", address: "zoe@friend.example" },
    subject: "Fotos vom Urlaub",
    body: "Hier sind die Fotos, siehe Anhang. Geheimcode: ΣΟΦΙΑ",
    attachment: true
  },
  {
    messageId: "<m5@spam.example>",
    from: { name: "", address: "win@spam.example" },
    subject: "Sie haben gewonnen",
    body: "Klicken Sie hier um Ihren Gewinn abzuholen",
    attachment: false
  }
]

export const rawMessage = (m: FixtureMessage, index: number): string => {
  const date = new Date(Date.UTC(2025, 2, 1 + index, 9, 0)).toUTCString().replace("GMT", "+0000")
  const headers = [
    `Message-ID: ${m.messageId}`,
    `Date: ${date}`,
    m.from.name === "" ? `From: ${m.from.address}` : `From: ${encodeWord(m.from.name)} <${m.from.address}>`,
    `To: Anna <anna@example.org>`,
    `Subject: ${encodeWord(m.subject)}`,
    "MIME-Version: 1.0"
  ]
  if (!m.attachment) {
    return [
      ...headers,
      "Content-Type: text/plain; charset=utf-8",
      "Content-Transfer-Encoding: 8bit",
      "",
      m.body,
      ""
    ].join("\r\n")
  }
  return [
    ...headers,
    'Content-Type: multipart/mixed; boundary="b1"',
    "",
    "--b1",
    "Content-Type: text/plain; charset=utf-8",
    "Content-Transfer-Encoding: 8bit",
    "",
    m.body,
    "--b1",
    'Content-Type: application/pdf; name="anhang.pdf"',
    'Content-Disposition: attachment; filename="anhang.pdf"',
    "Content-Transfer-Encoding: base64",
    "",
    Buffer.from("%PDF-1.4 test").toString("base64"),
    "--b1--",
    ""
  ].join("\r\n")
}

/** Rules that map: one per condition kind and action kind (old priority: lower first). */
export const mappableRules: ReadonlyArray<OldRuleSpec> = [
  {
    id: 11,
    name: "Rechnungen 🧾",
    active: true,
    priority: 1,
    conditions: { match_mode: "all", subject_contains: "rechnung", has_attachment: true },
    actions: { apply_tag: "Rechnungen", move_to_folder: "Archiv/Rechnungen", mark_as_read: true }
  },
  {
    id: 12,
    name: "Chefin",
    active: true,
    priority: 2,
    conditions: { match_mode: "all", sender_equals: "chefin@boss.example", subject_regex: "^\\[(urgent|dringend)\\]" },
    actions: { set_priority: "high", mark_as_flagged: true, stop_processing: true }
  },
  {
    id: 13,
    name: "Newsletter",
    active: true,
    priority: 3,
    conditions: { match_mode: "any", sender_contains: "newsletter", body_contains: "abmelden" },
    actions: { mark_as_read: true, move_to_folder: "Newsletter" }
  },
  {
    id: 14,
    name: "Spam-Domain",
    active: true,
    priority: 4,
    conditions: { sender_domain: "spam.example" },
    actions: { delete: true }
  },
  {
    id: 15,
    name: "Griechische Fotos (inaktiv)",
    active: false,
    priority: 5,
    conditions: { match_mode: "all", body_contains: "σοφια", has_attachment: true },
    actions: { apply_tag: "Urlaub ☀", mark_as_read: false }
  },
  {
    // the conditions the issue did not list but the old engine evaluates
    id: 16,
    name: "Fotos und Gewinne",
    active: true,
    priority: 5,
    conditions: {
      match_mode: "all",
      folder_equals: "INBOX",
      subject_not_contains: "rechnung",
      sender_not_contains: "newsletter",
      body_not_contains: "17 uhr",
      body_regex: "fotos|gewinn",
      not_has_tag: "erledigt",
      subject_equals: "Fotos vom Urlaub"
    },
    actions: { mark_as_flagged: true, tag_color: "#ff0000", set_priority: "medium" }
  },
  {
    id: 17,
    name: "Ärger",
    active: true,
    priority: 5,
    conditions: { match_mode: "any", has_tag: "ärger", subject_equals: "Sie haben gewonnen" },
    actions: { mark_as_read: "yes" }
  }
]

/** Rules without an equivalent here: reported, never imported half. */
export const unmappableRules: ReadonlyArray<OldRuleSpec & { readonly expected: RegExp }> = [
  {
    id: 21,
    name: "Lookahead",
    active: true,
    priority: 6,
    conditions: { subject_regex: "(?=Rechnung)Rech" },
    actions: { mark_as_read: true },
    expected: /invalid regex/
  },
  {
    id: 22,
    name: "KI-Kategorie",
    active: true,
    priority: 7,
    conditions: { ai_category: "spam" },
    actions: { delete: true },
    expected: /condition ai_category .* has no equivalent/
  },
  {
    id: 23,
    name: "Weiterleiten",
    active: true,
    priority: 8,
    conditions: { sender_contains: "boss" },
    actions: { forward_to: "me@example.org" },
    expected: /action forward_to .* has no equivalent/
  },
  {
    id: 24,
    name: "Verschieben und löschen",
    active: true,
    priority: 9,
    conditions: { sender_contains: "x" },
    actions: { move_to_folder: "A", delete: true },
    expected: /move or delete a message only once/
  },
  {
    id: 25,
    name: "KI-Tag",
    active: true,
    priority: 10,
    conditions: { ai_suggested_tag: "Rechnung", ai_confidence_threshold: 90 },
    actions: { apply_tag: "Rechnung" },
    expected: /condition ai_suggested_tag .* has no equivalent/
  },
  {
    id: 26,
    name: "Chefin oder Urlaub",
    active: true,
    priority: 11,
    conditions: { match_mode: "any", sender_equals: "chefin@boss.example", subject_contains: "urlaub" },
    actions: { mark_as_read: true },
    expected: /not exactly mappable in an 'any' rule/
  },
  {
    id: 27,
    name: "Wortgrenze",
    active: true,
    priority: 12,
    conditions: { subject_regex: "\\bÄrger\\b" },
    actions: { mark_as_read: true },
    expected: /matches Unicode characters in the old system/
  }
]

/** The old installation, for our user with this email and the IMAP server at host:port. */
export const installation = (
  email: string,
  host: string,
  port: number,
  schemaVersion: string | null = SCHEMA_VERSION,
  options: { readonly keyFormat?: "dek" | "masterKey"; readonly withoutOverrideColumns?: boolean } = {}
): OldInstallation => ({
  schemaVersion,
  ...(options.withoutOverrideColumns === true ? { withoutOverrideColumns: true } : {}),
  users: [
    {
      id: 7,
      email,
      masterPassword: MASTER_PASSWORD,
      ...(options.keyFormat === undefined ? {} : { keyFormat: options.keyFormat }),
      accounts: [
        {
          id: 1,
          name: "Büro ✉",
          host,
          port,
          encryption: "NONE",
          username: IMAP_USER,
          password: IMAP_PASSWORD,
          enabled: true,
          includeFolders: ["INBOX", "Archiv"],
          excludeFolders: ["Spam"]
        },
        {
          id: 2,
          name: "Gmail (OAuth)",
          authType: "oauth",
          host: "imap.gmail.com",
          port: 993,
          encryption: "SSL",
          username: "anna.oauth",
          password: "oauth-token-value",
          enabled: true,
          includeFolders: null,
          excludeFolders: null
        }
      ],
      rules: [...mappableRules, ...unmappableRules],
      tags: [
        { id: 31, name: "Wichtig für Steuer" },
        { id: 32, name: "Ärger" },
        { id: 33, name: "unbenutzt" }
      ],
      mails: [
        // corrected, found by Message-ID
        {
          id: 101,
          accountId: 1,
          messageId: "<m1@shop.example>",
          folder: "INBOX",
          uid: 999,
          from: { name: "Müller Shop", address: "rechnung@shop.example" },
          subject: "Ihre Rechnung für März",
          // the old categories are action kinds: none has an equivalent here
          overrides: { urgency: 3, importance: 1, category: "dringend", spam: false, tagList: "Wichtig für Steuer" },
          tagIds: [31]
        },
        // corrected, no Message-ID: found by folder + UID (UID 4 in INBOX)
        {
          id: 102,
          accountId: 1,
          messageId: null,
          folder: "INBOX",
          uid: 4,
          subject: "Fotos vom Urlaub",
          overrides: { urgency: null, importance: 3, category: "aktion_erforderlich" },
          tagIds: [32]
        },
        // only the old AI's result, no correction
        {
          id: 103,
          accountId: 1,
          messageId: "<m2@news.example>",
          folder: "INBOX",
          uid: 2,
          subject: "Wöchentliche Neuigkeiten",
          overrides: null,
          tagIds: []
        },
        // corrected, but its account cannot be imported
        {
          id: 104,
          accountId: 2,
          messageId: "<pop1@example.org>",
          folder: "INBOX",
          uid: 1,
          subject: "OAuth",
          overrides: { urgency: 1, importance: 1, category: null },
          tagIds: []
        }
      ],
      trustedSenders: [
        { id: 41, pattern: "chefin@boss.example", type: "exact" },
        { id: 42, pattern: "boss.example", type: "email_domain" }
      ]
    },
    {
      // another user of the same old installation: never imported
      id: 8,
      email: "someone-else@example.org",
      masterPassword: "other-master",
      accounts: [
        {
          id: 3,
          name: "fremd",
          host: "imap.other.example",
          port: 993,
          encryption: "SSL",
          username: "other",
          password: "other-imap-password",
          enabled: true,
          includeFolders: null,
          excludeFolders: null
        }
      ],
      rules: [
        {
          id: 51,
          name: "fremde Regel",
          active: true,
          priority: 1,
          conditions: { sender_contains: "x" },
          actions: { mark_as_read: true }
        }
      ],
      tags: [],
      mails: [],
      trustedSenders: []
    }
  ]
})

/** The old sender text (upstream `src/06_mail_fetcher.py`): `"Name" <address>`, or the address alone. */
export const oldSenderText = (from: { readonly name: string; readonly address: string }): string =>
  from.name === "" ? from.address : `"${from.name}" <${from.address}>`

/** Where a message is and which tags it carries when a rule looks at it. */
export interface OldContext {
  readonly folder: string
  readonly tags: ReadonlyArray<string>
}

/**
 * How the old rules engine decided whether a rule matches (upstream `src/auto_rules_engine.py`,
 * `_match_rule`): Python `lower()` on both sides (JavaScript's toLowerCase is the same full Unicode
 * mapping); `sender_*` look at the old sender text; `sender_domain` is the text after its last `@`;
 * regexes are a case-insensitive search; `has_attachment` and `folder_equals` compare with `==`;
 * `has_tag` an exact tag name; a key the engine does not check still counts as a condition (never
 * true); `any` is OR, anything else AND, and a rule without conditions never matches.
 */
export const oldDecision = (
  rule: Pick<OldRuleSpec, "conditions">,
  m: Pick<FixtureMessage, "from" | "subject" | "body" | "attachment">,
  context: OldContext = { folder: "INBOX", tags: [] }
): boolean => {
  const c = rule.conditions
  const sender = oldSenderText(m.from)
  const lower = (s: string) => s.toLowerCase()
  const text = (value: unknown): string => {
    if (typeof value !== "string") throw new Error("the old engine fails on a condition value that is not text")
    return lower(value)
  }
  const results: Array<boolean> = []
  for (const [key, value] of Object.entries(c)) {
    if (key === "match_mode") continue
    switch (key) {
      case "sender_equals":
        results.push(lower(sender) === text(value))
        break
      case "sender_contains":
        results.push(lower(sender).includes(text(value)))
        break
      case "sender_not_contains":
        results.push(!lower(sender).includes(text(value)))
        break
      case "sender_domain":
        results.push(sender.includes("@") && lower(sender.split("@").at(-1) ?? "") === text(value))
        break
      case "subject_equals":
        results.push(lower(m.subject) === text(value))
        break
      case "subject_contains":
        results.push(lower(m.subject).includes(text(value)))
        break
      case "subject_not_contains":
        results.push(!lower(m.subject).includes(text(value)))
        break
      case "subject_regex":
        results.push(new RegExp(String(value), "iu").test(m.subject))
        break
      case "body_contains":
        results.push(lower(m.body).includes(text(value)))
        break
      case "body_not_contains":
        results.push(!lower(m.body).includes(text(value)))
        break
      case "body_regex":
        results.push(new RegExp(String(value), "iu").test(m.body))
        break
      case "has_attachment":
        // Python ==: True == 1 and False == 0
        results.push(m.attachment ? value === true || value === 1 : value === false || value === 0)
        break
      case "folder_equals":
        results.push(context.folder === value)
        break
      case "has_tag":
        results.push(context.tags.includes(String(value)))
        break
      case "not_has_tag":
        results.push(!context.tags.includes(String(value)))
        break
      default:
        results.push(false)
    }
  }
  if (results.length === 0) return false
  return c["match_mode"] === "any" ? results.some(Boolean) : results.every(Boolean)
}
