/**
 * MIME parsing of received mail, which is hostile input. `parseMessage` never rejects: whatever
 * goes wrong (broken structure, unknown charsets, huge headers, parser errors, a parser that
 * never finishes) yields what could be parsed plus a line in `warnings`.
 *
 * Two MIME libraries can do the decoding (`MimeLimits.parser`, set by MAIL_PARSER): postal-mime
 * (postalMimeParse.ts, the default: faster) or mailparser's streaming `MailParser` (the engine
 * behind `simpleParser`, driven directly because simpleParser buffers every attachment and inlines
 * cid: images into the HTML as data: URLs; here attachments are hashed (sha256) while streaming
 * and their content is dropped). Both yield an `EngineResult`; everything the sync stores is
 * derived from it by the same code below, so the two differ only where the libraries decode
 * differently (test/sync/parserDifferential.test.ts lists where, docs/accounts-and-sync.md why).
 *
 * This module has no Effect dependency: it also runs inside the parser worker threads.
 */
import { MailParser } from "mailparser"
import type { AddressObject, AttachmentStream, HeaderLines, Headers, MessageText } from "mailparser"
import { sanitizeMailHtml } from "./htmlSanitizer.ts"
import {
  type AttachmentMeta,
  defaultMimeLimits,
  describeError,
  type EngineResult,
  flattenAddresses,
  headerBlock,
  MAX_MESSAGE_ID,
  type MimeEngine,
  type MimeLimits,
  type MimeParserName,
  type ParsedAddress
} from "./mimeEngine.ts"
import { runPostalMime } from "./postalMimeParse.ts"

export { defaultMimeLimits, mimeParserNames } from "./mimeEngine.ts"
export type { AttachmentMeta, MimeLimits, MimeParserName, ParsedAddress } from "./mimeEngine.ts"

/** Headers the analysis and the rules look at; raw (unfolded) values, capped. */
export interface SelectedHeaders {
  readonly listUnsubscribe: string | null
  readonly listUnsubscribePost: string | null
  readonly listId: string | null
  readonly autoSubmitted: string | null
  readonly precedence: string | null
  readonly xMailer: string | null
}

export interface ParsedMessage {
  /** Angle brackets included (`<id@host>`); null when absent. */
  readonly messageId: string | null
  readonly inReplyTo: string | null
  /** Oldest first, as in the header; each `<id@host>`. */
  readonly references: ReadonlyArray<string>
  readonly subject: string | null
  readonly from: ReadonlyArray<ParsedAddress>
  readonly to: ReadonlyArray<ParsedAddress>
  readonly cc: ReadonlyArray<ParsedAddress>
  readonly bcc: ReadonlyArray<ParsedAddress>
  readonly replyTo: ReadonlyArray<ParsedAddress>
  /** The Date header; null when missing or unparsable (never "now"). */
  readonly date: Date | null
  /** Plain text (converted from HTML when there is no text part), capped. */
  readonly textBody: string | null
  /** Sanitized HTML, capped. */
  readonly htmlBody: string | null
  readonly attachments: ReadonlyArray<AttachmentMeta>
  readonly headers: SelectedHeaders
  /** Size of the source in bytes. */
  readonly size: number
  /** False when the body was not (completely) parsed: oversized message, or the parser gave up. */
  readonly bodyParsed: boolean
  readonly warnings: ReadonlyArray<string>
}

const MAX_HEADER_VALUE = 2_048
const MAX_REFERENCES = 100

// ---------------------------------------------------------------------------------------------
// small helpers

/** Cuts a string to at most `maxBytes` UTF-8 bytes without splitting a character. */
export const truncateUtf8 = (
  text: string,
  maxBytes: number
): { readonly text: string; readonly truncated: boolean } => {
  if (text.length * 3 <= maxBytes) return { text, truncated: false }
  const bytes = Buffer.from(text, "utf8")
  if (bytes.length <= maxBytes) return { text, truncated: false }
  let end = maxBytes
  // step back to the start of a UTF-8 sequence
  while (end > 0 && ((bytes[end] ?? 0) & 0xc0) === 0x80) end--
  return { text: bytes.subarray(0, end).toString("utf8"), truncated: true }
}

