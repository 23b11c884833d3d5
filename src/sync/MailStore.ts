/**
 * The sync's writes: mailboxes with their checkpoints, emails, attachments, flags and expunges.
 * Everything runs in the account owner's row-level-security scope; one stored batch is one
 * transaction that also moves the mailbox's checkpoint (`last_uid`), so a sync killed at any point
 * resumes after the last committed batch and an upsert keyed by mailbox + UIDVALIDITY + UID makes
 * a replayed batch harmless.
 *
 * Rows travel as one jsonb parameter per statement (`jsonb_to_recordset`): one round trip per
 * batch, text[] and jsonb columns included.
 */
import { Context, Effect, Layer, Schema } from "effect"
import { SqlClient, type SqlError } from "effect/sql"
import { type AccountId, MailboxId } from "../contract/accounts/Account.ts"
import { lockEmailRowIds, lockEmailRows } from "../platform/rowLocks.ts"
import { decodeRows } from "../platform/Database.ts"
import type { UserId } from "../contract/users/UserId.ts"
import { EmailId } from "../contract/emails/EmailId.ts"
import { UserScope } from "../users/UserScope.ts"
import type { FlagState, MailboxInfo } from "../imap/Imap.ts"
import { messageKeyFor } from "./messageKey.ts"
import { type AttachmentMeta, type ParsedAddress, threadKeyCandidates } from "./mime.ts"
import { type KnownThreads, maxCandidates } from "./threading.ts"

/** A mailbox row as the sync needs it. */
export interface MailboxRecord {
  readonly id: MailboxId
  readonly path: string
  readonly specialUse: string | null
  readonly selectable: boolean
  readonly uidValidity: number | null
  readonly uidNext: number | null
  readonly highestModseq: string | null
  /** Every message with a UID up to here is stored (under uidValidity). */
  readonly lastUid: number
  /** A newest-first pass in progress: every message with a UID in this range is stored too (migration 0060). */
  readonly filled: StoredRange | null
}

export interface StoredRange {
  readonly from: number
  readonly to: number
}

/**
 * What a stored batch records in the mailbox row, in its transaction (migration 0060):
 * - `filled`: a batch of a newest-first pass, `from` its lowest UID, `to` the pass's highest;
 * - `raised`: a batch above a pass in progress (mail that arrived since it began), ascending: the
 *   pass's range now reaches `to`;
 * - `complete`: the pass's (or an ascending run's) last batch: every UID up to `to` is stored.
 */
export type Checkpoint =
  | { readonly _tag: "filled"; readonly from: number; readonly to: number }
  | { readonly _tag: "raised"; readonly to: number }
  | { readonly _tag: "complete"; readonly to: number }

const MailboxRow = Schema.Struct({
  id: MailboxId,
  path: Schema.String,
  special_use: Schema.NullOr(Schema.String),
  selectable: Schema.Boolean,
  uid_validity: Schema.NullOr(Schema.Number),
  uid_next: Schema.NullOr(Schema.Number),
  highest_modseq: Schema.NullOr(Schema.String),
  last_uid: Schema.Number,
  filled_from_uid: Schema.NullOr(Schema.Number),
  filled_to_uid: Schema.NullOr(Schema.Number)
})

/** One message ready for the emails table. */
export interface EmailInput {
  readonly uid: number
  readonly messageId: string | null
  readonly inReplyTo: string | null
  readonly references: ReadonlyArray<string>
  readonly threadId: string
  readonly subject: string | null
  readonly from: ReadonlyArray<ParsedAddress>
  readonly to: ReadonlyArray<ParsedAddress>
  readonly cc: ReadonlyArray<ParsedAddress>
  readonly bcc: ReadonlyArray<ParsedAddress>
  readonly replyTo: ReadonlyArray<ParsedAddress>
  readonly sentAt: Date | null
  readonly receivedAt: Date | null
  readonly flags: ReadonlyArray<string>
  readonly size: number
  readonly textBody: string | null
  readonly htmlBody: string | null
  readonly headers: Record<string, string | null>
  readonly attachments: ReadonlyArray<AttachmentMeta>
  readonly warnings: ReadonlyArray<string>
  readonly modseq: string | null
}

export interface BatchTarget {
  readonly owner: UserId
  readonly accountId: AccountId
  readonly mailboxId: MailboxId
  readonly uidValidity: number
}

