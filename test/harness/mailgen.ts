import { seededRandom } from "../../src/platform/seededRandom.ts"

/**
 * Deterministic generator of realistic messages for tests and benchmarks: plain text,
 * multipart/alternative, attachments, German and English, threads (References / In-Reply-To),
 * sizes from about 1 KB to 200 KB with an average near 20 KB. The same seed gives the same bytes.
 */

export interface GeneratedMessage {
  readonly raw: string
  /** Angle brackets included, as in the header. */
  readonly messageId: string
  /** Message-ID of the first message of the thread (its own for a thread starter). */
  readonly threadRootId: string
  readonly inReplyTo: string | null
  readonly references: ReadonlyArray<string>
  readonly subject: string
  readonly from: { readonly name: string; readonly address: string }
  readonly date: Date
  readonly language: "de" | "en"
  readonly kind: "plain" | "alternative" | "attachment"
  readonly attachments: ReadonlyArray<{
    readonly filename: string
    readonly contentType: string
    readonly size: number
  }>
}

export interface MailgenOptions {
  readonly seed?: number
  /** Domain of the generated Message-IDs, so several generators do not collide. */
  readonly domain?: string
  /** Share of messages that answer an earlier one (0..1). */
  readonly replyRatio?: number
  readonly startDate?: Date
}

const PEOPLE = [
  { name: "Jürgen Müller", address: "juergen.mueller@example.de", language: "de" },
  { name: "Anna Schäfer", address: "anna.schaefer@beispiel.de", language: "de" },
  { name: "Björn Größler", address: "bjoern@firma-gmbh.de", language: "de" },
  { name: "Katrin Weiß", address: "k.weiss@example.org", language: "de" },
  { name: "Alice Johnson", address: "alice@example.com", language: "en" },
  { name: "Bob Smith", address: "bob.smith@example.net", language: "en" },
  { name: "Carol O'Neil", address: "carol@corp.example", language: "en" },
  { name: "Dave Lee", address: "dave.lee@example.co.uk", language: "en" }
] as const

const NEWSLETTERS = [
  { name: "Shop Newsletter", address: "news@shop.example", language: "de" },
  { name: "Tech Weekly", address: "digest@techweekly.example", language: "en" }
] as const

const SUBJECTS = {
  de: [
    "Besprechung am Donnerstag",
    "Rechnung Nr. 4711 für März",
    "Ihre Bestellung wurde versandt",
    "Änderungen am Projektplan",
    "Urlaubsvertretung nächste Woche",
    "Frage zur Steuererklärung",
    "Einladung: Sommerfest im Büro",
    "Dringend: Zugang zum Server gesperrt",
    "Grüße aus München",
    "Protokoll der Teamsitzung"
  ],
  en: [
    "Meeting on Thursday",
    "Invoice #4711 for March",
    "Your order has shipped",
    "Changes to the project plan",
    "Quarterly report draft",
    "Question about the contract",
    "Invitation: summer party",
    "Urgent: server access blocked",
    "Lunch tomorrow?",
    "Notes from the team meeting"
  ]
} as const

const SENTENCES = {
  de: [
    "Vielen Dank für Ihre schnelle Rückmeldung.",
    "Könnten Sie mir bitte die Unterlagen bis Freitag zuschicken?",
    "Die Besprechung findet im großen Konferenzraum im dritten Stock statt.",
    "Leider müssen wir den Termin auf nächste Woche verschieben.",
    "Anbei finden Sie die überarbeitete Version des Angebots.",
    "Bitte prüfen Sie die Änderungen und geben Sie mir Bescheid.",
    "Für Rückfragen stehe ich Ihnen gerne zur Verfügung.",
    "Die Lieferung erfolgt voraussichtlich in drei bis fünf Werktagen.",
    "Wir freuen uns auf die weitere Zusammenarbeit.",
    "Das Budget für das nächste Quartal ist noch nicht genehmigt.",
    "Straßenbauarbeiten führen zu Verzögerungen bei der Anfahrt.",
    "Mit freundlichen Grüßen aus dem Büro in Köln."
  ],
  en: [
    "Thanks for getting back to me so quickly.",
    "Could you please send me the documents by Friday?",
    "The meeting will take place in the large conference room on the third floor.",
    "Unfortunately we have to move the appointment to next week.",
    "Please find attached the revised version of the offer.",
    "Please review the changes and let me know what you think.",
    "Feel free to reach out if you have any questions.",
    "Delivery is expected within three to five business days.",
    "We look forward to continuing our collaboration.",
    "The budget for the next quarter has not been approved yet.",
    "Road works are causing delays on the way to the office.",
    "Best regards from the team in London."
  ]
} as const

