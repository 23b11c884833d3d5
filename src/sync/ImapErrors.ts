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

export type ImapError = ImapAuthenticationError | ImapConnectionError | ImapProtocolError | ImapMailboxMissing

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

/** Maps whatever imapflow (or Node's socket layer) threw to one of the typed IMAP errors. */
export const toImapError = (error: unknown, context: ImapErrorContext): ImapError => {
  if (
    error instanceof ImapAuthenticationError ||
    error instanceof ImapConnectionError ||
    error instanceof ImapProtocolError ||
    error instanceof ImapMailboxMissing
  ) {
    return error
  }
  const fields = fieldsOf(error)
  const code = str(fields.code) ?? ""
  const serverText = str(fields.responseText) ?? (typeof fields.response === "string" ? fields.response : undefined)
  const message = scrub(serverText ?? str(fields.message) ?? String(error), context.secret)
  const serverResponseCode = str(fields.serverResponseCode) ?? null

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