const unfold = (value: string): string =>
  value
    .replace(/\r?\n[ \t]+/g, " ")
    .replace(/[\r\n]/g, "")
    .trim()

const rawHeaderValue = (lines: HeaderLines, key: string): string | null => {
  const line = lines.find((entry) => entry.key === key)?.line
  if (line === undefined) return null
  const colon = line.indexOf(":")
  const value = unfold(colon >= 0 ? line.slice(colon + 1) : "")
  return value === "" ? null : value.slice(0, MAX_HEADER_VALUE)
}

const allRawHeaderValues = (lines: HeaderLines, key: string): Array<string> =>
  lines
    .filter((entry) => entry.key === key)
    .map((entry) => {
      const colon = entry.line.indexOf(":")
      return unfold(colon >= 0 ? entry.line.slice(colon + 1) : "")
    })

const MESSAGE_ID_TOKEN = /<([^<>\s]+)>/g

/** `<id@host>`, trimmed; bare ids get brackets. Null when there is nothing id-like. */
const normaliseIdToken = (value: string | null | undefined): string | null => {
  if (value === null || value === undefined) return null
  const first = /<([^<>\s]+)>/.exec(value)
  if (first?.[1] !== undefined) return `<${first[1].slice(0, MAX_MESSAGE_ID)}>`
  const bare = value.trim().split(/\s+/)[0] ?? ""
  return bare.includes("@") && !/[<>]/.test(bare) ? `<${bare.slice(0, MAX_MESSAGE_ID)}>` : null
}

const referenceTokens = (values: ReadonlyArray<string>): Array<string> => {
  const ids: Array<string> = []
  const seen = new Set<string>()
  for (const value of values) {
    for (const match of value.matchAll(MESSAGE_ID_TOKEN)) {
      const id = `<${(match[1] ?? "").slice(0, MAX_MESSAGE_ID)}>`
      if (!seen.has(id)) {
        seen.add(id)
        ids.push(id)
      }
    }
  }
  // keep the root (first) and the nearest ancestors (last)
  return ids.length <= MAX_REFERENCES ? ids : [ids[0] ?? "", ...ids.slice(-(MAX_REFERENCES - 1))]
}

/** RFC 5322 date, comments removed; null when unparsable. Never falls back to "now". */
export const parseMailDate = (value: string | null): Date | null => {
  if (value === null) return null
  const cleaned = value
    .replace(/\([^()]*\)/g, " ")
    .replace(/\s+/g, " ")
    .trim()
  const time = Date.parse(cleaned)
  if (Number.isNaN(time)) return null
  const date = new Date(time)
  const year = date.getUTCFullYear()
  return year < 1970 || year > 2200 ? null : date
}

const isAddressObject = (value: unknown): value is AddressObject =>
  typeof value === "object" && value !== null && "value" in value && Array.isArray(value.value)

const addressesOf = (headers: Headers, key: string): Array<ParsedAddress> => {
  const value = headers.get(key)
  const objects = Array.isArray(value) ? value : [value]
  const out: Array<ParsedAddress> = []
  for (const object of objects) if (isAddressObject(object)) flattenAddresses(object.value, out)
  return out
}

const ENTITIES: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'", nbsp: " " }

/** Plain text from already sanitized (so well-formed and tame) HTML; a fallback, not a renderer. */
export const sanitizedHtmlToText = (html: string): string =>
  html
    .replace(/<(br|\/p|\/div|\/h[1-6]|\/li|\/tr|\/blockquote|hr)\b[^>]*>/gi, "\n")
    .replace(/<[^>]*>/g, "")
    .replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (entity, name: string) => {
      if (name.startsWith("#")) {
        const code = name[1] === "x" || name[1] === "X" ? Number.parseInt(name.slice(2), 16) : Number(name.slice(1))
        return Number.isInteger(code) && code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : ""
      }
      return ENTITIES[name.toLowerCase()] ?? entity
    })
    .replace(/[ \t]+\n/g, "\n")
    .replace(/\n{3,}/g, "\n\n")
    .trim()

/** PostgreSQL text cannot hold NUL; other C0 controls are harmless. */
const withoutNul = (value: string): string => (value.includes("\u0000") ? value.replaceAll("\u0000", "") : value)