// ---------------------------------------------------------------------------------------------

// ES2024, in every Node this project runs on (>= 24); TypeScript's lib here is ES2023
declare global {
  interface String {
    isWellFormed(): boolean
    toWellFormed(): string
  }
}

/** Lone surrogates and NUL cannot go into jsonb (or text): replace them (native checks, no regex). */
const cleanString = (value: string): string => {
  const wellFormed = value.isWellFormed() ? value : value.toWellFormed()
  return wellFormed.includes("\u0000") ? wellFormed.replaceAll("\u0000", "") : wellFormed
}

/** JSON for a jsonb parameter, safe for PostgreSQL whatever the mail contained. */
export const toJsonParameter = (value: unknown): string =>
  JSON.stringify(value, (_key, item: unknown) => (typeof item === "string" ? cleanString(item) : item))

/** Flags in a stable order, so "changed" means changed. */
export const normaliseFlags = (flags: ReadonlyArray<string>): Array<string> =>
  [...new Set(flags)].sort((a, b) => a.localeCompare(b))

const hasFlag = (flags: ReadonlyArray<string>, flag: string): boolean =>
  flags.some((entry) => entry.toLowerCase() === flag)

const chunks = <A>(items: ReadonlyArray<A>, size: number): Array<ReadonlyArray<A>> => {
  const out: Array<ReadonlyArray<A>> = []
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size))
  return out
}

const bigints = (uids: ReadonlyArray<number>): Array<bigint> => uids.map((uid) => BigInt(uid))

export interface MailStoreShape {
  /** Upserts the listed mailboxes, deletes the ones the server no longer lists (cascading to their mail); returns every row. */
  readonly syncMailboxList: (
    owner: UserId,
    accountId: AccountId,
    mailboxes: ReadonlyArray<MailboxInfo>
  ) => Effect.Effect<ReadonlyArray<MailboxRecord>, SqlError.SqlError>
  /** The account's stored mailboxes, as the last listing left them (a targeted sync lists nothing). */
  readonly storedMailboxes: (
    owner: UserId,
    accountId: AccountId
  ) => Effect.Effect<ReadonlyArray<MailboxRecord>, SqlError.SqlError>
  /** A new UIDVALIDITY: every stored message of the mailbox is void. Returns how many were dropped. */
  readonly resetMailbox: (
    owner: UserId,
    mailboxId: MailboxId,
    uidValidity: number
  ) => Effect.Effect<number, SqlError.SqlError>
  readonly applyFlags: (
    target: BatchTarget,
    changes: ReadonlyArray<FlagState>,
    chunkSize: number
  ) => Effect.Effect<number, SqlError.SqlError>
  readonly deleteUids: (target: BatchTarget, uids: ReadonlyArray<number>) => Effect.Effect<number, SqlError.SqlError>
  /** Stored messages up to `upTo` that the server no longer has (its UID list given). */
  readonly deleteMissing: (
    target: BatchTarget,
    serverUids: ReadonlyArray<number>,
    upTo: number
  ) => Effect.Effect<number, SqlError.SqlError>
  readonly countStored: (target: BatchTarget, upTo: number) => Effect.Effect<number, SqlError.SqlError>
  /** What the database knows of these candidates (Message-IDs and thread keys) in the account. */
  readonly knownThreads: (
    target: BatchTarget,
    messageIds: ReadonlyArray<string>,
    threadKeys: ReadonlyArray<string>
  ) => Effect.Effect<KnownThreads, SqlError.SqlError>
  /**
   * One transaction: the account's thread lock, `prepare` (thread look-ups that need it), the
   * upsert, attachments of new rows, thread merges, and the checkpoint. Returns the rows inserted.
   * With `deferSearchIndex` the rows' full-text vectors are left for the `search.index` job
   * (migration 0050); whoever passes it must queue that job afterwards.
   */
  readonly storeBatch: (
    target: BatchTarget,
    checkpoint: Checkpoint,
    prepare: Effect.Effect<
      { readonly emails: ReadonlyArray<EmailInput>; readonly merges: ReadonlyMap<string, string> },
      SqlError.SqlError
    >,
    options: { readonly deferSearchIndex: boolean }
  ) => Effect.Effect<
    {
      readonly inserted: number
      readonly stored: number
      /** The ids of the rows inserted (new messages), in the batch's order. */
      readonly insertedIds: ReadonlyArray<EmailId>
    },
    SqlError.SqlError
  >
  /** Whether any of the owner's messages still waits for its full-text vector. */
  readonly hasUnindexed: (owner: UserId) => Effect.Effect<boolean, SqlError.SqlError>
  /** The end of a mailbox pass: counts, UIDNEXT and HIGHESTMODSEQ (only now: the pass is complete). */
  readonly finishMailbox: (
    target: BatchTarget,
    state: { readonly uidNext: number | null; readonly highestModseq: string | null }
  ) => Effect.Effect<void, SqlError.SqlError>
}

