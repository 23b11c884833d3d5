import { Effect, Schema } from "effect"
import type { SqlClient, SqlError } from "effect/sql"
import type { UserId } from "../contract/users/UserId.ts"
import { decodeRows } from "../platform/Database.ts"
import type { UserScopeShape } from "../users/UserScope.ts"

/** Namespace of the advisory locks by which concurrent search.index batches claim rows ("MHSI"). */
const SEARCH_INDEX_CLAIM_NAMESPACE = 0x4d48_5349

const decodeBatch = decodeRows(Schema.Struct({ picked: Schema.Number, updated: Schema.Number }))

/**
 * One batch of the `search.index` job: fills the full-text vector of up to `batchSize` of the
 * owner's messages that have none (migration 0050), in one statement. Returns how many it took up
 * (`picked`; 0: nothing is left that another batch has not claimed) and how many it wrote.
 *
 * The vectors (six `to_tsvector` calls per message, the expensive part) are computed BEFORE any row
 * is locked: concurrent batches claim rows with transaction advisory locks, which no other writer
 * takes, so analysis and embedding of the same rows never wait for a batch's computation. The rows
 * are then locked with SKIP LOCKED (a row another writer holds stays NULL for the next batch, never
 * waited on, so this writer cannot close a lock cycle: src/platform/rowLocks.ts) and written at once.
 * NO KEY UPDATE is the lock the UPDATE itself takes: it does not block foreign-key checks.
 */
export const indexPendingBatch = (
  sql: SqlClient.SqlClient,
  scope: UserScopeShape,
  owner: UserId,
  batchSize: number
): Effect.Effect<{ readonly picked: number; readonly updated: number }, SqlError.SqlError> =>
  scope
    .run(
      owner,
      sql`
        WITH picked AS MATERIALIZED (
          SELECT id, app_search_document(subject, from_name, from_address, text_body) AS doc
          FROM emails
          WHERE user_id = ${owner} AND search_vector IS NULL
            AND pg_try_advisory_xact_lock(${SEARCH_INDEX_CLAIM_NAMESPACE}, hashtext(id::text))
          LIMIT ${batchSize}),
        locked AS (
          SELECT e.id FROM emails e JOIN picked p ON p.id = e.id
          WHERE e.search_vector IS NULL
          FOR NO KEY UPDATE OF e SKIP LOCKED),
        updated AS (
          UPDATE emails e SET search_vector = p.doc
          FROM picked p JOIN locked l ON l.id = p.id
          WHERE e.id = p.id
          RETURNING 1)
        SELECT (SELECT count(*) FROM picked)::int AS picked, (SELECT count(*) FROM updated)::int AS updated`
    )
    .pipe(
      Effect.flatMap(decodeBatch),
      Effect.map((rows) => rows[0] ?? { picked: 0, updated: 0 })
    )