const ATTACHMENT_TYPES = [
  { ext: "pdf", type: "application/pdf", names: { de: "Rechnung", en: "invoice" } },
  { ext: "png", type: "image/png", names: { de: "Bildschirmfoto", en: "screenshot" } },
  {
    ext: "docx",
    type: "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    names: { de: "Vertrag", en: "contract" }
  },
  { ext: "csv", type: "text/csv", names: { de: "Übersicht", en: "overview" } }
] as const

/** RFC 2047 B-encoding of a header phrase when it is not plain ASCII. */
export const encodeWord = (text: string): string =>
  /^[\x20-\x7e]*$/.test(text) ? text : `=?UTF-8?B?${Buffer.from(text, "utf8").toString("base64")}?=`

const formatAddress = (person: { readonly name: string; readonly address: string }): string => {
  const name = /^[\x20-\x7e]*$/.test(person.name) ? `"${person.name.replaceAll('"', "")}"` : encodeWord(person.name)
  return `${name} <${person.address}>`
}

/** Quoted-printable for UTF-8 text, lines of at most 76 characters. */
export const quotedPrintable = (text: string): string => {
  const out: Array<string> = []
  for (const line of text.split("\n")) {
    // one latin1 character per UTF-8 byte, so a regex can escape bytes
    let encoded = Buffer.from(line, "utf8")
      .toString("latin1")
      .replace(/[^\x20-\x3c\x3e-\x7e]/g, (c) => `=${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, "0")}`)
    if (encoded.endsWith(" ")) encoded = `${encoded.slice(0, -1)}=20`
    let rest = encoded
    while (rest.length > 76) {
      let cut = 75
      // never split an =XX escape
      const escapeStart = rest.lastIndexOf("=", cut)
      if (escapeStart > cut - 3) cut = escapeStart
      out.push(`${rest.slice(0, cut)}=`)
      rest = rest.slice(cut)
    }
    out.push(rest)
  }
  return out.join("\r\n")
}

const base64Lines = (data: Buffer): string => (data.toString("base64").match(/.{1,76}/g) ?? []).join("\r\n")

const escapeHtml = (text: string): string =>
  text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;").replaceAll('"', "&quot;")

