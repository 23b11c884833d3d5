/**
 * The postal-mime engine of `parseMessage` (MAIL_PARSER=postal-mime, the default): decodes a
 * message with postal-mime and hands over the same `EngineResult` as the mailparser engine, so
 * that the sync stores the same things whichever library decoded. Where postal-mime's own
 * output is shaped differently from mailparser's, this adapter reads what mailparser reads:
 * - From and Reply-To: every address of the first header (postal-mime keeps only one address);
 *   To, Cc and Bcc: the addresses of every such header;
 * - Auto-Submitted, Precedence, X-Mailer: the first header's value without decoding encoded words;
 * - attachments: sha256 and size of the decoded content, Content-ID without brackets; a forwarded
 *   message (message/rfc822) is an attachment, a delivery status report is text.
 * The differences that remain are listed in test/sync/parserDifferential.test.ts.
 *
 * postal-mime parses the whole message in one go (it has no streaming interface), so attachment
 * contents are held until the parse ends; messages above `maxMessageBytes` never get here.
 */
import { isUtf8 } from "node:buffer"
import { createHash } from "node:crypto"
import PostalMime, { type Attachment, addressParser, type Email, type Header } from "postal-mime"
import {
  type AttachmentMeta,
  describeError,
  type EngineResult,
  flattenAddresses,
  headerBlock,
  MAX_MESSAGE_ID,
  type MimeEngine,
  type MimeLimits,
  type ParsedAddress
} from "./mimeEngine.ts"

/** Each header line is charged at least this many bytes, as mailparser's mailsplit does. */
const MIN_HEADER_LINE_COST = 64

/**
 * Whether the top-level header block costs more than `maxBytes`, charged as mailparser charges it.
 * postal-mime's own limit counts the headers of all parts together, so the per-part limit
 * mailparser applies is checked here for the top level.
 */
const headerCostOverLimit = (input: Buffer, maxBytes: number): boolean => {
  let cost = 0
  let lineStart = 0
  while (lineStart < input.length) {
    let lineEnd = input.indexOf(10, lineStart)
    if (lineEnd < 0) lineEnd = input.length
    const length = lineEnd - lineStart
    // an empty line (or a lone CR) ends the header block
    if (length === 0 || (length === 1 && input[lineStart] === 13)) return false
    cost += Math.max(MIN_HEADER_LINE_COST, length + 1)
    if (cost > maxBytes) return true
    lineStart = lineEnd + 1
  }
  return false
}

const firstHeader = (headers: ReadonlyArray<Header>, key: string): Header | undefined =>
  headers.find((header) => header.key === key)

/** The first header's value as sent (unfolded, encoded words kept), like mailparser's generic headers. */
const rawValue = (headers: ReadonlyArray<Header>, key: string): string | null =>
  firstHeader(headers, key)?.value ?? null

const addresses = (headers: ReadonlyArray<Header>, key: string, firstOnly: boolean): Array<ParsedAddress> => {
  const out: Array<ParsedAddress> = []
  const values = firstOnly
    ? [firstHeader(headers, key)?.value ?? ""]
    : headers.filter((header) => header.key === key).map((header) => header.value)
  for (const value of values) if (value !== "") flattenAddresses(addressParser(value), out)
  return out
}

const withoutBrackets = (contentId: string): string => contentId.trim().replace(/^<+/, "").replace(/>+$/, "")

const contentBytes = (content: ArrayBuffer | Uint8Array | string): Uint8Array =>
  typeof content === "string"
    ? Buffer.from(content, "utf8")
    : content instanceof Uint8Array
      ? content
      : new Uint8Array(content)