// ---------------------------------------------------------------------------------------------
// running mailparser

interface MailparserState {
  headers: Headers | null
  headerLines: HeaderLines
  text: string | null
  html: string | null
  attachments: Array<AttachmentMeta>
  attachmentsDropped: number
  errors: Array<string>
  timedOut: boolean
  complete: boolean
}

const runMailparser = (input: Buffer, limits: MimeLimits): Promise<MailparserState> =>
  new Promise<MailparserState>((resolve) => {
    const state: MailparserState = {
      headers: null,
      headerLines: [],
      text: null,
      html: null,
      attachments: [],
      attachmentsDropped: 0,
      errors: [],
      timedOut: false,
      complete: false
    }
    let settled = false
    let parser: MailParser
    const finish = () => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      resolve(state)
    }
    const timer = setTimeout(() => {
      state.timedOut = true
      finish()
      parser.destroy()
    }, limits.timeoutMs)
    try {
      parser = new MailParser({
        skipHtmlToText: false,
        maxHtmlLengthToParse: limits.maxHtmlBytes,
        skipTextToHtml: true,
        skipTextLinks: true,
        skipImageLinks: true,
        checksumAlgo: "sha256",
        maxHeadSize: limits.maxHeaderBytes,
        maxChildNodes: limits.maxParts
      })
    } catch (error) {
      state.errors.push(describeError(error))
      finish()
      return
    }

    const onAttachment = (attachment: AttachmentStream, next: () => void) => {
      const content = attachment.content
      // drain: only the hash and size computed on the way through are kept
      content.resume()
      content.once("error", (error: Error) => state.errors.push(`attachment: ${describeError(error)}`))
      content.once("end", () => {
        if (state.attachments.length < limits.maxAttachments) {
          state.attachments.push({
            filename: attachment.filename?.slice(0, 512) ?? null,
            contentType: attachment.contentType.slice(0, 255),
            size: attachment.size ?? 0,
            contentId: attachment.cid?.slice(0, MAX_MESSAGE_ID) ?? null,
            disposition: attachment.contentDisposition?.slice(0, 64) ?? null,
            sha256: attachment.checksum ?? null
          })
        } else {
          state.attachmentsDropped++
        }
        attachment.release?.()
        next()
      })
    }

    let reading = false
    const read = () => {
      if (settled) return
      reading = true
      const data = parser.read()
      if (data === null) {
        reading = false
        return
      }
      if (data.type === "attachment") {
        onAttachment(data, read)
        return
      }
      const text: MessageText = data
      if (typeof text.text === "string") state.text = text.text
      if (typeof text.html === "string") state.html = text.html
      if (text.textConversionError !== undefined) {
        state.errors.push(`HTML to text conversion failed: ${describeError(text.textConversionError)}`)
      }
      read()
    }

    parser.on("headers", (headers: Headers) => {
      state.headers = headers
      state.headerLines = parser.headerLines || []
    })
    parser.on("readable", () => {
      if (!reading) read()
    })
    // mailparser may report an error and carry on; what arrived so far is kept
    parser.on("error", (error: Error) => {
      state.errors.push(describeError(error))
      finish()
      parser.destroy()
    })
    parser.on("end", () => {
      state.complete = true
      finish()
    })
    try {
      parser.end(input)
    } catch (error) {
      state.errors.push(describeError(error))
      finish()
    }
  })

const mailparserEngine: MimeEngine = async (input, limits) => {
  const state = await runMailparser(input, limits)
  const headers: Headers = state.headers ?? new Map()
  const decoded = (key: string): string | null => {
    const value = headers.get(key)
    const text = Array.isArray(value) ? value.find((v) => typeof v === "string") : value
    return typeof text === "string" ? text : null
  }
  return {
    headersParsed: state.headers !== null,
    headerLines: state.headerLines,
    subject: decoded("subject"),
    from: addressesOf(headers, "from"),
    to: addressesOf(headers, "to"),
    cc: addressesOf(headers, "cc"),
    bcc: addressesOf(headers, "bcc"),
    replyTo: addressesOf(headers, "reply-to"),
    autoSubmitted: decoded("auto-submitted"),
    precedence: decoded("precedence"),
    xMailer: decoded("x-mailer"),
    text: state.text,
    html: state.html,
    attachments: state.attachments,
    attachmentsDropped: state.attachmentsDropped,
    errors: state.errors,
    // mailparser decodes what it cannot read to U+FFFD, which the checks below report
    decodingWarnings: [],
    timedOut: state.timedOut,
    complete: state.complete
  }
}

