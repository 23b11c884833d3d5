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
export const SCHEMA_VERSION = "phG2_auto_rules"

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
    messageId: "<m3@boss.example>",
    from: { name: "Chefin", address: "Chefin@Boss.Example" },
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
    from: { name: "Gewinnspiel", address: "win@spam.example" },
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
    `From: ${encodeWord(m.from.name)} <${m.from.address}>`,
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
  }
]

/** The old installation, for our user with this email and the IMAP server at host:port. */
export const installation = (
  email: string,
  host: string,
  port: number,
  schemaVersion = SCHEMA_VERSION
): OldInstallation => ({
  schemaVersion,
  users: [
    {
      id: 7,
      email,
      masterPassword: MASTER_PASSWORD,
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
          fetchIntervalMinutes: 30,
          folders: ["INBOX", "Archiv"]
        },
        {
          id: 2,
          name: "Altes POP3",
          host: "pop.example.org",
          port: 995,
          encryption: "POP3-SSL",
          username: "anna.pop",
          password: "pop-secret-value",
          enabled: true,
          fetchIntervalMinutes: null,
          folders: null
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
          subject: "Ihre Rechnung für März",
          overrides: { urgency: 3, importance: 1, category: "finance" },
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
          subject: "POP",
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
          fetchIntervalMinutes: null,
          folders: null
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

/**
 * How the old system decided whether a rule matches (its documented behaviour: text comparisons
 * case-insensitive, `sender_domain` the address's domain, `subject_regex` a case-insensitive search).
 */
export const oldDecision = (rule: OldRuleSpec, m: FixtureMessage): boolean => {
  const c = rule.conditions
  const results: Array<boolean> = []
  const sender = `${m.from.name} <${m.from.address}>`.toLowerCase()
  for (const [key, value] of Object.entries(c)) {
    if (key === "match_mode") continue
    const v = String(value).toLowerCase()
    switch (key) {
      case "sender_equals":
        results.push(m.from.address.toLowerCase() === v)
        break
      case "sender_contains":
        results.push(sender.includes(v))
        break
      case "sender_domain":
        results.push(m.from.address.toLowerCase().split("@")[1] === v)
        break
      case "subject_contains":
        results.push(m.subject.toLowerCase().includes(v))
        break
      case "subject_regex":
        results.push(new RegExp(String(value), "iu").test(m.subject))
        break
      case "body_contains":
        results.push(m.body.toLowerCase().includes(v))
        break
      case "has_attachment":
        results.push(m.attachment === value)
        break
      default:
        throw new Error(`the oracle does not know ${key}`)
    }
  }
  return c["match_mode"] === "any" ? results.some(Boolean) : results.every(Boolean)
}