export const makeMailgen = (options: MailgenOptions = {}) => {
  const random = seededRandom(options.seed ?? 1)
  const domain = options.domain ?? "mailgen.test"
  const replyRatio = options.replyRatio ?? 0.35
  let clock = (options.startDate ?? new Date("2025-01-06T08:00:00Z")).getTime()
  let counter = 0
  const history: Array<GeneratedMessage> = []
  // attachment bytes are slices of one pseudo-random block: deterministic and cheap
  const noise = Buffer.alloc(256 * 1024)
  for (let i = 0; i < noise.length; i += 4) noise.writeUInt32LE(Math.floor(random() * 4294967296), i)

  const pick = <A>(items: ReadonlyArray<A>): A => {
    const item = items[Math.floor(random() * items.length)]
    if (item === undefined) throw new Error("pick from an empty list")
    return item
  }
  const between = (min: number, max: number) => min + Math.floor(random() * (max - min + 1))

  const paragraphText = (language: "de" | "en", bytes: number): string => {
    const paragraphs: Array<string> = []
    let size = 0
    while (size < bytes) {
      const sentences = Array.from({ length: between(2, 5) }, () => pick(SENTENCES[language]))
      const paragraph = sentences.join(" ")
      paragraphs.push(paragraph)
      size += Buffer.byteLength(paragraph) + 2
    }
    return paragraphs.join("\n\n")
  }

  /** Target size of the whole message: many small ones, a long tail up to 200 KB, mean about 20 KB. */
  const targetSize = (): number => {
    const r = random()
    if (r < 0.55) return between(1_000, 8_000)
    if (r < 0.85) return between(8_000, 30_000)
    if (r < 0.97) return between(30_000, 90_000)
    return between(90_000, 200_000)
  }

  const next = (): GeneratedMessage => {
    counter++
    clock += between(30, 3_600) * 1000
    const date = new Date(clock)
    const size = targetSize()
    const isNewsletter = random() < 0.12
    const parent = !isNewsletter && history.length > 0 && random() < replyRatio ? pick(history.slice(-50)) : null
    const sender = isNewsletter ? pick(NEWSLETTERS) : pick(PEOPLE)
    const language: "de" | "en" = parent?.language ?? sender.language
    const recipient = pick(PEOPLE.filter((p) => p.address !== sender.address))
    const baseSubject = parent === null ? pick(SUBJECTS[language]) : parent.subject.replace(/^((Re|AW|Aw): )+/, "")
    const subject = parent === null ? baseSubject : `${language === "de" ? "AW" : "Re"}: ${baseSubject}`
    const messageId = `<${counter}.${Math.floor(random() * 1e9).toString(36)}@${domain}>`
    const references = parent === null ? [] : [...parent.references, parent.messageId].slice(-10)
    const threadRootId = parent === null ? messageId : parent.threadRootId

    const kindRoll = random()
    const kind: GeneratedMessage["kind"] =
      size > 30_000 || kindRoll < 0.2 ? "attachment" : isNewsletter || kindRoll < 0.55 ? "alternative" : "plain"

    const headers = [
      `Return-Path: <${sender.address}>`,
      `Received: from mx.${domain} (mx.${domain} [192.0.2.${between(1, 254)}]) by imap.${domain} with ESMTPS; ${date.toUTCString()}`,
      `Message-ID: ${messageId}`,
      `Date: ${date.toUTCString().replace("GMT", "+0000")}`,
      `From: ${formatAddress(sender)}`,
      `To: ${formatAddress(recipient)}`,
      ...(random() < 0.3 ? [`Cc: ${formatAddress(pick(PEOPLE))}`] : []),
      `Subject: ${encodeWord(subject)}`,
      ...(parent === null ? [] : [`In-Reply-To: ${parent.messageId}`, `References: ${references.join("\r\n ")}`]),
      ...(isNewsletter
        ? [
            `List-Unsubscribe: <https://${sender.address.split("@")[1]}/unsubscribe?u=${counter}>, <mailto:unsubscribe@${sender.address.split("@")[1]}>`,
            `List-Id: ${sender.name} <news.${sender.address.split("@")[1]}>`,
            "Precedence: bulk"
          ]
        : []),
      `X-Mailer: ${pick(["Thunderbird 128.3", "Apple Mail (2.3774)", "Microsoft Outlook 16.0", "mailgen"])}`,
      "MIME-Version: 1.0"
    ]

    const quote =
      parent === null
        ? ""
        : `\n\n${language === "de" ? "Am" : "On"} ${parent.date.toUTCString()}, ${parent.from.name} ${language === "de" ? "schrieb" : "wrote"}:\n> ${pick(SENTENCES[language])}`
    const greeting =
      language === "de" ? `Hallo ${recipient.name.split(" ")[0]},` : `Hi ${recipient.name.split(" ")[0]},`
    const signature = `\n\n-- \n${sender.name}`
    const textBytes =
      kind === "attachment" ? between(400, 4_000) : Math.max(300, kind === "alternative" ? size / 2.4 : size - 900)
    const text = `${greeting}\n\n${paragraphText(language, textBytes)}${quote}${signature}`
    const textPart = [
      "Content-Type: text/plain; charset=utf-8",
      "Content-Transfer-Encoding: quoted-printable",
      "",
      quotedPrintable(text)
    ].join("\r\n")
    const html = `<!DOCTYPE html><html><head><meta charset="utf-8"><style>p{font-family:Arial}</style></head><body><p>${text
      .split("\n\n")
      .map((p) => escapeHtml(p).replaceAll("\n", "<br>"))
      .join(
        "</p>\n<p>"
      )}</p>${isNewsletter ? `<p><a href="https://${domain}/track?id=${counter}">Online ansehen</a><img src="https://${domain}/pixel.gif?id=${counter}" width="1" height="1"></p>` : ""}</body></html>`
    const htmlPart = [
      "Content-Type: text/html; charset=utf-8",
      "Content-Transfer-Encoding: quoted-printable",
      "",
      quotedPrintable(html)
    ].join("\r\n")

    const boundary = (name: string) => `----=_${name}_${counter}_${Math.floor(random() * 1e12).toString(36)}`
    const multipart = (type: string, b: string, parts: ReadonlyArray<string>) =>
      [
        `Content-Type: ${type}; boundary="${b}"`,
        "",
        "This is a multi-part message in MIME format.",
        ...parts.map((p) => `--${b}\r\n${p}`),
        `--${b}--`,
        ""
      ].join("\r\n")

    const attachments: Array<{ filename: string; contentType: string; size: number }> = []
    let body: string
    if (kind === "plain") {
      body = textPart
    } else if (kind === "alternative") {
      body = multipart("multipart/alternative", boundary("alt"), [textPart, htmlPart])
    } else {
      const alternative = multipart("multipart/alternative", boundary("alt"), [textPart, htmlPart])
      const parts = [alternative]
      let remaining = Math.max(600, Math.floor(((size - Buffer.byteLength(text) * 2.2) * 3) / 4))
      const count = remaining > 60_000 ? 2 : 1
      for (let i = 0; i < count; i++) {
        const type = pick(ATTACHMENT_TYPES)
        const bytes = Math.max(200, Math.floor(remaining / (count - i)))
        remaining -= bytes
        const offset = Math.floor(random() * (noise.length - bytes))
        const data = noise.subarray(offset, offset + bytes)
        const filename = `${type.names[language]}-${counter}-${i + 1}.${type.ext}`
        attachments.push({ filename, contentType: type.type, size: bytes })
        const encodedName = encodeWord(filename)
        parts.push(
          [
            `Content-Type: ${type.type}; name="${encodedName}"`,
            `Content-Disposition: attachment; filename="${encodedName}"`,
            "Content-Transfer-Encoding: base64",
            "",
            base64Lines(data)
          ].join("\r\n")
        )
      }
      body = multipart("multipart/mixed", boundary("mixed"), parts)
    }

    const message: GeneratedMessage = {
      raw: `${headers.join("\r\n")}\r\n${body}`,
      messageId,
      threadRootId,
      inReplyTo: parent?.messageId ?? null,
      references,
      subject,
      from: { name: sender.name, address: sender.address },
      date,
      language,
      kind,
      attachments
    }
    history.push(message)
    return message
  }

  return {
    next,
    take: (count: number): Array<GeneratedMessage> => Array.from({ length: count }, next)
  }
}

/** Convenience: `count` messages from a fresh generator. */
export const generateMessages = (count: number, options: MailgenOptions = {}): Array<GeneratedMessage> =>
  makeMailgen(options).take(count)