const engines: Record<MimeParserName, MimeEngine> = { mailparser: mailparserEngine, "postal-mime": runPostalMime }

// ---------------------------------------------------------------------------------------------
// building the result

const emptySelectedHeaders: SelectedHeaders = {
  listUnsubscribe: null,
  listUnsubscribePost: null,
  listId: null,
  autoSubmitted: null,
  precedence: null,
  xMailer: null
}

/** Unfolded, trimmed and capped; null when empty. */
const cleanDecodedHeader = (value: string | null): string | null => {
  if (value === null) return null
  const trimmed = unfold(value)
  return trimmed === "" ? null : trimmed.slice(0, MAX_HEADER_VALUE)
}

const fromEngineResult = (
  raw: EngineResult,
  size: number,
  bodyParsed: boolean,
  limits: MimeLimits,
  warnings: Array<string>
): ParsedMessage => {
  const lines = raw.headerLines

  const messageId = normaliseIdToken(rawHeaderValue(lines, "message-id"))
  const inReplyTo = normaliseIdToken(rawHeaderValue(lines, "in-reply-to"))
  const references = referenceTokens(allRawHeaderValues(lines, "references"))
  const dateValue = rawHeaderValue(lines, "date")
  const date = parseMailDate(dateValue)
  const from = raw.from

  if (messageId === null) warnings.push("missing or malformed Message-ID header")
  if (dateValue === null) warnings.push("missing Date header")
  else if (date === null) warnings.push(`unparsable Date header: ${dateValue.slice(0, 100)}`)
  if (from.length === 0) warnings.push("missing or empty From header")
  for (const error of raw.errors) warnings.push(`MIME parser: ${error}`)
  warnings.push(...raw.decodingWarnings)
  if (raw.timedOut) warnings.push(`parsing took longer than ${limits.timeoutMs} ms and was abandoned`)
  if (raw.attachmentsDropped > 0) {
    warnings.push(`${raw.attachmentsDropped} attachments beyond the limit of ${limits.maxAttachments} not listed`)
  }

  let textBody: string | null = null
  let htmlBody: string | null = null
  if (bodyParsed) {
    if (raw.text !== null && raw.text !== "") {
      const cut = truncateUtf8(raw.text, limits.maxTextBytes)
      if (cut.truncated) warnings.push(`text body cut to ${limits.maxTextBytes} bytes`)
      if (cut.text.includes("\uFFFD"))
        warnings.push("text body contains undecodable characters (bad or unknown charset)")
      textBody = cut.text
    }
    if (raw.html !== null && raw.html !== "") {
      const input = truncateUtf8(raw.html, limits.maxHtmlBytes)
      if (input.truncated) warnings.push(`HTML body cut to ${limits.maxHtmlBytes} bytes before sanitizing`)
      try {
        const sanitized = truncateUtf8(
          sanitizeMailHtml(input.text, { allowRemoteImages: limits.allowRemoteImages }),
          limits.maxHtmlBytes
        )
        htmlBody = sanitized.text
      } catch (error) {
        warnings.push(`HTML sanitizer failed, HTML dropped: ${describeError(error)}`)
      }
    }
    // mailparser converts HTML to text only below maxHtmlBytes, postal-mime not at all: strip the
    // sanitized HTML
    if (textBody === null && htmlBody !== null) {
      textBody = truncateUtf8(sanitizedHtmlToText(htmlBody), limits.maxTextBytes).text
      if (textBody.includes("\uFFFD"))
        warnings.push("text body contains undecodable characters (bad or unknown charset)")
    }
  }

  return {
    messageId,
    inReplyTo,
    references,
    subject: cleanDecodedHeader(raw.subject),
    from,
    to: raw.to,
    cc: raw.cc,
    bcc: raw.bcc,
    replyTo: raw.replyTo,
    date,
    textBody,
    htmlBody,
    attachments: bodyParsed ? raw.attachments : [],
    headers: {
      listUnsubscribe: rawHeaderValue(lines, "list-unsubscribe"),
      listUnsubscribePost: rawHeaderValue(lines, "list-unsubscribe-post"),
      listId: rawHeaderValue(lines, "list-id"),
      autoSubmitted: cleanDecodedHeader(raw.autoSubmitted),
      precedence: cleanDecodedHeader(raw.precedence),
      xMailer: cleanDecodedHeader(raw.xMailer)
    },
    size,
    bodyParsed,
    warnings
  }
}

