/**
 * The stored mail as rules see and change it: reads messages into `RuleSubject`s (effective analysis
 * values, user overrides applied, through the `email_effective` view) and writes back what the IMAP
 * server confirmed (flags, location) and the database-only actions (tags, priority as
 * `email_overrides`).
 *
 * Every call runs in the owner's `UserScope`; called inside the caller's scope for the same user it
 * joins that transaction.
 */
import { Context, Effect, Layer, Option, Schema } from "effect"
import { SqlClient, type Statement } from "effect/sql"
import { lockEmailRows } from "../platform/rowLocks.ts"
import { type DatabaseError, decodeRows } from "../platform/Database.ts"
import type { MailboxInfo } from "../imap/Imap.ts"
import type { UserId } from "../contract/users/UserId.ts"
import { UserScope } from "../users/UserScope.ts"
import { EvaluationLimits, effectiveScore, type MailAddress, type RuleSubject } from "./evaluate.ts"
import { sqlFailure } from "./RuleStore.ts"

/** Special uses a rule run leaves alone unless the caller names the mailbox explicitly. */
export const excludedSpecialUses = ["sent", "drafts", "trash", "all", "flagged"] as const

/** A stored message with what the executor needs to act on it. */
export interface RuleMessage {
  readonly id: string
  readonly accountId: string
  readonly mailboxId: string
  readonly mailboxPath: string
  readonly uidValidity: number
  readonly uid: number
  readonly flags: ReadonlyArray<string>
  readonly subjectLine: string | null
  /** The message as the evaluator sees it. */
  readonly state: RuleSubject
}

export interface MessageSelection {
  readonly accountId?: string | undefined
  /** Exact path (INBOX case-insensitive); when absent, every mailbox but Sent, Drafts, Trash and virtual ones. */
  readonly mailbox?: string | undefined
  /** Only mail dated (Date header, else arrival) at or after this. */
  readonly since?: Date | undefined
  readonly emailIds?: ReadonlyArray<string> | undefined
}

/** Where a confirmed IMAP MOVE put a message. */
export interface NewLocation {
  readonly mailboxId: string
  readonly uidValidity: number
  readonly uid: number
}

export interface RestoredMessage {
  readonly emailId: string
  readonly accountId: string
  /** The mailbox path the message is back in. */
  readonly mailbox: string
  readonly flags: ReadonlyArray<string>
  readonly location: { readonly uidValidity: number; readonly uid: number }
}

export interface MessageUpdate {
  readonly message: RuleMessage
  /** The message's flags after a confirmed UID STORE. */
  readonly flags?: ReadonlyArray<string> | undefined
  /** Its place after a confirmed UID MOVE. */
  readonly location?: NewLocation | undefined
}

export interface OverrideUpdate {
  readonly emailId: string
  /** The complete effective tag list after the rules (replaces the override's list). */
  readonly tags?: ReadonlyArray<string> | undefined
  readonly urgency?: number | undefined
  readonly importance?: number | undefined
}

export interface RuleMailStoreShape {
  readonly count: (ownerId: UserId, selection: MessageSelection) => Effect.Effect<number, DatabaseError>
  /** The next `limit` selected messages with an id greater than `afterId`, in id order. */
  readonly page: (
    ownerId: UserId,
    selection: MessageSelection,
    afterId: string | null,
    limit: number
  ) => Effect.Effect<ReadonlyArray<RuleMessage>, DatabaseError>
  readonly byId: (ownerId: UserId, emailId: string) => Effect.Effect<Option.Option<RuleMessage>, DatabaseError>
  /** The newest `limit` messages a rules run would look at (same default mailboxes as `page`). */
  readonly latest: (ownerId: UserId, limit: number) => Effect.Effect<ReadonlyArray<RuleMessage>, DatabaseError>
  /**
   * Writes confirmed flags/location. Guarded by the message's old mailbox + UIDVALIDITY + UID: false
   * when the row changed meanwhile (another job or a sync re-keyed it) and nothing was written.
   */
  readonly updateMessage: (ownerId: UserId, update: MessageUpdate) => Effect.Effect<boolean, DatabaseError>
  /**
   * The mailbox row for `info` (created when the sync has not stored it yet): its id and the
   * UIDVALIDITY it holds (set to `uidValidity` when it had none).
   */
  readonly ensureMailbox: (
    ownerId: UserId,
    accountId: string,
    info: MailboxInfo,
    uidValidity: number | null
  ) => Effect.Effect<{ readonly id: string; readonly uidValidity: number | null }, DatabaseError>
  /**
   * After an undo moved a message back: its row follows it to `restore.mailbox` (looked up by path
   * in the account) at `restore.location`, with the flags it had; a row the sync already stored
   * there for the same UID is replaced. Does nothing when that mailbox has no row.
   */
  readonly restoreMessage: (ownerId: UserId, restore: RestoredMessage) => Effect.Effect<void, DatabaseError>
  /** Whether the user has this mail account. */
  readonly hasAccount: (ownerId: UserId, accountId: string) => Effect.Effect<boolean, DatabaseError>
  /** The path of the account's special-use Archive mailbox (the first by path when several), if it has one. */
  readonly archiveMailbox: (ownerId: UserId, accountId: string) => Effect.Effect<Option.Option<string>, DatabaseError>
  /** Tags and priority as user overrides (they win over the analysis in `email_effective`). */
  readonly upsertOverrides: (
    ownerId: UserId,
    updates: ReadonlyArray<OverrideUpdate>
  ) => Effect.Effect<void, DatabaseError>
}

