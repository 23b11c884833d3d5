/**
 * The SQL of the import (Importer.ts) and of the corrections it leaves waiting for their mail
 * (PendingCorrections.ts): `import_items`, `import_pending_corrections` (migration 0059), and the
 * few reads of `users` and `rules` the import needs. `findUserIdByEmail` and
 * `applyPendingCorrections` open their own scope; every other statement runs in the one
 * transaction the caller opened with `UserScope.run` for the import.
 */
import { Context, Effect, Layer, Option, Schema } from "effect"
import { lockEmailRowIds } from "../platform/rowLocks.ts"
import { SqlClient, type SqlError } from "effect/sql"
import { UserId } from "../contract/users/UserId.ts"
import { decodeRows } from "../platform/Database.ts"
import { UserScope } from "../users/UserScope.ts"
import type { CorrectionFields } from "./Mapping.ts"

/** One row of `import_items`: what an earlier import of the same origin wrote for an old row. */
const ImportedItemRow = Schema.Struct({
  kind: Schema.String,
  source_key: Schema.String,
  target_id: Schema.NullOr(Schema.String)
})
export type ImportedItem = typeof ImportedItemRow.Type

// rows are checked against what the statement selects: a mismatch is a defect in this file
const decodeImportedItems = decodeRows(ImportedItemRow)
const decodeUserIds = decodeRows(Schema.Struct({ id: UserId }))
const decodeMax = decodeRows(Schema.Struct({ max: Schema.NullOr(Schema.Number) }))
const decodeCount = decodeRows(Schema.Struct({ n: Schema.Number }))
const decodeIds = decodeRows(Schema.Struct({ id: Schema.String }))

export class ImportStore extends Context.Service<
  ImportStore,
  {
    /** Our user with this (normalised) email, looked up in the system scope: the owner is not known yet. */
    readonly findUserIdByEmail: (email: string) => Effect.Effect<Option.Option<UserId>, SqlError.SqlError>
    /** Serialises imports for one owner until the transaction ends: two at once would both pass the "already imported" checks. */
    readonly lockOwnerImports: (owner: UserId) => Effect.Effect<void, SqlError.SqlError>
    /** What earlier imports from `origin` wrote for this owner. */
    readonly importedItems: (
      owner: UserId,
      origin: string
    ) => Effect.Effect<ReadonlyArray<ImportedItem>, SqlError.SqlError>
    /** Records that the old row `sourceKey` was imported (as `targetId`, when it became one row here). */
    readonly recordItem: (
      owner: UserId,
      origin: string,
      kind: "account" | "rule" | "correction",
      sourceKey: string,
      targetId: string | null
    ) => Effect.Effect<void, SqlError.SqlError>
    /** The owner's highest rule priority (null: no rules) and how many rules they have. */
    readonly ruleStanding: (
      owner: UserId
    ) => Effect.Effect<{ readonly maxPriority: number | null; readonly count: number }, SqlError.SqlError>
    /** Leaves an imported correction waiting for its mail in `accountId`. */
    readonly addPendingCorrection: (
      owner: UserId,
      accountId: string,
      correction: CorrectionFields
    ) => Effect.Effect<void, SqlError.SqlError>
    /**
     * Applies the owner's waiting corrections that now have their message, in the owner's scope;
     * returns how many were applied. Every waiting row is matched within its account: by
     * Message-ID, or by folder + UID when the old row had no Message-ID; only the canonical copy of
     * a message carries corrections (migration 0057). A match becomes an `email_overrides` row; a
     * correction the user already made here wins over the imported one.
     */
    readonly applyPendingCorrections: (owner: UserId) => Effect.Effect<number, SqlError.SqlError>
  }