/** Parses only the header block (oversized message, or a body the parser choked on). */
const parseHeadersOnly = async (
  source: Buffer,
  limits: MimeLimits,
  warnings: Array<string>
): Promise<ParsedMessage> => {
  const { block, truncated } = headerBlock(source, Math.max(1_024, limits.maxHeaderBytes - 4))
  if (truncated) warnings.push(`header block cut to ${block.length} bytes`)
  // mailsplit charges every header line at least 64 bytes against maxHeadSize; the block is
  // already cut, so its real cost is what is allowed here
  let lineCount = 1
  for (const byte of block) if (byte === 10) lineCount++
  const raw = await engines[limits.parser](Buffer.concat([block, Buffer.from("\r\n\r\n")]), {
    ...limits,
    maxHeaderBytes: block.length + 64 * lineCount + 1_024
  })
  if (!raw.headersParsed) return rawHeaderFallback(source, [...warnings, ...raw.errors.map((e) => `MIME parser: ${e}`)])
  return fromEngineResult(raw, source.length, false, limits, warnings)
}

/**
 * Last resort without mailparser: Message-ID, References, In-Reply-To, Subject and Date read
 * raw from the header block. Also used by the worker pool when a worker dies or hangs.
 */
export const fallbackParsedMessage = (source: Uint8Array, warnings: ReadonlyArray<string>): ParsedMessage =>
  finalise(rawHeaderFallback(source, warnings))

const rawHeaderFallback = (source: Uint8Array, warnings: ReadonlyArray<string>): ParsedMessage => {
  const buffer = Buffer.from(source.buffer, source.byteOffset, source.byteLength)
  const { block } = headerBlock(buffer, 64 * 1024)
  const lines: Array<{ key: string; line: string }> = []
  for (const line of block.toString("latin1").split(/\r?\n(?![ \t])/)) {
    const colon = line.indexOf(":")
    if (colon > 0) lines.push({ key: line.slice(0, colon).trim().toLowerCase(), line })
  }
  const subject = rawHeaderValue(lines, "subject")
  return {
    messageId: normaliseIdToken(rawHeaderValue(lines, "message-id")),
    inReplyTo: normaliseIdToken(rawHeaderValue(lines, "in-reply-to")),
    references: referenceTokens(allRawHeaderValues(lines, "references")),
    subject,
    from: [],
    to: [],
    cc: [],
    bcc: [],
    replyTo: [],
    date: parseMailDate(rawHeaderValue(lines, "date")),
    textBody: null,
    htmlBody: null,
    attachments: [],
    headers: emptySelectedHeaders,
    size: source.byteLength,
    bodyParsed: false,
    warnings: [...warnings, "headers read without MIME decoding"]
  }
}

const cleanAddresses = (list: ReadonlyArray<ParsedAddress>): ReadonlyArray<ParsedAddress> =>
  list.map((entry) => ({
    name: entry.name === null ? null : withoutNul(entry.name),
    address: entry.address === null ? null : withoutNul(entry.address)
  }))

const cleanNullable = (value: string | null): string | null => (value === null ? null : withoutNul(value))