const MessageRow = Schema.Struct({
  id: Schema.String,
  account_id: Schema.String,
  mailbox_id: Schema.String,
  uid_validity: Schema.Number,
  uid: Schema.Number,
  flags: Schema.Array(Schema.String),
  seen: Schema.Boolean,
  flagged: Schema.Boolean,
  subject: Schema.NullOr(Schema.String),
  from_name: Schema.NullOr(Schema.String),
  from_address: Schema.NullOr(Schema.String),
  to_addresses: Schema.Unknown,
  cc_addresses: Schema.Unknown,
  body: Schema.NullOr(Schema.String),
  has_attachments: Schema.Boolean,
  mailbox_path: Schema.String,
  mailbox_special_use: Schema.NullOr(Schema.String),
  trash_path: Schema.NullOr(Schema.String),
  category: Schema.NullOr(Schema.String),
  urgency: Schema.NullOr(Schema.Number),
  importance: Schema.NullOr(Schema.Number),
  score: Schema.NullOr(Schema.Number),
  spam: Schema.NullOr(Schema.Boolean),
  tags: Schema.NullOr(Schema.Array(Schema.String))
})
type MessageRow = typeof MessageRow.Type

const stringField = (value: object, key: string): string | null => {
  const descriptor = Object.getOwnPropertyDescriptor(value, key)
  return typeof descriptor?.value === "string" ? descriptor.value : null
}

/** `[{name, address}]` as the sync stores it; anything else is skipped (mail is hostile input). */
export const addressesOf = (value: unknown): ReadonlyArray<MailAddress> => {
  if (!Array.isArray(value)) return []
  const out: Array<MailAddress> = []
  for (const entry of value.slice(0, EvaluationLimits.maxRecipients)) {
    if (typeof entry !== "object" || entry === null) continue
    const address = stringField(entry, "address")
    const name = stringField(entry, "name")
    if (address === null && name === null) continue
    out.push({ name, address: address ?? "" })
  }
  return out
}

/** The database stores RFC 6154 special uses lower case without the backslash ("trash"). */
const specialUseFlag = (value: string | null): string | null =>
  value === null || value.length === 0 ? null : `\\${value.charAt(0).toUpperCase()}${value.slice(1)}`

const toMessage = (row: MessageRow): RuleMessage => ({
  id: row.id,
  accountId: row.account_id,
  mailboxId: row.mailbox_id,
  mailboxPath: row.mailbox_path,
  uidValidity: row.uid_validity,
  uid: row.uid,
  flags: row.flags,
  subjectLine: row.subject,
  state: {
    from:
      row.from_address === null && row.from_name === null
        ? null
        : { name: row.from_name, address: row.from_address ?? "" },
    to: addressesOf(row.to_addresses),
    cc: addressesOf(row.cc_addresses),
    subject: row.subject ?? "",
    bodyText: row.body ?? "",
    hasAttachment: row.has_attachments,
    mailbox: row.mailbox_path,
    mailboxSpecialUse: specialUseFlag(row.mailbox_special_use),
    trashMailbox: row.trash_path,
    category: row.category,
    urgency: row.urgency,
    importance: row.importance,
    score: row.score,
    spam: row.spam,
    tags: row.tags ?? [],
    flags: { seen: row.seen, flagged: row.flagged },
    scoreOf: effectiveScore
  }
})