>()("mail-helper/ImportStore") {
  static readonly layer = Layer.effect(
    ImportStore,
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const scope = yield* UserScope

      const findUserIdByEmail = (email: string) =>
        scope
          .system(
            "import: user by email",
            sql`SELECT id FROM users WHERE email = ${email}`.pipe(Effect.flatMap(decodeUserIds))
          )
          .pipe(Effect.map((rows) => Option.fromNullishOr(rows[0]).pipe(Option.map((row) => row.id))))

      const lockOwnerImports = (owner: UserId) =>
        sql`SELECT pg_advisory_xact_lock(hashtextextended(${`import:${owner}`}, 0))`.pipe(Effect.asVoid)

      const importedItems = (owner: UserId, origin: string) =>
        sql`
          SELECT kind, source_key, target_id FROM import_items WHERE user_id = ${owner} AND origin = ${origin}`.pipe(
          Effect.flatMap(decodeImportedItems)
        )

      const recordItem = (
        owner: UserId,
        origin: string,
        kind: "account" | "rule" | "correction",
        sourceKey: string,
        targetId: string | null
      ) =>
        sql`
          INSERT INTO import_items (user_id, origin, kind, source_key, target_id)
          VALUES (${owner}, ${origin}, ${kind}, ${sourceKey}, ${targetId})
          ON CONFLICT DO NOTHING`.pipe(Effect.asVoid)

      const ruleStanding = (owner: UserId) =>
        Effect.gen(function* () {
          const [last] = yield* sql`SELECT max(priority)::int AS max FROM rules WHERE user_id = ${owner}`.pipe(
            Effect.flatMap(decodeMax)
          )
          const [countRow] = yield* sql`SELECT count(*)::int AS n FROM rules WHERE user_id = ${owner}`.pipe(
            Effect.flatMap(decodeCount)
          )
          return { maxPriority: last?.max ?? null, count: countRow?.n ?? 0 }
        })

      const addPendingCorrection = (owner: UserId, accountId: string, c: CorrectionFields) =>
        sql`
          INSERT INTO import_pending_corrections
            (user_id, account_id, message_id, mailbox, uid, urgency, importance, category, tags)
          VALUES (${owner}, ${accountId}, ${c.messageId}, ${c.mailbox}, ${c.uid}, ${c.urgency}, ${c.importance},
            ${c.category}, ${c.tags === null ? null : sql`${c.tags}::text[]`})`.pipe(Effect.asVoid)

      const applyPendingCorrections = (owner: UserId) =>
        scope.run(
          owner,
          Effect.gen(function* () {
            // the overrides' trigger writes the mail rows' sort key (migration 0071): the canonical
            // copies a waiting correction may match, locked first in id order (src/platform/rowLocks.ts)
            const locked = yield* lockEmailRowIds(
              sql,
              sql`e.user_id = ${owner} AND e.canonical AND EXISTS (
                SELECT 1 FROM import_pending_corrections w
                LEFT JOIN mailboxes m ON m.id = e.mailbox_id
                WHERE w.user_id = ${owner} AND w.applied_at IS NULL AND w.account_id = e.account_id
                  AND ((w.message_id IS NOT NULL AND e.message_id = w.message_id)
                    OR (w.message_id IS NULL AND m.path = w.mailbox AND e.uid = w.uid)))`
            )
            // no message a waiting correction matches (almost every sync: nothing waits): nothing to write,
            // and a row the write could match now was stored after the lock, by a sync that applies it next
            if (locked.length === 0) return 0
            const rows = yield* sql`
              WITH waiting AS (
                SELECT p.* FROM import_pending_corrections p
                WHERE p.user_id = ${owner} AND p.applied_at IS NULL
              ), matched AS (
                -- one correction per message (the oldest), so the upsert touches each row once
                SELECT DISTINCT ON (e.id) w.id AS pending_id, e.id AS email_id,
                  w.urgency, w.importance, w.category, w.spam, w.tags
                FROM waiting w
                JOIN emails e ON e.account_id = w.account_id AND e.user_id = ${owner} AND e.canonical
                LEFT JOIN mailboxes m ON m.id = e.mailbox_id
                WHERE (w.message_id IS NOT NULL AND e.message_id = w.message_id)
                   OR (w.message_id IS NULL AND m.path = w.mailbox AND e.uid = w.uid)
                ORDER BY e.id, w.created_at, w.id
              ), written AS (
                -- a data-modifying WITH runs to completion whether or not the main query reads it
                INSERT INTO email_overrides (email_id, user_id, urgency, importance, category, spam, tags)
                SELECT email_id, ${owner}, urgency, importance, category, spam, tags FROM matched
                ON CONFLICT (email_id) DO UPDATE SET
                  urgency = COALESCE(email_overrides.urgency, EXCLUDED.urgency),
                  importance = COALESCE(email_overrides.importance, EXCLUDED.importance),
                  category = COALESCE(email_overrides.category, EXCLUDED.category),
                  spam = COALESCE(email_overrides.spam, EXCLUDED.spam),
                  tags = COALESCE(email_overrides.tags, EXCLUDED.tags),
                  updated_at = now()
                RETURNING email_id
              )
              UPDATE import_pending_corrections SET applied_at = now()
              WHERE id IN (SELECT pending_id FROM matched)
              RETURNING id`.pipe(Effect.flatMap(decodeIds))
            return rows.length
          })
        )

      return ImportStore.of({
        findUserIdByEmail,
        lockOwnerImports,
        importedItems,
        recordItem,
        ruleStanding,
        addPendingCorrection,
        applyPendingCorrections
      })
    })
  )
}
