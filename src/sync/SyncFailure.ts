/**
 * What failed in a sync, named for the user and the operator: the step (connect, list, select,
 * flags, expunge, sizes, fetch, store, ...), the mailbox, and the cause. A database cause is told
 * by its SQLSTATE, condition, table, column and constraint, never by its parameters, values or
 * `detail` (they may hold mail content or addresses).
 */
import { Schema } from "effect"
import { SqlError } from "effect/sql"
import {
  ImapAuthenticationError,
  ImapConnectionError,
  type ImapError,
  ImapLimitExceeded,
  ImapMailboxMissing,
  ImapProtocolError
} from "../imap/ImapErrors.ts"

export const SyncPhase = Schema.Literals([
  "connect",
  "list",
  "store_mailboxes",
  "select",
  "reset",
  "flags",
  "expunge",
  "sizes",
  "fetch",
  "store",
  "finish"
])
export type SyncPhase = typeof SyncPhase.Type

const PHASE_TEXT: Record<SyncPhase, string> = {
  connect: "connecting",
  list: "listing the mailboxes",
  store_mailboxes: "storing the mailbox list",
  select: "selecting",
  reset: "dropping the messages of an old UIDVALIDITY",
  flags: "updating flags",
  expunge: "removing expunged messages",
  sizes: "reading message sizes",
  fetch: "fetching messages",
  store: "storing messages",
  finish: "finishing"
}

/** One step of the sync failed. `error` is what the IMAP client or the database reported. */
export class SyncStepFailed extends Schema.TaggedError<SyncStepFailed>()("SyncStepFailed", {
  phase: SyncPhase,
  mailbox: Schema.NullOr(Schema.String),
  message: Schema.String,
  error: Schema.Union([
    ImapAuthenticationError,
    ImapConnectionError,
    ImapProtocolError,
    ImapMailboxMissing,
    ImapLimitExceeded,
    SqlError.SqlError
  ])
}) {}

/** PostgreSQL conditions whose message names only objects, never values. */
const SAFE_MESSAGE_CLASSES = new Set(["08", "23", "25", "40", "42", "53", "55", "57"])

const field = (value: unknown, key: string): string | undefined => {
  if (typeof value !== "object" || value === null || !(key in value)) return undefined
  const found: unknown = Reflect.get(value, key)
  return typeof found === "string" && found !== "" ? found : undefined
}

/** The fields of a database error an operator needs and a log may hold. */
export interface SqlCause {
  readonly reason: string
  readonly code: string | null
  readonly table: string | null
  readonly column: string | null
  readonly constraint: string | null
  /** PostgreSQL's message, only for conditions whose text names objects (not values). */
  readonly message: string | null
}

export const sqlCause = (error: SqlError.SqlError): SqlCause => {
  const driver: unknown = error.reason.cause
  const code = field(driver, "code") ?? null
  const message = field(driver, "message")
  return {
    reason: error.reason._tag,
    code,
    table: field(driver, "table") ?? null,
    column: field(driver, "column") ?? null,
    constraint: field(driver, "constraint") ?? null,
    message:
      code !== null && SAFE_MESSAGE_CLASSES.has(code.slice(0, 2)) && message !== undefined
        ? message.slice(0, 300)
        : (error.reason.message ?? null)
  }
}

export const describeSqlCause = (cause: SqlCause): string => {
  const where = [
    cause.table === null ? null : `table ${cause.table}`,
    cause.column === null ? null : `column ${cause.column}`,
    cause.constraint === null ? null : `constraint ${cause.constraint}`
  ].filter((part) => part !== null)
  return `database error ${cause.reason}${cause.code === null ? "" : ` SQLSTATE ${cause.code}`}${
    where.length > 0 ? ` (${where.join(", ")})` : ""
  }${cause.message === null ? "" : `: ${cause.message}`}`
}

export const stepFailed = (
  phase: SyncPhase,
  mailbox: string | null,
  error: ImapError | SqlError.SqlError
): SyncStepFailed => {
  const cause = error._tag === "SqlError" ? describeSqlCause(sqlCause(error)) : error.message
  const where = mailbox === null ? PHASE_TEXT[phase] : `${PHASE_TEXT[phase]} (mailbox "${mailbox.slice(0, 200)}")`
  return new SyncStepFailed({ phase, mailbox, message: `${where} failed: ${cause}`, error })
}