export { effectiveScore }

export class RuleMailStore extends Context.Service<RuleMailStore, RuleMailStoreShape>()("mail-helper/RuleMailStore") {
  static readonly layer = Layer.effect(
    RuleMailStore,
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const scope = yield* UserScope
      const decode = decodeRows(MessageRow)
      const messages = (rows: ReadonlyArray<unknown>) => Effect.map(decode(rows), (decoded) => decoded.map(toMessage))

      // uid and uid_validity are 32-bit by the protocol: float8 holds them exactly as JS numbers.
      // `ids` picks (and orders) the rows; the effective analysis values are then joined for those rows
      // only: a plan that computes the view for all of the user's mail cannot be chosen (with a cached
      // generic plan it was, and one page of 200 cost as much as reading all 10,000).
      const selectRows = (ownerId: UserId, ids: Statement.Fragment, order: Statement.Fragment) => sql`
        WITH ids AS MATERIALIZED (${ids}),
        trash AS (
          SELECT DISTINCT ON (account_id) account_id, path FROM mailboxes
          WHERE user_id = ${ownerId} AND special_use = 'trash'
          ORDER BY account_id, path
        )
        SELECT e.id, e.account_id, e.mailbox_id, e.uid_validity::float8 AS uid_validity, e.uid::float8 AS uid,
               e.flags, e.seen, e.flagged, e.subject, e.from_name, e.from_address, e.to_addresses, e.cc_addresses,
               left(e.text_body, ${EvaluationLimits.maxBodyChars}) AS body, e.has_attachments,
               m.path AS mailbox_path, m.special_use AS mailbox_special_use, t.path AS trash_path,
               f.category, f.urgency::int AS urgency, f.importance::int AS importance, f.score::int AS score,
               f.spam, f.tags
        FROM ids
        JOIN emails e ON e.id = ids.id
        JOIN mailboxes m ON m.id = e.mailbox_id
        LEFT JOIN trash t ON t.account_id = e.account_id
        LEFT JOIN LATERAL (
          SELECT c.id FROM emails c
          WHERE NOT e.canonical AND c.account_id = e.account_id AND c.message_key = e.message_key AND c.canonical
        ) cc ON true
        LEFT JOIN email_effective f ON f.email_id = COALESCE(cc.id, e.id)
        WHERE e.user_id = ${ownerId}
        ORDER BY ${order}`

      /** A LIMIT the planner sees as a constant (a small integer we computed, never user text). */
      const limitOf = (limit: number) => sql.literal(String(Math.max(1, Math.min(10_000, Math.trunc(limit)))))

      /** The selection's conditions on one row `e` in mailbox `m` (fixed aliases, never user text). */
      const matches = (ownerId: UserId, selection: MessageSelection, e: "e" | "d", m: "m" | "dm") => {
        const row = sql.literal(e)
        const box = sql.literal(m)
        return sql`
        ${row}.user_id = ${ownerId}
        ${selection.accountId === undefined ? sql`` : sql`AND ${row}.account_id = ${selection.accountId}`}
        ${
          selection.mailbox === undefined
            ? sql`AND (${box}.special_use IS NULL OR ${box}.special_use NOT IN ${sql.in([...excludedSpecialUses])})`
            : selection.mailbox.toUpperCase() === "INBOX"
              ? sql`AND upper(${box}.path) = 'INBOX'`
              : sql`AND ${box}.path = ${selection.mailbox}`
        }
        ${selection.since === undefined ? sql`` : sql`AND ${row}.mail_date >= ${selection.since}`}
        ${
          selection.emailIds === undefined
            ? sql``
            : selection.emailIds.length === 0
              ? sql`AND false`
              : // naming one copy names the message: every copy is a candidate (new-mail runs name the
                // canonical copy, which may be the All Mail one), and the copy filter below picks one
                sql`AND (${row}.id IN ${sql.in([...selection.emailIds])} OR EXISTS (
                    SELECT 1 FROM emails s
                    WHERE s.id IN ${sql.in([...selection.emailIds])} AND s.account_id = ${row}.account_id
                      AND s.message_key = ${row}.message_key))`
        }`
      }

      // One message, several copies (migration 0057): a rule acts on a message once. Of the copies
      // the selection matches, the one in INBOX is taken, else the one with the smallest id; the
      // default selection never matches an All Mail (\All) copy, so that copy is acted on only when a
      // caller names that mailbox.
      const filters = (ownerId: UserId, selection: MessageSelection) => sql`
        ${matches(ownerId, selection, "e", "m")}
        AND (e.message_key IS NULL OR NOT EXISTS (
          SELECT 1 FROM emails d JOIN mailboxes dm ON dm.id = d.mailbox_id
          WHERE d.account_id = e.account_id AND d.message_key = e.message_key AND d.id <> e.id
            AND ${matches(ownerId, selection, "d", "dm")}
            AND (upper(dm.path) = 'INBOX', e.id) > (upper(m.path) = 'INBOX', d.id)))`

      const count = (ownerId: UserId, selection: MessageSelection) =>
        scope
          .run(
            ownerId,
            sql`
              SELECT count(*)::int AS n FROM emails e JOIN mailboxes m ON m.id = e.mailbox_id
              WHERE ${filters(ownerId, selection)}`.pipe(
              Effect.flatMap(decodeRows(Schema.Struct({ n: Schema.Number })))
            )
          )
          .pipe(
            Effect.map((rows) => rows[0]?.n ?? 0),
            Effect.catchTag("SqlError", sqlFailure),
            Effect.withSpan("RuleMailStore.count")
          )

      const page = (ownerId: UserId, selection: MessageSelection, afterId: string | null, limit: number) =>
        scope
          .run(
            ownerId,
            selectRows(
              ownerId,
              sql`
                SELECT e.id FROM emails e JOIN mailboxes m ON m.id = e.mailbox_id
                WHERE ${filters(ownerId, selection)} ${afterId === null ? sql`` : sql`AND e.id > ${afterId}`}
                ORDER BY e.id
                LIMIT ${limitOf(limit)}`,
              sql`e.id`
            ).pipe(Effect.flatMap(messages))
          )
          .pipe(Effect.catchTag("SqlError", sqlFailure), Effect.withSpan("RuleMailStore.page"))

      const byId = (ownerId: UserId, emailId: string) =>
        scope
          .run(
            ownerId,
            selectRows(
              ownerId,
              sql`SELECT e.id FROM emails e WHERE e.user_id = ${ownerId} AND e.id = ${emailId}`,
              sql`e.id`
            ).pipe(Effect.flatMap(messages))
          )
          .pipe(
            Effect.map((found) => Option.fromNullishOr(found[0])),
            Effect.catchTag("SqlError", sqlFailure),
            Effect.withSpan("RuleMailStore.byId")
          )

      const latest = (ownerId: UserId, limit: number) =>
        scope
          .run(
            ownerId,
            selectRows(
              ownerId,
              sql`
                SELECT e.id FROM emails e JOIN mailboxes m ON m.id = e.mailbox_id
                WHERE ${filters(ownerId, {})}
                ORDER BY e.mail_date DESC, e.id DESC
                LIMIT ${limitOf(limit)}`,
              sql`e.mail_date DESC, e.id DESC`
            ).pipe(Effect.flatMap(messages))
          )
          .pipe(Effect.catchTag("SqlError", sqlFailure), Effect.withSpan("RuleMailStore.latest"))

      const updateMessage = (ownerId: UserId, update: MessageUpdate) =>
        scope
          .run(
            ownerId,
            Effect.gen(function* () {
              const { message, flags, location } = update
              if (flags === undefined && location === undefined) return true
              const lower = (flags ?? message.flags).map((flag) => flag.toLowerCase())
              // both rows (ours, and a copy the sync stored at the new place) in id order first
              yield* lockEmailRows(
                sql,
                sql`e.user_id = ${ownerId} AND (e.id = ${message.id}${
                  location === undefined
                    ? sql``
                    : sql` OR (e.mailbox_id = ${location.mailboxId} AND e.uid_validity = ${location.uidValidity}
                          AND e.uid = ${location.uid})`
                })`,
                "update"
              )
              if (location !== undefined) {
                // a sync that already stored the message at its new place: the rules' row (with its
                // analysis and overrides) takes that place
                yield* sql`
                  DELETE FROM emails
                  WHERE user_id = ${ownerId} AND mailbox_id = ${location.mailboxId}
                    AND uid_validity = ${location.uidValidity} AND uid = ${location.uid} AND id <> ${message.id}`
              }
              const rows = yield* sql`
                UPDATE emails SET
                  ${
                    flags === undefined
                      ? sql``
                      : sql`flags = ARRAY(SELECT jsonb_array_elements_text(${JSON.stringify(flags)}::jsonb)),
                            seen = ${lower.includes("\\seen")}, flagged = ${lower.includes("\\flagged")},`
                  }
                  ${
                    location === undefined
                      ? sql``
                      : sql`mailbox_id = ${location.mailboxId}, uid_validity = ${location.uidValidity},
                            uid = ${location.uid},`
                  }
                  updated_at = now()
                WHERE id = ${message.id} AND user_id = ${ownerId} AND mailbox_id = ${message.mailboxId}
                  AND uid_validity = ${message.uidValidity} AND uid = ${message.uid}
                RETURNING id`
              return rows.length > 0
            })
          )
          .pipe(Effect.catchTag("SqlError", sqlFailure), Effect.withSpan("RuleMailStore.updateMessage"))

      const ensureMailbox = (ownerId: UserId, accountId: string, info: MailboxInfo, uidValidity: number | null) =>
        scope
          .run(
            ownerId,
            sql`
              INSERT INTO mailboxes (user_id, account_id, path, name, delimiter, special_use, selectable, uid_validity)
              VALUES (${ownerId}, ${accountId}, ${info.path}, ${info.name}, ${info.delimiter}, ${info.specialUse},
                      ${info.selectable}, ${uidValidity})
              ON CONFLICT (account_id, path) DO UPDATE
                SET uid_validity = COALESCE(mailboxes.uid_validity, EXCLUDED.uid_validity)
              RETURNING id, uid_validity::float8 AS uid_validity`.pipe(
              Effect.flatMap(
                decodeRows(Schema.Struct({ id: Schema.String, uid_validity: Schema.NullOr(Schema.Number) }))
              )
            )
          )
          .pipe(
            Effect.flatMap((rows) =>
              rows[0] === undefined
                ? Effect.die(new Error(`mailbox upsert for ${info.path} returned no row`))
                : Effect.succeed({ id: rows[0].id, uidValidity: rows[0].uid_validity })
            ),
            Effect.catchTag("SqlError", sqlFailure),
            Effect.withSpan("RuleMailStore.ensureMailbox")
          )

      const upsertOverrides = (ownerId: UserId, updates: ReadonlyArray<OverrideUpdate>) => {
        if (updates.length === 0) return Effect.void
        const records = updates.map((update) => ({
          email_id: update.emailId,
          tags: update.tags ?? null,
          urgency: update.urgency ?? null,
          importance: update.importance ?? null
        }))
        const ids = updates.map((update) => update.emailId)
        // a null value leaves the override (or its absence) as it is
        return scope
          .run(
            ownerId,
            // the overrides' trigger writes the mail rows' sort key (migration 0071): the rows it writes
            // (each message's canonical copy) locked first, in id order (src/platform/rowLocks.ts)
            lockEmailRows(
              sql,
              sql`e.user_id = ${ownerId} AND e.id IN (
                SELECT COALESCE(
                  (SELECT c.id FROM emails s JOIN emails c
                     ON c.account_id = s.account_id AND c.message_key = s.message_key AND c.canonical
                   WHERE s.id = x.id AND NOT s.canonical),
                  x.id)
                FROM unnest(${ids}::uuid[]) AS x(id))`
            ).pipe(
              Effect.andThen(sql`
              INSERT INTO email_overrides (email_id, user_id, tags, urgency, importance)
              SELECT DISTINCT ON (target.id) target.id, ${ownerId},
                     CASE WHEN x.tags IS NULL THEN NULL ELSE ARRAY(SELECT jsonb_array_elements_text(x.tags)) END,
                     x.urgency, x.importance
              FROM jsonb_to_recordset(${JSON.stringify(records)}::jsonb)
                AS x(email_id uuid, tags jsonb, urgency smallint, importance smallint)
              -- a copy's overrides are the message's: they go to its canonical copy (migration 0057)
              CROSS JOIN LATERAL (
                SELECT COALESCE(
                  (SELECT c.id FROM emails e JOIN emails c
                     ON c.account_id = e.account_id AND c.message_key = e.message_key AND c.canonical
                   WHERE e.id = x.email_id AND NOT e.canonical),
                  x.email_id) AS id) target
              ON CONFLICT (email_id) DO UPDATE SET
                tags = COALESCE(EXCLUDED.tags, email_overrides.tags),
                urgency = COALESCE(EXCLUDED.urgency, email_overrides.urgency),
                importance = COALESCE(EXCLUDED.importance, email_overrides.importance),
                updated_at = now()`)
            )
          )
          .pipe(
            Effect.asVoid,
            Effect.catchTag("SqlError", sqlFailure),
            Effect.withSpan("RuleMailStore.upsertOverrides")
          )
      }

      const restoreMessage = (ownerId: UserId, restore: RestoredMessage) =>
        scope
          .run(
            ownerId,
            Effect.gen(function* () {
              const target = yield* sql`
                SELECT id FROM mailboxes
                WHERE user_id = ${ownerId} AND account_id = ${restore.accountId} AND path = ${restore.mailbox}`.pipe(
                Effect.flatMap(decodeRows(Schema.Struct({ id: Schema.String })))
              )
              const mailboxId = target[0]?.id
              if (mailboxId === undefined) return
              const { location } = restore
              const lower = restore.flags.map((flag) => flag.toLowerCase())
              // both rows in id order first (src/platform/rowLocks.ts)
              yield* lockEmailRows(
                sql,
                sql`e.user_id = ${ownerId} AND (e.id = ${restore.emailId} OR (e.mailbox_id = ${mailboxId}
                  AND e.uid_validity = ${location.uidValidity} AND e.uid = ${location.uid}))`,
                "update"
              )
              yield* sql`
                DELETE FROM emails
                WHERE user_id = ${ownerId} AND mailbox_id = ${mailboxId} AND uid_validity = ${location.uidValidity}
                  AND uid = ${location.uid} AND id <> ${restore.emailId}`
              yield* sql`
                UPDATE emails SET mailbox_id = ${mailboxId}, uid_validity = ${location.uidValidity},
                  uid = ${location.uid},
                  flags = ARRAY(SELECT jsonb_array_elements_text(${JSON.stringify(restore.flags)}::jsonb)),
                  seen = ${lower.includes("\\seen")}, flagged = ${lower.includes("\\flagged")}, updated_at = now()
                WHERE id = ${restore.emailId} AND user_id = ${ownerId}`
            })
          )
          .pipe(Effect.catchTag("SqlError", sqlFailure))

      const archiveMailbox = (ownerId: UserId, accountId: string) =>
        scope
          .run(
            ownerId,
            sql`
              SELECT path FROM mailboxes
              WHERE user_id = ${ownerId} AND account_id = ${accountId} AND special_use = 'archive' AND selectable
              ORDER BY path LIMIT 1`.pipe(Effect.flatMap(decodeRows(Schema.Struct({ path: Schema.String }))))
          )
          .pipe(
            Effect.map((rows) => Option.fromNullishOr(rows[0]?.path)),
            Effect.catchTag("SqlError", sqlFailure),
            Effect.withSpan("RuleMailStore.archiveMailbox")
          )

      const hasAccount = (ownerId: UserId, accountId: string) =>
        scope
          .run(
            ownerId,
            sql`
              SELECT EXISTS (SELECT 1 FROM mail_accounts WHERE id = ${accountId} AND user_id = ${ownerId}) AS found`.pipe(
              Effect.flatMap(decodeRows(Schema.Struct({ found: Schema.Boolean })))
            )
          )
          .pipe(
            Effect.map((rows) => rows[0]?.found === true),
            Effect.catchTag("SqlError", sqlFailure)
          )

      return RuleMailStore.of({
        count,
        page,
        byId,
        latest,
        updateMessage,
        ensureMailbox,
        upsertOverrides,
        restoreMessage,
        hasAccount,
        archiveMailbox
      })
    })
  )
}
