import { Schema } from "effect"

/** The server refused the credentials. `message` is the server's reason, never the password. */
export class ImapAuthenticationError extends Schema.TaggedError<ImapAuthenticationError>()("ImapAuthenticationError", {
  message: Schema.String,
  serverResponseCode: Schema.NullOr(Schema.String)
}) {}

/** `not_allowed`: the destination policy refused the host before any socket was opened (ImapDestinations.ts). */
export const ImapConnectionReason = Schema.Literals([
  "dns",
  "refused",
  "tls",
  "timeout",
  "closed",
  "other",
  "not_allowed"
])
export type ImapConnectionReason = typeof ImapConnectionReason.Type

/** The server could not be reached, or the connection broke. Transient unless `reason` is `dns`, `tls` or `not_allowed`. */
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
  error._tag === "ImapConnectionError" &&
  error.reason !== "dns" &&
  error.reason !== "tls" &&
  error.reason !== "not_allowed"

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

/** The most characters of a server's (or the socket layer's) text an error message carries. */
export const SERVER_TEXT_MAX = 200

/**
 * Text from outside (an IMAP server's answer, a library message) made fit for our messages, the
 * API and `statusMessage`: control, format (bidi overrides, zero-width) and line/paragraph
 * separator characters become spaces, runs of white space one space, double quotes single ones
 * (so the quoted form below stays unambiguous), and at most SERVER_TEXT_MAX characters survive.
 */
/** ANSI/VT100 escape sequences (colour codes and cursor moves a terminal would obey). */
const ANSI_ESCAPE = new RegExp(`${String.fromCharCode(27)}\\[[0-9;?]*[ -/]*[@-~]`, "g")

export const boundedText = (text: string): string => {
  const clean = text
    // a 100 KB answer is cut before the per-character work
    .slice(0, SERVER_TEXT_MAX * 4)
    .replace(ANSI_ESCAPE, "")
    .replace(/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu, " ")
    .replace(/\s+/g, " ")
    .replace(/"/g, "'")
    .trim()
  const characters = Array.from(clean)
  return characters.length > SERVER_TEXT_MAX || text.length > SERVER_TEXT_MAX * 4
    ? `${characters.slice(0, SERVER_TEXT_MAX - 1).join("")}…`
    : clean
}

/** A server's own words, bounded and marked as theirs: `the server said: "…"`. */
export const serverSaid = (text: string): string => `the server said: "${boundedText(text)}"`

/** Plain descriptions for TLS failures, instead of OpenSSL's internals. */
const TLS_DESCRIPTIONS: ReadonlyArray<readonly [RegExp, string]> = [
  [/^(DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN)$/, "certificate not trusted (self-signed)"],
  [
    /^(UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT|UNABLE_TO_GET_ISSUER_CERT_LOCALLY|CERT_UNTRUSTED|CERT_SIGNATURE_FAILURE|CERT_CHAIN_TOO_LONG|INVALID_CA|CERT_REJECTED)$/,
    "certificate not trusted (unknown issuer; IMAP_TLS_CA_FILE can add a private CA)"
  ],
  [/^CERT_HAS_EXPIRED$/, "certificate expired"],
  [/^CERT_NOT_YET_VALID$/, "certificate not yet valid"],
  [/^CERT_REVOKED$/, "certificate revoked"],
  [/^(ERR_TLS_CERT_ALTNAME_INVALID|HOSTNAME_MISMATCH)$/, "certificate does not match the host name"],
  [
    /^(ERR_SSL_WRONG_VERSION_NUMBER|ERR_SSL_PACKET_LENGTH_TOO_LONG|ERR_SSL_HTTP_REQUEST|ERR_SSL_RECORD_LENGTH_MISMATCH)$/,
    "the server does not speak TLS on this port (check the port and the security setting)"
  ],
  [
    /^(ERR_SSL_UNSUPPORTED_PROTOCOL|ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION|ERR_SSL_NO_PROTOCOLS_AVAILABLE)$/,
    "no TLS version in common with the server"
  ],
  [/^(ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE|ERR_SSL_NO_SHARED_CIPHER)$/, "no cipher in common with the server"],
  [/^ClosedAfterConnectTLS$/, "the server closed the connection during the handshake"]
]

const tlsDescription = (code: string): string => {
  const found = TLS_DESCRIPTIONS.find(([pattern]) => pattern.test(code))
  return `TLS handshake failed${found === undefined ? "" : `: ${found[1]}`}`
}

const LIMIT_CODES: Record<string, { readonly limit: ImapLimit; readonly what: string }> = {
  LineTooLarge: { limit: "line", what: "a line longer than" },
  LiteralTooLarge: { limit: "literal", what: "a literal larger than" },
  ResponseTooLarge: { limit: "response", what: "a response larger than" },
  TooManyTokens: { limit: "tokens", what: "a response of more tokens than" }
}

/**
 * Maps whatever imapflow (or Node's socket layer) threw to one of the typed IMAP errors: the one
 * place an IMAP failure becomes our error, so the one place its text is bounded (SERVER_TEXT_MAX),
 * cleaned of control characters, marked as the server's words, and scrubbed of the password.
 */
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
  // the server's words are marked as theirs; our own (or Node's) text is only bounded
  const message =
    serverText !== undefined
      ? serverSaid(scrub(serverText, context.secret))
      : boundedText(scrub(str(fields.message) ?? String(error), context.secret))
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
  // OpenSSL's internals ("error:0A00010B:SSL routines:...") stay out: a plain description instead
  if (fields.tlsFailed === true || TLS_CODE.test(code)) {
    return new ImapConnectionError({ reason: "tls", message: tlsDescription(code) })
  }
  if (TIMEOUT_CODES.has(code)) return new ImapConnectionError({ reason: "timeout", message })
  if (CLOSED_CODES.has(code)) return new ImapConnectionError({ reason: "closed", message })
  // other socket-level failures (EHOSTUNREACH, ENETUNREACH, ...)
  if (/^E[A-Z]+$/.test(code)) return new ImapConnectionError({ reason: "other", message })
  // NO/BAD answers, unparsable responses and library-level refusals (limits, bad ranges)
  return new ImapProtocolError({ command: context.command, message, serverResponseCode })
}