const attachmentMeta = (
  attachments: ReadonlyArray<Attachment>,
  limits: MimeLimits
): { list: Array<AttachmentMeta>; dropped: number } => {
  const list: Array<AttachmentMeta> = []
  for (const attachment of attachments.slice(0, limits.maxAttachments)) {
    const bytes = contentBytes(attachment.content)
    list.push({
      filename: attachment.filename?.slice(0, 512) ?? null,
      contentType: attachment.mimeType.slice(0, 255),
      size: bytes.byteLength,
      contentId:
        attachment.contentId === undefined
          ? null
          : withoutBrackets(attachment.contentId).slice(0, MAX_MESSAGE_ID) || null,
      disposition: attachment.disposition?.slice(0, 64) ?? null,
      sha256: createHash("sha256").update(bytes).digest("hex")
    })
  }
  return { list, dropped: Math.max(0, attachments.length - limits.maxAttachments) }
}

/**
 * mailparser reads a delivery status report (message/delivery-status, not marked as an attachment)
 * as text and appends it to the text body; postal-mime lists it as an attachment. Kept as text, as
 * before: the status lines (Final-Recipient, Status) are what a bounce is found and analysed by.
 */
const deliveryStatusAsText = (
  email: Email,
  text: string | null
): { readonly attachments: ReadonlyArray<Attachment>; readonly text: string | null } => {
  const isStatus = (attachment: Attachment) =>
    attachment.mimeType === "message/delivery-status" && attachment.disposition !== "attachment"
  const statuses = email.attachments.filter(isStatus)
  if (statuses.length === 0) return { attachments: email.attachments, text }
  const statusTexts = statuses.map((status) =>
    new TextDecoder("utf-8").decode(contentBytes(status.content)).replace(/\r\n/g, "\n").replace(/\n+$/, "")
  )
  return {
    attachments: email.attachments.filter((attachment) => !isStatus(attachment)),
    text: [...(text === null ? [] : [text]), ...statusTexts].join("\n")
  }
}

const headerFields = (email: Email) => ({
  headerLines: email.headerLines,
  subject: email.subject ?? null,
  from: addresses(email.headers, "from", true),
  to: addresses(email.headers, "to", false),
  cc: addresses(email.headers, "cc", false),
  bcc: addresses(email.headers, "bcc", false),
  replyTo: addresses(email.headers, "reply-to", true),
  autoSubmitted: rawValue(email.headers, "auto-submitted"),
  precedence: rawValue(email.headers, "precedence"),
  xMailer: rawValue(email.headers, "x-mailer")
})

const failed = (errors: ReadonlyArray<string>): EngineResult => ({
  headersParsed: false,
  headerLines: [],
  subject: null,
  from: [],
  to: [],
  cc: [],
  bcc: [],
  replyTo: [],
  autoSubmitted: null,
  precedence: null,
  xMailer: null,
  text: null,
  html: null,
  attachments: [],
  attachmentsDropped: 0,
  errors,
  decodingWarnings: [],
  timedOut: false,
  complete: false
})

/** Charset labels the message declares: Content-Type parameters of any part, encoded words. */
const DECLARED_CHARSET = /^content-type:[^\n]*?charset\s*=\s*"?([^"';\s]+)|=\?([^?*\s]+)(?:\*[^?\s]*)?\?[bq]\?/gim

const knownCharsets = new Map<string, boolean>()
const isKnownCharset = (label: string): boolean => {
  const key = label.toLowerCase()
  const cached = knownCharsets.get(key)
  if (cached !== undefined) return cached
  let known = true
  try {
    new TextDecoder(key)
  } catch {
    known = false
  }
  // bounded: a hostile message must not grow the cache without end
  if (knownCharsets.size < 256) knownCharsets.set(key, known)
  return known
}

/**
 * postal-mime reads what it cannot decode as UTF-8 or windows-1252 instead of U+FFFD, so the
 * checks on replacement characters in mime.ts do not see it. Malformed input must still say so:
 * charsets the runtime does not know (postal-mime's guess was used), and 8-bit top-level headers
 * that are not UTF-8 (read as windows-1252).
 */
