/**
 * The boundary where imapflow's objects become ours. imapflow hands over whatever the server sent,
 * in its own shapes, and leaves out what the server did not say: an unsubscribed folder has no
 * `subscribed`, a folder without a role no `specialUse`, a server without CONDSTORE no modseqs, a
 * broken one no UIDNEXT. Every field is decoded here (effect/Schema) and given a defined meaning:
 *
 * | field                         | missing / out of range means                                     |
 * |-------------------------------|------------------------------------------------------------------|
 * | LIST path                     | required: an entry without one is a typed error                  |
 * | LIST name                     | the last segment of the path                                     |
 * | LIST delimiter                | null (a flat namespace)                                          |
 * | LIST flags                    | none                                                             |
 * | LIST \HasChildren/\HasNoChildren | unused: the hierarchy comes from the paths and the delimiter   |
 * | LIST specialUse               | null (no role; unknown roles too); imapflow may derive it from   |
 * |                               | a well-known name when the server has no SPECIAL-USE             |
 * | LIST subscribed               | false (imapflow only sets it for subscribed folders)            |
 * | STATUS messages/unseen        | null (unknown)                                                   |
 * | STATUS uidNext/uidValidity    | null (unknown: the mailbox is then never skipped as unchanged)   |
 * | STATUS/SELECT highestModseq   | null (no CONDSTORE for the mailbox; 0 too, as RFC 7162 says)      |
 * | SELECT uidValidity            | required, 1..2^32-1: without it no stored UID can be trusted      |
 * | SELECT uidNext                | null (unknown; only a hint for the next sync)                    |
 * | SELECT exists                 | null (unknown: the mailbox is searched anyway)                   |
 * | FETCH uid                     | required, 1..2^32-1                                              |
 * | FETCH flags                   | not reported (an earlier report of the same UID is kept)         |
 * | FETCH size                    | null (unknown; sources are measured instead)                     |
 * | FETCH internalDate            | null (unparsable dates too)                                      |
 * | FETCH modseq                  | null                                                             |
 * | FETCH source                  | not reported, or `BODY[] NIL` (an expunged message): flags only  |
 *
 * ENVELOPE and BODYSTRUCTURE are never requested by the sync (it parses the source itself), so
 * nothing of them crosses this boundary. A field of an unexpected type (a string where a boolean
 * belongs) is an `ImapProtocolError` naming the command, the mailbox and the field, never a
 * database error later on.
 */
import { Result, Schema } from "effect"
import { ImapProtocolError } from "./ImapErrors.ts"

export type SpecialUse = "inbox" | "sent" | "drafts" | "trash" | "junk" | "archive" | "all" | "flagged"

export interface MailboxStatus {
  readonly messages: number | null
  readonly unseen: number | null
  readonly uidNext: number | null
  readonly uidValidity: number | null
  readonly highestModseq: string | null
}

export interface MailboxInfo {
  readonly path: string
  readonly name: string
  readonly delimiter: string | null
  readonly specialUse: SpecialUse | null
  readonly flags: ReadonlyArray<string>
  readonly subscribed: boolean
  /** `\Noselect` / `\NonExistent` mailboxes are only containers. */
  readonly selectable: boolean
  /** Filled when listed with `{ status: true }`. */
  readonly status: MailboxStatus | null
}

export interface MailboxState {
  readonly path: string
  /** 32-bit by the protocol, so a JS number holds it exactly. */
  readonly uidValidity: number
  /** null when the server did not report a usable UIDNEXT. */
  readonly uidNext: number | null
  /** 63-bit, hence a decimal string; null when the server has no CONDSTORE for this mailbox. */
  readonly highestModseq: string | null
  /** null when the server did not report a usable EXISTS. */
  readonly exists: number | null
  readonly readOnly: boolean
}

/** One FETCH report as the sync understands it. */
export interface FetchReport {
  readonly uid: number
  /** null: the report carried no FLAGS. */
  readonly flags: ReadonlyArray<string> | null
  readonly size: number | null
  readonly internalDate: Date | null
  readonly modseq: string | null
  readonly source: Buffer | null
}

// ---------------------------------------------------------------------------------------------

const MAX_UINT32 = 4_294_967_295
const MAX_MODSEQ = 9_223_372_036_854_775_807n

/** Missing, null and undefined all mean "not reported". */
const opt = <S extends Schema.Top>(schema: S) => Schema.optional(Schema.NullOr(schema))