export class MailStore extends Context.Service<MailStore, MailStoreShape>()("mail-helper/MailStore") {
  static readonly layer = Layer.effect(
    MailStore,
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const scope = yield* UserScope
      const decodeMailboxes = decodeRows(MailboxRow)
      const Counted = Schema.Struct({ n: Schema.Number })
      const decodeCount = decodeRows(Counted)
      const count = (rows: ReadonlyArray<unknown>) => Effect.map(decodeCount(rows), (decoded) => decoded[0]?.n ?? 0)

      const toMailboxRecord = (row: typeof MailboxRow.Type): MailboxRecord => ({
        id: row.id,
        path: row.path,
        specialUse: row.special_use,
        selectable: row.selectable,
        uidValidity: row.uid_validity,
        uidNext: row.uid_next,
        highestModseq: row.highest_modseq,
        lastUid: row.last_uid,
        filled:
          row.filled_from_uid === null || row.filled_to_uid === null
            ? null
            : { from: row.filled_from_uid, to: row.filled_to_uid }
      })

      const mailboxColumns = sql`id, path, special_use, selectable, uid_validity::float8 AS uid_validity,
        uid_next::float8 AS uid_next, highest_modseq, last_uid::float8 AS last_uid,
        filled_from_uid::float8 AS filled_from_uid, filled_to_uid::float8 AS filled_to_uid`

      const syncMailboxList = (owner: UserId, accountId: AccountId, mailboxes: ReadonlyArray<MailboxInfo>) =>
        scope.run(
          owner,
          Effect.gen(function* () {
            const listed = mailboxes.map((mailbox) => ({
              path: mailbox.path,
              name: mailbox.name,
              delimiter: mailbox.delimiter,
              special_use: mailbox.specialUse,
              selectable: mailbox.selectable,
              subscribed: mailbox.subscribed
            }))
            // a listing without INBOX is not a real one (every IMAP account has INBOX): delete nothing on it
            if (listed.some((mailbox) => mailbox.path.toUpperCase() === "INBOX")) {
              yield* sql`
                DELETE FROM mailboxes WHERE account_id = ${accountId} AND user_id = ${owner}
                  AND NOT (path = ANY(${listed.map((mailbox) => mailbox.path)}::text[]))`
            }
            if (listed.length > 0) {
              yield* sql`
                INSERT INTO mailboxes (user_id, account_id, path, name, delimiter, special_use, selectable, subscribed)
                SELECT ${owner}, ${accountId}, path, name, delimiter, special_use, selectable, subscribed
                FROM jsonb_to_recordset(${toJsonParameter(listed)}::jsonb)
                  AS r(path text, name text, delimiter text, special_use text, selectable boolean, subscribed boolean)
                ON CONFLICT (account_id, path) DO UPDATE SET
                  name = EXCLUDED.name, delimiter = EXCLUDED.delimiter, special_use = EXCLUDED.special_use,
                  selectable = EXCLUDED.selectable, subscribed = EXCLUDED.subscribed, updated_at = now()
                WHERE (mailboxes.name, mailboxes.delimiter, mailboxes.special_use, mailboxes.selectable, mailboxes.subscribed)
                  IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.delimiter, EXCLUDED.special_use, EXCLUDED.selectable, EXCLUDED.subscribed)`
            }
            const rows = yield* sql`
              SELECT ${mailboxColumns} FROM mailboxes WHERE account_id = ${accountId} AND user_id = ${owner}`
            return (yield* decodeMailboxes(rows)).map(toMailboxRecord)
          })
        )

      const storedMailboxes = (owner: UserId, accountId: AccountId) =>
        scope.run(
          owner,
          Effect.gen(function* () {
            const rows = yield* sql`
              SELECT ${mailboxColumns} FROM mailboxes WHERE account_id = ${accountId} AND user_id = ${owner}`
            return (yield* decodeMailboxes(rows)).map(toMailboxRecord)
          })
        )

      const resetMailbox = (owner: UserId, mailboxId: MailboxId, uidValidity: number) =>
        scope.run(
          owner,
          Effect.gen(function* () {
            yield* lockEmailRows(sql, sql`e.mailbox_id = ${mailboxId}`, "update")
            const dropped = yield* sql`
              WITH gone AS (DELETE FROM emails WHERE mailbox_id = ${mailboxId} RETURNING 1)
              SELECT count(*)::int AS n FROM gone`.pipe(Effect.flatMap(count))
            yield* sql`
              UPDATE mailboxes SET uid_validity = ${uidValidity}, uid_next = NULL, highest_modseq = NULL, last_uid = 0,
                filled_from_uid = NULL, filled_to_uid = NULL, message_count = 0, unread_count = 0, updated_at = now()
              WHERE id = ${mailboxId}`
            return dropped
          })
        )

      const applyFlags = (target: BatchTarget, changes: ReadonlyArray<FlagState>, chunkSize: number) =>
        Effect.gen(function* () {
          let updated = 0
          for (const part of chunks(changes, chunkSize)) {
            const rows = part.map((change) => {
              const flags = normaliseFlags(change.flags)
              return {
                uid: change.uid,
                flags,
                seen: hasFlag(flags, "\\seen"),
                flagged: hasFlag(flags, "\\flagged"),
                modseq: change.modseq
              }
            })
            const changes = toJsonParameter(rows)
            updated += yield* scope.run(
              target.owner,
              Effect.gen(function* () {
                // the rows whose flags change, locked in id order before the UPDATE (its join
                // with the list would lock them in the list's order: src/platform/rowLocks.ts)
                const locked = yield* lockEmailRowIds(
                  sql,
                  sql`e.mailbox_id = ${target.mailboxId} AND e.uid_validity = ${target.uidValidity}
                    AND e.uid = ANY(${bigints(part.map((change) => change.uid))}::bigint[])
                    AND EXISTS (
                      SELECT 1 FROM jsonb_to_recordset(${changes}::jsonb) AS r(uid bigint, flags text[])
                      WHERE r.uid = e.uid AND e.flags IS DISTINCT FROM r.flags)`
                )
                if (locked.length === 0) return 0
                // Only the locked rows: one whose flags another writer (a rule) changed after the lock
                // statement read them would match here, be written out of the lock order, and lose that
                // writer's newer flags to the server's older answer.
                return yield* sql`
                  WITH changed AS (
                    UPDATE emails e SET flags = r.flags, seen = r.seen, flagged = r.flagged,
                      modseq = COALESCE(r.modseq, e.modseq), updated_at = now()
                    FROM jsonb_to_recordset(${changes}::jsonb)
                      AS r(uid bigint, flags text[], seen boolean, flagged boolean, modseq text)
                    WHERE e.id = ANY(${locked}::uuid[]) AND e.mailbox_id = ${target.mailboxId}
                      AND e.uid_validity = ${target.uidValidity} AND e.uid = r.uid AND e.flags IS DISTINCT FROM r.flags
                    RETURNING 1)
                  SELECT count(*)::int AS n FROM changed`.pipe(Effect.flatMap(count))
              })
            )
          }
          return updated
        })

      const deleteUids = (target: BatchTarget, uids: ReadonlyArray<number>) =>
        uids.length === 0
          ? Effect.succeed(0)
          : scope.run(
              target.owner,
              Effect.andThen(
                lockEmailRows(
                  sql,
                  sql`e.mailbox_id = ${target.mailboxId} AND e.uid_validity = ${target.uidValidity}
                    AND e.uid = ANY(${bigints(uids)}::bigint[])`,
                  "update"
                ),
                sql`
                WITH gone AS (
                  DELETE FROM emails
                  WHERE mailbox_id = ${target.mailboxId} AND uid_validity = ${target.uidValidity}
                    AND uid = ANY(${bigints(uids)}::bigint[])
                  RETURNING 1)
                SELECT count(*)::int AS n FROM gone`.pipe(Effect.flatMap(count))
              )
            )

      const deleteMissing = (target: BatchTarget, serverUids: ReadonlyArray<number>, upTo: number) =>
        scope.run(
          target.owner,
          Effect.andThen(
            lockEmailRows(
              sql,
              sql`e.mailbox_id = ${target.mailboxId} AND e.uid_validity = ${target.uidValidity} AND e.uid <= ${upTo}
                AND NOT (e.uid = ANY(${bigints(serverUids)}::bigint[]))`,
              "update"
            ),
            sql`
            WITH gone AS (
              DELETE FROM emails
              WHERE mailbox_id = ${target.mailboxId} AND uid_validity = ${target.uidValidity} AND uid <= ${upTo}
                AND NOT (uid = ANY(${bigints(serverUids)}::bigint[]))
              RETURNING 1)
            SELECT count(*)::int AS n FROM gone`.pipe(Effect.flatMap(count))
          )
        )

      const countStored = (target: BatchTarget, upTo: number) =>
        scope.run(
          target.owner,
          sql`
            SELECT count(*)::int AS n FROM emails
            WHERE mailbox_id = ${target.mailboxId} AND uid_validity = ${target.uidValidity} AND uid <= ${upTo}`.pipe(
            Effect.flatMap(count)
          )
        )

      const KnownRow = Schema.Struct({ message_id: Schema.NullOr(Schema.String), thread_id: Schema.String })
      const decodeKnown = decodeRows(KnownRow)
      const knownThreads = (
        target: BatchTarget,
        messageIds: ReadonlyArray<string>,
        threadKeys: ReadonlyArray<string>
      ) =>
        scope.run(
          target.owner,
          Effect.gen(function* () {
            const byMessageId = new Map<string, Array<string>>()
            const threadIds = new Set<string>()
            if (messageIds.length > 0) {
              // every stored message that has the id as its own Message-ID *or links to it* (In-Reply-To,
              // References): a parent stored after its replies still finds them (migration 0057).
              // One GIN probe per id, through a function: under row-level security `@>` could not use
              // the index (not LEAKPROOF), the reason of app_fulltext_search (migration 0031)
              const rows = yield* sql`
                SELECT ref AS message_id, thread_id
                FROM app_thread_links(${[...messageIds]}::text[], ${target.accountId}::uuid)`.pipe(
                Effect.flatMap(decodeKnown)
              )
              for (const row of rows) {
                if (row.message_id === null) continue
                const id = row.message_id
                const list = byMessageId.get(id)
                if (list === undefined) byMessageId.set(id, [row.thread_id])
                else list.push(row.thread_id)
              }
            }
            if (threadKeys.length > 0) {
              // LIMIT 1 keeps the subquery a per-key index probe (an EXISTS became a hash join over
              // every message of the account, once per batch: quadratic over an initial sync)
              const rows = yield* sql`
                SELECT NULL AS message_id, k AS thread_id FROM unnest(${[...threadKeys]}::text[]) AS k
                CROSS JOIN LATERAL (
                  SELECT 1 FROM emails WHERE account_id = ${target.accountId} AND thread_id = k LIMIT 1) AS hit`.pipe(
                Effect.flatMap(decodeKnown)
              )
              for (const row of rows) threadIds.add(row.thread_id)
            }
            return { byMessageId, threadIds } satisfies KnownThreads
          })
        )

      const checkpointColumns = (checkpoint: Checkpoint) => {
        switch (checkpoint._tag) {
          case "filled":
            return sql`filled_from_uid = LEAST(COALESCE(filled_from_uid, ${checkpoint.from}), ${checkpoint.from}),
              filled_to_uid = GREATEST(COALESCE(filled_to_uid, ${checkpoint.to}), ${checkpoint.to})`
          case "raised":
            return sql`filled_to_uid = CASE WHEN filled_from_uid IS NULL THEN NULL
              ELSE GREATEST(filled_to_uid, ${checkpoint.to}) END`
          case "complete":
            return sql`last_uid = GREATEST(last_uid, ${checkpoint.to}), filled_from_uid = NULL, filled_to_uid = NULL`
        }
      }

      const InsertedRow = Schema.Struct({ id: Schema.String, uid: Schema.Number, inserted: Schema.Boolean })
      const decodeInserted = decodeRows(InsertedRow)

      const storeBatch = (
        target: BatchTarget,
        checkpoint: Checkpoint,
        prepare: Effect.Effect<
          { readonly emails: ReadonlyArray<EmailInput>; readonly merges: ReadonlyMap<string, string> },
          SqlError.SqlError
        >,
        options: { readonly deferSearchIndex: boolean }
      ) =>
        scope.run(
          target.owner,
          Effect.gen(function* () {
            // one writer per account at a time for the thread look-up + merge (a stalled job's twin)
            yield* sql`
              SELECT pg_advisory_xact_lock(hashtext(${`mail-sync:${target.accountId}`})),
                set_config('app.search_index', ${options.deferSearchIndex ? "deferred" : "inline"}, true)`
            const { emails, merges } = yield* prepare
            // the stored rows this batch writes (a replayed batch's, the threads it merges), locked at
            // once in id order before the upsert and the merges touch them (src/platform/rowLocks.ts)
            const mergedThreads = [...merges.keys()]
            if (emails.length > 0 || mergedThreads.length > 0) {
              yield* lockEmailRows(
                sql,
                sql`(e.mailbox_id = ${target.mailboxId} AND e.uid_validity = ${target.uidValidity}
                    AND e.uid = ANY(${bigints(emails.map((email) => email.uid))}::bigint[]))
                  OR (e.account_id = ${target.accountId} AND e.thread_id = ANY(${mergedThreads}::text[]))`
              )
            }
            let inserted = 0
            const insertedIds: Array<EmailId> = []
            if (emails.length > 0) {
              const rows = emails.map((email) => {
                const flags = normaliseFlags(email.flags)
                const sender = email.from[0]
                const clean = (value: string | null | undefined) => (value == null ? null : cleanString(value))
                return {
                  message_key: messageKeyFor({
                    messageId: clean(email.messageId),
                    fromAddress: clean(sender?.address),
                    sentAt: email.sentAt,
                    subject: clean(email.subject),
                    textBody: clean(email.textBody),
                    htmlBody: clean(email.htmlBody)
                  }),
                  thread_refs: threadKeyCandidates(email).slice(0, maxCandidates),
                  uid: email.uid,
                  message_id: email.messageId,
                  in_reply_to: email.inReplyTo,
                  references_ids: email.references,
                  thread_id: email.threadId,
                  subject: email.subject,
                  from_name: sender?.name ?? null,
                  from_address: sender?.address ?? null,
                  to_addresses: email.to,
                  cc_addresses: email.cc,
                  bcc_addresses: email.bcc,
                  reply_to: email.replyTo,
                  sent_at: email.sentAt?.toISOString() ?? null,
                  received_at: email.receivedAt?.toISOString() ?? null,
                  flags,
                  seen: hasFlag(flags, "\\seen"),
                  flagged: hasFlag(flags, "\\flagged"),
                  size: Math.min(2_147_483_647, email.size),
                  text_body: email.textBody,
                  html_body: email.htmlBody,
                  headers: email.headers,
                  has_attachments: email.attachments.some((attachment) => attachment.disposition !== "inline"),
                  parse_warnings: email.warnings,
                  modseq: email.modseq
                }
              })
              const result = yield* sql`
                INSERT INTO emails (user_id, account_id, mailbox_id, uid_validity, uid, message_id, in_reply_to,
                  references_ids, thread_id, subject, from_name, from_address, to_addresses, cc_addresses,
                  bcc_addresses, reply_to, sent_at, received_at, flags, seen, flagged, size, text_body, html_body,
                  headers, has_attachments, parse_warnings, modseq, message_key, thread_refs, canonical)
                SELECT ${target.owner}, ${target.accountId}, ${target.mailboxId}, ${target.uidValidity}, uid, message_id,
                  in_reply_to, references_ids, thread_id, subject, from_name, from_address, to_addresses, cc_addresses,
                  bcc_addresses, reply_to, sent_at, received_at, flags, seen, flagged, size, text_body, html_body,
                  headers, has_attachments, parse_warnings, modseq, message_key, thread_refs,
                  -- the message's first stored copy is canonical (decided here, not by a second write
                  -- of every row: the account's lock above keeps this exact; one index probe per row)
                  row_number() OVER (PARTITION BY message_key ORDER BY uid) = 1 AND NOT EXISTS (
                    SELECT 1 FROM emails o
                    WHERE o.account_id = ${target.accountId} AND o.message_key = r.message_key AND o.canonical)
                FROM jsonb_to_recordset(${toJsonParameter(rows)}::jsonb) AS r(
                  uid bigint, message_id text, in_reply_to text, references_ids text[], thread_id text, subject text,
                  from_name text, from_address text, to_addresses jsonb, cc_addresses jsonb, bcc_addresses jsonb,
                  reply_to jsonb, sent_at timestamptz, received_at timestamptz, flags text[], seen boolean,
                  flagged boolean, size integer, text_body text, html_body text, headers jsonb,
                  has_attachments boolean, parse_warnings text[], modseq text, message_key text, thread_refs text[])
                ON CONFLICT (mailbox_id, uid_validity, uid) DO UPDATE SET
                  flags = EXCLUDED.flags, seen = EXCLUDED.seen, flagged = EXCLUDED.flagged,
                  modseq = EXCLUDED.modseq, updated_at = now()
                RETURNING id, uid::float8 AS uid, (xmax = 0) AS inserted`.pipe(Effect.flatMap(decodeInserted))
              const byUid = new Map(emails.map((email) => [email.uid, email]))
              const attachments: Array<Record<string, unknown>> = []
              for (const row of result) {
                if (!row.inserted) continue
                inserted++
                insertedIds.push(EmailId.make(row.id))
                const email = byUid.get(row.uid)
                email?.attachments.forEach((attachment, position) => {
                  attachments.push({
                    email_id: row.id,
                    position,
                    filename: attachment.filename,
                    content_type: attachment.contentType,
                    size: Math.min(2_147_483_647, attachment.size),
                    content_id: attachment.contentId,
                    disposition: attachment.disposition,
                    sha256: attachment.sha256
                  })
                })
              }
              if (attachments.length > 0) {
                yield* sql`
                  INSERT INTO attachments (user_id, email_id, position, filename, content_type, size, content_id,
                    disposition, sha256)
                  SELECT ${target.owner}, email_id, position, filename, content_type, size, content_id, disposition, sha256
                  FROM jsonb_to_recordset(${toJsonParameter(attachments)}::jsonb) AS r(
                    email_id uuid, position integer, filename text, content_type text, size integer,
                    content_id text, disposition text, sha256 text)
                  ON CONFLICT (email_id, position) DO NOTHING`
              }
            }
            const byTarget = new Map<string, Array<string>>()
            for (const [from, to] of merges) {
              const list = byTarget.get(to)
              if (list === undefined) byTarget.set(to, [from])
              else list.push(from)
            }
            for (const [to, froms] of byTarget) {
              yield* sql`
                UPDATE emails SET thread_id = ${to}, updated_at = now()
                WHERE account_id = ${target.accountId} AND thread_id = ANY(${froms}::text[])`
            }
            yield* sql`
              UPDATE mailboxes SET ${checkpointColumns(checkpoint)}, updated_at = now()
              WHERE id = ${target.mailboxId} AND uid_validity = ${target.uidValidity}`
            return { inserted, stored: emails.length, insertedIds }
          })
        )

      const finishMailbox = (
        target: BatchTarget,
        state: { readonly uidNext: number | null; readonly highestModseq: string | null }
      ) =>
        scope.run(
          target.owner,
          sql`
            UPDATE mailboxes SET
              uid_next = ${state.uidNext},
              highest_modseq = ${state.highestModseq},
              message_count = (SELECT count(*)::int FROM emails WHERE mailbox_id = ${target.mailboxId}),
              unread_count = (SELECT count(*)::int FROM emails WHERE mailbox_id = ${target.mailboxId} AND NOT seen),
              last_synced_at = now(), updated_at = now()
            WHERE id = ${target.mailboxId} AND uid_validity = ${target.uidValidity}`.pipe(Effect.asVoid)
        )

      return MailStore.of({
        syncMailboxList,
        storedMailboxes,
        resetMailbox,
        applyFlags,
        deleteUids,
        deleteMissing,
        countStored,
        knownThreads,
        storeBatch,
        hasUnindexed: (owner) =>
          scope
            .run(
              owner,
              sql`SELECT EXISTS (SELECT 1 FROM emails WHERE user_id = ${owner} AND search_vector IS NULL) AS b`
            )
            .pipe(Effect.map((rows) => rows[0]?.["b"] === true)),
        finishMailbox
      })
    })
  )
}