const decodingWarnings = (input: Buffer, limits: MimeLimits): Array<string> => {
  const warnings: Array<string> = []
  const unknown = new Set<string>()
  const text = input.toString("latin1")
  for (const match of text.matchAll(DECLARED_CHARSET)) {
    const label = match[1] ?? match[2] ?? ""
    if (label !== "" && !isKnownCharset(label)) unknown.add(label.slice(0, 64))
    if (unknown.size >= 5) break
  }
  if (unknown.size > 0) {
    warnings.push(`unknown charset ${[...unknown].join(", ")}: read as UTF-8 or windows-1252`)
  }
  const { block } = headerBlock(input, limits.maxHeaderBytes)
  if (!isUtf8(block)) warnings.push("headers contain 8-bit bytes that are not UTF-8 (read as windows-1252)")
  return warnings
}

/** The top-level header block alone, for a message whose body postal-mime refused. */
const headerBlockOnly = (input: Buffer): Buffer => {
  let end = input.indexOf("\r\n\r\n")
  const lf = input.indexOf("\n\n")
  if (end < 0 || (lf >= 0 && lf < end)) end = lf
  return Buffer.concat([end < 0 ? input : input.subarray(0, end), Buffer.from("\r\n\r\n")])
}

/**
 * postal-mime ends the last line of a message that has no final line break with one; mailparser
 * keeps the bytes as sent. Only a single-part, not base64-encoded body can end on that line.
 */
const withoutAddedFinalBreak = (email: Email, input: Buffer, body: string | undefined): string | null => {
  if (body === undefined) return null
  if (input.length === 0 || input[input.length - 1] === 10 || !body.endsWith("\n")) return body
  const contentType = rawValue(email.headers, "content-type")?.trim().toLowerCase() ?? ""
  const encoding = rawValue(email.headers, "content-transfer-encoding")?.trim().toLowerCase() ?? ""
  if (contentType.startsWith("multipart/") || encoding === "base64") return body
  return body.slice(0, -1)
}

const postalMimeOptions = (limits: MimeLimits) => ({
  attachmentEncoding: "arraybuffer" as const,
  // mailparser lists a forwarded message as an attachment instead of rendering it into the body
  forceRfc822Attachments: true,
  // mailparser's maxChildNodes counts the parts below the top level; postal-mime counts that too
  maxPartCount: limits.maxParts + 1,
  // postal-mime charges the headers of every part against one budget; per part it is checked above
  maxHeadersSize: limits.maxHeaderBytes * 8
})

/**
 * postal-mime copies a view into a buffer of its own; a buffer the input owns whole (as the
 * parser threads receive it) is handed over as it is, which saves that copy per message.
 */
const ownBuffer = (input: Buffer): ArrayBuffer | Buffer =>
  input.buffer instanceof ArrayBuffer && input.byteOffset === 0 && input.byteLength === input.buffer.byteLength
    ? input.buffer
    : input

export const runPostalMime: MimeEngine = async (input, limits) => {
  if (headerCostOverLimit(input, limits.maxHeaderBytes)) {
    return failed([`header block larger than ${limits.maxHeaderBytes} bytes`])
  }
  try {
    // no timeout here: postal-mime parses without yielding to the event loop, so a timer could
    // only fire after it finished; the pool's deadline ends a thread that does not answer
    const email = await PostalMime.parse(ownBuffer(input), postalMimeOptions(limits))
    const body = deliveryStatusAsText(email, withoutAddedFinalBreak(email, input, email.text))
    const { list, dropped } = attachmentMeta(body.attachments, limits)
    return {
      headersParsed: true,
      ...headerFields(email),
      text: body.text,
      html: withoutAddedFinalBreak(email, input, email.html),
      attachments: list,
      attachmentsDropped: dropped,
      errors: [],
      decodingWarnings: decodingWarnings(input, limits),
      timedOut: false,
      complete: true
    }
  } catch (error) {
    // the body broke a limit (parts, nesting, header total): keep the top-level headers, as
    // mailparser does when it stops part-way
    const errors = [describeError(error)]
    try {
      const headersOnly = await PostalMime.parse(headerBlockOnly(input), postalMimeOptions(limits))
      return { ...failed(errors), headersParsed: true, ...headerFields(headersOnly) }
    } catch (headerError) {
      return failed([...errors, describeError(headerError)])
    }
  }
}