const FlagSet = Schema.ReadonlySet(Schema.String)

export const StatusShape = Schema.Struct({
  messages: opt(Schema.Number),
  unseen: opt(Schema.Number),
  uidNext: opt(Schema.Number),
  uidValidity: opt(Schema.BigInt),
  highestModseq: opt(Schema.BigInt)
})

export const ListEntryShape = Schema.Struct({
  path: Schema.String.check(Schema.isMinLength(1)),
  name: opt(Schema.String),
  delimiter: opt(Schema.String),
  flags: opt(FlagSet),
  specialUse: opt(Schema.String),
  subscribed: opt(Schema.Boolean),
  status: opt(StatusShape)
})

export const MailboxShape = Schema.Struct({
  uidValidity: opt(Schema.BigInt),
  uidNext: opt(Schema.Number),
  exists: opt(Schema.Number),
  highestModseq: opt(Schema.BigInt),
  noModseq: opt(Schema.Boolean),
  readOnly: opt(Schema.Boolean)
})

export const FetchShape = Schema.Struct({
  uid: Schema.Number,
  flags: opt(FlagSet),
  size: opt(Schema.Number),
  // any Date instance: imapflow turns an unparsable INTERNALDATE into an invalid Date, which `toDate`
  // reads as "not reported" (Schema.Date would reject the whole FETCH for it)
  internalDate: opt(Schema.Union([Schema.instanceOf(globalThis.Date), Schema.String])),
  modseq: opt(Schema.BigInt),
  // `BODY[] NIL` (Dovecot's answer for a message another session expunged during the FETCH) reaches
  // us from imapflow as `false`: the body is not reported
  source: opt(Schema.Union([Schema.instanceOf(Buffer), Schema.Literal(false)]))
})

const SPECIAL_USE: Record<string, SpecialUse> = {
  "\\inbox": "inbox",
  "\\sent": "sent",
  "\\drafts": "drafts",
  "\\trash": "trash",
  "\\junk": "junk",
  "\\archive": "archive",
  "\\all": "all",
  "\\flagged": "flagged"
}

export const normaliseSpecialUse = (value: string | null | undefined): SpecialUse | null =>
  value === undefined || value === null ? null : (SPECIAL_USE[value.toLowerCase()] ?? null)

/** \Recent is per-session and gone in IMAP4rev2: useless for a mirror. */
export const normaliseFlags = (flags: ReadonlySet<string> | null | undefined): ReadonlyArray<string> =>
  flags === undefined || flags === null ? [] : [...flags].filter((flag) => flag.toLowerCase() !== "\\recent")

/** A count: a non-negative integer up to 2^32-1, else unknown. */
const count = (value: number | null | undefined): number | null =>
  typeof value === "number" && Number.isInteger(value) && value >= 0 && value <= MAX_UINT32 ? value : null

/** A UID or UIDVALIDITY: 1..2^32-1, else unknown. */
export const uid32 = (value: number | bigint | null | undefined): number | null => {
  if (value === undefined || value === null) return null
  const n = typeof value === "bigint" ? (value >= 1n && value <= BigInt(MAX_UINT32) ? Number(value) : null) : value
  return n !== null && Number.isInteger(n) && n >= 1 && n <= MAX_UINT32 ? n : null
}

/** UIDNEXT may be one above the highest UID. */
const uidNext = (value: number | null | undefined): number | null =>
  typeof value === "number" && Number.isInteger(value) && value >= 1 && value <= MAX_UINT32 + 1 ? value : null

/** 0 means "no persistent modseqs" (RFC 7162); above 2^63-1 is not a modseq. */
export const modseqString = (value: bigint | null | undefined): string | null =>
  value === undefined || value === null || value <= 0n || value > MAX_MODSEQ ? null : value.toString()

const toDate = (value: Date | string | null | undefined): Date | null => {
  if (value === undefined || value === null) return null
  const date = value instanceof Date ? value : new Date(value)
  return Number.isNaN(date.getTime()) ? null : date
}

const lastSegment = (path: string, delimiter: string | null): string => {
  if (delimiter === null) return path
  const parts = path.split(delimiter)
  return parts[parts.length - 1] || path
}

