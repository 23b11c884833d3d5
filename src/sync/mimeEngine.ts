/**
 * What both MIME engines (mailparser in mime.ts, postal-mime in postalMimeParse.ts) share: the
 * limits, the shape they hand over, and small helpers. No Effect dependency and erasable syntax
 * only: it runs inside the parser worker threads.
 */
/** The MIME libraries the sync can parse with (MAIL_PARSER). */
export type MimeParserName = "postal-mime" | "mailparser"
export const mimeParserNames: ReadonlyArray<MimeParserName> = ["postal-mime", "mailparser"]

export interface MimeLimits {
  /** Larger messages are not parsed beyond their header block. */
  readonly maxMessageBytes: number
  /** Largest header block (of the message or of one part). */
  readonly maxHeaderBytes: number
  /** `textBody` is cut to this many UTF-8 bytes. */
  readonly maxTextBytes: number
  /** HTML is cut to this many bytes before and after sanitizing. */
  readonly maxHtmlBytes: number
  /** Attachment metadata entries kept (the rest is counted in a warning). */
  readonly maxAttachments: number
  /** MIME parts in one message (mailparser's maxChildNodes). */
  readonly maxParts: number
  /**
   * A parse that takes longer is abandoned with a warning (mailparser; postal-mime does not yield
   * while it parses, so there the parser pool's deadline is the only bound).
   */
  readonly timeoutMs: number
  /** Keep http(s) image sources in the sanitized HTML (off: they move to data-remote-src). */
  readonly allowRemoteImages: boolean
  /** The MIME library that decodes (travels with the limits into the parser threads). */
  readonly parser: MimeParserName
}

export const defaultMimeLimits: MimeLimits = {
  maxMessageBytes: 25 * 1024 * 1024,
  maxHeaderBytes: 256 * 1024,
  maxTextBytes: 512 * 1024,
  maxHtmlBytes: 1024 * 1024,
  maxAttachments: 100,
  maxParts: 500,
  timeoutMs: 10_000,
  allowRemoteImages: false,
  parser: "postal-mime"
}

export interface ParsedAddress {
  readonly name: string | null
  readonly address: string | null
}

export interface AttachmentMeta {
  readonly filename: string | null
  readonly contentType: string
  /** Decoded size in bytes. */
  readonly size: number
  /** Without angle brackets, as used in cid: URLs. */
  readonly contentId: string | null
  readonly disposition: string | null
  readonly sha256: string | null
}

/**
 * What a MIME library hands over, before the shared code below derives what is stored. Header
 * values are decoded (encoded words, charsets) but not yet unfolded, trimmed or capped.
 */
export interface EngineResult {
  /** False when not even the header block could be read. */
  readonly headersParsed: boolean
  /** The top-level header lines as sent (folds included), for the values read raw. */
  readonly headerLines: ReadonlyArray<{ readonly key: string; readonly line: string }>
  readonly subject: string | null
  readonly from: ReadonlyArray<ParsedAddress>
  readonly to: ReadonlyArray<ParsedAddress>
  readonly cc: ReadonlyArray<ParsedAddress>
  readonly bcc: ReadonlyArray<ParsedAddress>
  readonly replyTo: ReadonlyArray<ParsedAddress>
  readonly autoSubmitted: string | null
  readonly precedence: string | null
  readonly xMailer: string | null
  readonly text: string | null
  readonly html: string | null
  readonly attachments: ReadonlyArray<AttachmentMeta>
  readonly attachmentsDropped: number
  readonly errors: ReadonlyArray<string>
  /** What the library decoded by a guess (an unknown charset), as warnings to store. */
  readonly decodingWarnings: ReadonlyArray<string>
  readonly timedOut: boolean
  /** The whole body was read. */
  readonly complete: boolean
}

/** An engine for `parseMessage`: never rejects (failures go to `errors`). */
export type MimeEngine = (input: Buffer, limits: MimeLimits) => Promise<EngineResult>

const MAX_ADDRESSES = 500
export const MAX_MESSAGE_ID = 998

/** An address as both libraries shape it: a mailbox, or a group of mailboxes. */
export interface AddressLike {
  readonly name: string
  readonly address?: string | undefined
  readonly group?: ReadonlyArray<AddressLike> | undefined
}

/** Group members in place of their group, empty entries dropped, names and addresses capped. */
export const flattenAddresses = (entries: ReadonlyArray<AddressLike>, out: Array<ParsedAddress>): void => {
  for (const entry of entries) {
    if (out.length >= MAX_ADDRESSES) return
    if (entry.group !== undefined) {
      flattenAddresses(entry.group, out)
      continue
    }
    const name = entry.name.trim()
    const address = (entry.address ?? "").trim()
    if (name === "" && address === "") continue
    out.push({ name: name === "" ? null : name.slice(0, 256), address: address === "" ? null : address.slice(0, 320) })
  }
}

export const describeError = (error: unknown): string =>
  error instanceof Error ? error.message.slice(0, 300) : String(error).slice(0, 300)

/** The header block (without the blank line), cut to `maxBytes` at a line end. */
export const headerBlock = (
  source: Buffer,
  maxBytes: number
): { readonly block: Buffer; readonly truncated: boolean } => {
  const window = source.subarray(0, maxBytes + 4)
  let end = window.indexOf("\r\n\r\n")
  if (end < 0) end = window.indexOf("\n\n")
  if (end >= 0 && end <= maxBytes) return { block: source.subarray(0, end), truncated: false }
  if (end < 0 && source.length <= maxBytes) return { block: source, truncated: false }
  const lastNewline = source.subarray(0, maxBytes).lastIndexOf("\n")
  return { block: source.subarray(0, lastNewline > 0 ? lastNewline : maxBytes), truncated: true }
}