/** Removes NUL characters everywhere (with a warning) and flags undecodable header text. */
const finalise = (message: ParsedMessage): ParsedMessage => {
  const warnings = [...message.warnings]
  const texts = [message.subject, message.textBody, message.htmlBody, ...message.from.map((a) => a.name)]
  if (texts.some((text) => text?.includes("\u0000") === true)) warnings.push("NUL characters removed")
  const headerText = [message.subject, ...[...message.from, ...message.to, ...message.cc].map((a) => a.name)]
  if (headerText.some((text) => text?.includes("\uFFFD") === true)) {
    warnings.push("headers contain undecodable characters (bad or unknown charset)")
  }
  return {
    ...message,
    subject: cleanNullable(message.subject),
    from: cleanAddresses(message.from),
    to: cleanAddresses(message.to),
    cc: cleanAddresses(message.cc),
    bcc: cleanAddresses(message.bcc),
    replyTo: cleanAddresses(message.replyTo),
    textBody: cleanNullable(message.textBody),
    htmlBody: cleanNullable(message.htmlBody),
    attachments: message.attachments.map((attachment) => ({
      ...attachment,
      filename: cleanNullable(attachment.filename)
    })),
    headers: {
      listUnsubscribe: cleanNullable(message.headers.listUnsubscribe),
      listUnsubscribePost: cleanNullable(message.headers.listUnsubscribePost),
      listId: cleanNullable(message.headers.listId),
      autoSubmitted: cleanNullable(message.headers.autoSubmitted),
      precedence: cleanNullable(message.headers.precedence),
      xMailer: cleanNullable(message.headers.xMailer)
    },
    warnings
  }
}

/** Parses one message. Never rejects; see the module comment. */
export const parseMessage = async (
  source: Uint8Array,
  limits: MimeLimits = defaultMimeLimits
): Promise<ParsedMessage> => finalise(await parseUnchecked(source, limits))

const parseUnchecked = async (source: Uint8Array, limits: MimeLimits): Promise<ParsedMessage> => {
  const warnings: Array<string> = []
  try {
    const buffer = Buffer.isBuffer(source) ? source : Buffer.from(source.buffer, source.byteOffset, source.byteLength)
    if (buffer.length > limits.maxMessageBytes) {
      warnings.push(`message of ${buffer.length} bytes exceeds ${limits.maxMessageBytes} bytes: body not parsed`)
      return await parseHeadersOnly(buffer, limits, warnings)
    }
    const raw = await engines[limits.parser](buffer, limits)
    if (!raw.headersParsed) {
      warnings.push(...raw.errors.map((e) => `MIME parser: ${e}`))
      if (raw.timedOut) warnings.push(`parsing took longer than ${limits.timeoutMs} ms and was abandoned`)
      return await parseHeadersOnly(buffer, limits, warnings)
    }
    if (!raw.complete) warnings.push("message body could not be parsed completely")
    return fromEngineResult(raw, buffer.length, raw.complete, limits, warnings)
  } catch (error) {
    return rawHeaderFallback(source, [...warnings, `parser failure: ${describeError(error)}`])
  }
}

// ---------------------------------------------------------------------------------------------
// threading

/** `id@host` from `<id@host>` (or a bare id), whitespace removed; null when empty. */
export const normaliseMessageId = (value: string | null): string | null => {
  if (value === null) return null
  const id = value.replace(/[<>\s]/g, "")
  return id === "" ? null : id
}

/**
 * Keys under which this message's thread may already be known, best first:
 * 1. `references[0]`, the thread root (RFC 5322: References starts with the first message),
 * 2. `inReplyTo`, the parent, for clients that send no References,
 * 3. the other references, nearest ancestor first,
 * 4. the message's own Message-ID (a thread starter).
 * How the sync uses it: look up an existing thread whose key or member Message-ID equals one of
 * the candidates, in this order, and join it; otherwise start a thread keyed by `candidates[0]`.
 * Well-behaved replies all share `references[0]`, so they agree without a lookup. A message with
 * none of these headers gets an empty list: key it by something unique to it (e.g. its UID).
 */
export const threadKeyCandidates = (
  parsed: Pick<ParsedMessage, "messageId" | "inReplyTo" | "references">
): ReadonlyArray<string> => {
  const ordered = [
    parsed.references[0] ?? null,
    parsed.inReplyTo,
    ...[...parsed.references.slice(1)].reverse(),
    parsed.messageId
  ]
  const out: Array<string> = []
  for (const value of ordered) {
    const id = normaliseMessageId(value)
    if (id !== null && !out.includes(id)) out.push(id)
  }
  return out
}