const invalid = (command: string, what: string, error: Schema.SchemaError): ImapProtocolError =>
  new ImapProtocolError({
    command,
    message: `${what}: unexpected shape from the IMAP server: ${error.message.replaceAll("\n", " ")}`,
    serverResponseCode: null
  })

const decodeList = Schema.decodeUnknownResult(ListEntryShape, { errors: "all" })
const decodeMailbox = Schema.decodeUnknownResult(MailboxShape, { errors: "all" })
const decodeFetch = Schema.decodeUnknownResult(FetchShape, { errors: "all" })

const describePath = (entry: unknown): string => {
  const path = typeof entry === "object" && entry !== null && "path" in entry ? entry.path : undefined
  return typeof path === "string" ? `"${path.slice(0, 200)}"` : "(without a path)"
}

/** One LIST (+STATUS) entry. */
export const toMailboxInfo = (entry: unknown): Result.Result<MailboxInfo, ImapProtocolError> =>
  Result.match(decodeList(entry), {
    onFailure: (error) => Result.fail(invalid("list", `LIST entry ${describePath(entry)}`, error)),
    onSuccess: (decoded) => {
      const flags = [...(decoded.flags ?? [])]
      const lower = flags.map((flag) => flag.toLowerCase())
      const delimiter =
        decoded.delimiter === undefined || decoded.delimiter === null || decoded.delimiter === ""
          ? null
          : decoded.delimiter
      const status = decoded.status ?? null
      return Result.succeed({
        path: decoded.path,
        name:
          decoded.name !== undefined && decoded.name !== null && decoded.name !== ""
            ? decoded.name
            : lastSegment(decoded.path, delimiter),
        delimiter,
        specialUse: normaliseSpecialUse(decoded.specialUse),
        flags,
        subscribed: decoded.subscribed === true,
        selectable: !lower.includes("\\noselect") && !lower.includes("\\nonexistent"),
        status:
          status === null
            ? null
            : {
                messages: count(status.messages),
                unseen: count(status.unseen),
                uidNext: uidNext(status.uidNext),
                uidValidity: uid32(status.uidValidity),
                highestModseq: modseqString(status.highestModseq)
              }
      })
    }
  })

/** The state SELECT/EXAMINE reported (imapflow's `client.mailbox`). */
export const toMailboxState = (path: string, mailbox: unknown): Result.Result<MailboxState, ImapProtocolError> =>
  Result.flatMap(
    Result.mapError(decodeMailbox(mailbox), (error) =>
      invalid("select", `SELECT of mailbox "${path.slice(0, 200)}"`, error)
    ),
    (decoded) => {
      const uidValidity = uid32(decoded.uidValidity)
      if (uidValidity === null) {
        return Result.fail(
          new ImapProtocolError({
            command: "select",
            message: `SELECT of mailbox "${path.slice(0, 200)}": the server reported no usable UIDVALIDITY (${
              decoded.uidValidity === undefined || decoded.uidValidity === null ? "none" : String(decoded.uidValidity)
            }), so no UID of it can be trusted`,
            serverResponseCode: null
          })
        )
      }
      return Result.succeed({
        path,
        uidValidity,
        uidNext: uidNext(decoded.uidNext),
        highestModseq: decoded.noModseq === true ? null : modseqString(decoded.highestModseq),
        exists: count(decoded.exists),
        readOnly: decoded.readOnly === true
      })
    }
  )

/** One FETCH report. */
export const toFetchReport = (path: string, message: unknown): Result.Result<FetchReport, ImapProtocolError> =>
  Result.flatMap(
    Result.mapError(decodeFetch(message), (error) =>
      invalid("fetch", `FETCH in mailbox "${path.slice(0, 200)}"`, error)
    ),
    (decoded) => {
      const uid = uid32(decoded.uid)
      if (uid === null) {
        return Result.fail(
          new ImapProtocolError({
            command: "fetch",
            message: `FETCH in mailbox "${path.slice(0, 200)}": the server reported an invalid UID (${decoded.uid})`,
            serverResponseCode: null
          })
        )
      }
      return Result.succeed({
        uid,
        flags: decoded.flags === undefined || decoded.flags === null ? null : normaliseFlags(decoded.flags),
        size: count(decoded.size),
        internalDate: toDate(decoded.internalDate),
        modseq: modseqString(decoded.modseq),
        source:
          decoded.source === undefined || decoded.source === null || decoded.source === false ? null : decoded.source
      })
    }
  )
