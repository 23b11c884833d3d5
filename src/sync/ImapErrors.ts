import { Schema } from "effect"

/** The server refused the credentials. `message` is the server's reason, never the password. */
export class ImapAuthenticationError extends Schema.TaggedError<ImapAuthenticationError>()("ImapAuthenticationError", {
  message: Schema.String,
  serverResponseCode: Schema.NullOr(Schema.String)
}) {}

export const ImapConnectionReason = Schema.Literals(["dns", "refused", "tls", "timeout", "closed", "other"])
export type ImapConnectionReason = typeof ImapConnectionReason.Type

/** The server could not be reached, or the connection broke. Transient unless `reason` is `dns` or `tls`. */
export class ImapConnectionError extends Schema.TaggedError<ImapConnectionError>()("ImapConnectionError", {
  reason: ImapConnectionReason,
  message: Schema.String
}) {}

/** The server answered a command with NO/BAD, or sent something the client could not use. */
export class ImapProtocolError extends Schema.TaggedError<ImapProtocolError>()("ImapProtocolError", {
  command: Schema.String,
  message: Schema.String,
  serverResponseCode: Schema.NullOr(Schema.String)
}) {}

export class ImapMailboxMissing extends Schema.TaggedError<ImapMailboxMissing>()("ImapMailboxMissing", {
  path: Schema.String,
  message: Schema.String
}) {}

export const ImapLimit = Schema.Literals(["line", "literal", "response", "tokens", "fetch"])
export type ImapLimit = typeof ImapLimit.Type

/**
 * The server sent more than the client accepts (a line without an end, a literal or response above
 * the bounds in `ImapLimits`, more message bytes than a UID FETCH was planned for). The connection
 * was closed at the bound, so the attempt cost at most `maxBytes`; retrying would cost it again.
 */
export class ImapLimitExceeded extends Schema.TaggedError<ImapLimitExceeded>()("ImapLimitExceeded", {
  limit: ImapLimit,
  maxBytes: Schema.Number,
  message: Schema.String
}) {}

export type ImapError =
  | ImapAuthenticationError
  | ImapConnectionError
  | ImapProtocolError
  | ImapMailboxMissing
  | ImapLimitExceeded

/** Whether retrying later can help (network trouble), as opposed to a permanent refusal. */
export const isTransientImapError = (error: ImapError): boolean =>
  error._tag === "ImapConnectionError" && error.reason !== "dns" && error.reason !== "tls"

interface ErrorFields {
  readonly code?: unknown
  readonly message?: unknown
  readonly responseText?: unknown
  readonly responseStatus?: unknown
  readonly serverResponseCode?: unknown
  readonly response?: unknown
  readonly authenticationFailed?: unknown
  readonly tlsFailed?: unknown
  readonly mailboxMissing?: unknown
  readonly reason?: unknown
  readonly maxSize?: unknown
}

const fieldsOf = (error: unknown): ErrorFields => (typeof error === "object" && error !== null ? error : {})
const str = (value: unknown): string | undefined => (typeof value === "string" && value !== "" ? value : undefined)

const TLS_CODE =
  /^(ERR_SSL|ERR_TLS|ERR_OSSL|CERT_|DEPTH_ZERO|SELF_SIGNED|UNABLE_TO_|HOSTNAME_MISMATCH|ClosedAfterConnectTLS)/
const CLOSED_CODES = new Set([
  "NoConnection",
  "EConnectionClosed",
  "StateLogout",
  "ClosedAfterConnectText",
  "ECONNRESET",
  "EPIPE",
  "ECONNABORTED"
])
const TIMEOUT_CODES = new Set(["CONNECT_TIMEOUT", "GREETING_TIMEOUT", "UPGRADE_TIMEOUT", "ETIMEOUT", "ETIMEDOUT"])
const DNS_CODES = new Set(["ENOTFOUND", "EAI_AGAIN", "EAI_FAIL", "EAI_NONAME"])

export interface ImapErrorContext {
  readonly command: string
  readonly path?: string
  /** Scrubbed from every message, in case a server or library echoes it. */
  readonly secret?: string
}

const scrub = (text: string, secret: string | undefined): string =>
  secret === undefined || secret.length < 2 ? text : text.split(secret).join("***")

const LIMIT_CODES: Record<string, { readonly limit: ImapLimit; readonly what: string }> = {
  LineTooLarge: { limit: "line", what: "a line longer than" },
  LiteralTooLarge: { limit: "literal", what: "a literal larger than" },
  ResponseTooLarge: { limit: "response", what: "a response larger than" },
  TooManyTokens: { limit: "tokens", what: "a response of more tokens than" }
}

/** Maps whatever imapflow (or Node's socket layer) threw to one of the typed IMAP errors. */
export const toImapError = (error: unknown, context: ImapErrorContext): ImapError => {
  if (
    error instanceof ImapAuthenticationError ||
    error instanceof ImapConnectionError ||
    error instanceof ImapProtocolError ||
    error instanceof ImapMailboxMissing ||
    error instanceof ImapLimitExceeded
  ) {
    return error
  }
  const fields = fieldsOf(error)
  const code = str(fields.code) ?? ""
  const serverText = str(fields.responseText) ?? (typeof fields.response === "string" ? fields.response : undefined)
  const message = scrub(serverText ?? str(fields.message) ?? String(error), context.secret)
  const serverResponseCode = str(fields.serverResponseCode) ?? null

  const limit = LIMIT_CODES[code]
  if (limit !== undefined) {
    const maxBytes = typeof fields.maxSize === "number" ? fields.maxSize : 0
    const unit = limit.limit === "tokens" ? "tokens" : "bytes"
    return new ImapLimitExceeded({
      limit: limit.limit,
      maxBytes,
      // "connection": reported by the socket's reader, between or under commands
      message: `the IMAP server sent ${limit.what} ${maxBytes} ${unit} (${code}${
        context.command === "connection" ? "" : ` during ${context.command}`
      }${context.path === undefined ? "" : ` in ${context.path}`}); the connection was closed`
    })
  }
  if (fields.authenticationFailed === true || serverResponseCode === "AUTHENTICATIONFAILED") {
    return new ImapAuthenticationError({ message, serverResponseCode })
  }
  if (fields.mailboxMissing === true || serverResponseCode === "NONEXISTENT") {
    return new ImapMailboxMissing({ path: context.path ?? "", message })
  }
  if (DNS_CODES.has(code)) return new ImapConnectionError({ reason: "dns", message })
  if (code === "ECONNREFUSED") return new ImapConnectionError({ reason: "refused", message })
  if (fields.tlsFailed === true || TLS_CODE.test(code)) return new ImapConnectionError({ reason: "tls", message })
  if (TIMEOUT_CODES.has(code)) return new ImapConnectionError({ reason: "timeout", message })
  if (CLOSED_CODES.has(code)) return new ImapConnectionError({ reason: "closed", message })
  // other socket-level failures (EHOSTUNREACH, ENETUNREACH, ...)
  if (/^E[A-Z]+$/.test(code)) return new ImapConnectionError({ reason: "other", message })
  // NO/BAD answers, unparsable responses and library-level refusals (limits, bad ranges)
  return new ImapProtocolError({ command: context.command, message, serverResponseCode })
}
