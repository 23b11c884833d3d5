import { Effect } from "effect"
import type { SqlClient, SqlError } from "effect/sql"
import type { UserId } from "../contract/users/UserId.ts"
import type { UserScopeShape } from "../users/UserScope.ts"

/**
 * One batch of the `search.index` job: fills the full-text vector of up to `batchSize` of the
 * owner's messages that have none (migration 0050), in one transaction. Returns how many.
 *
 * SKIP LOCKED: a row another writer holds (a sync, analysis, embedding) is left for the next batch,
 * never waited on, so this writer cannot close a lock cycle (src/platform/rowLocks.ts). NO KEY UPDATE is
 * the lock the UPDATE itself takes: it does not block the foreign-key checks of analysis rows.
 */
export const indexPendingBatch = (
  sql: SqlClient.SqlClient,
  scope: UserScopeShape,
  owner: UserId,
  batchSize: number
): Effect.Effect<number, SqlError.SqlError> =>
  scope
    .run(
      owner,
      sql`
        UPDATE emails SET search_vector = app_search_document(subject, from_name, from_address, text_body)
        WHERE id IN (
          SELECT id FROM emails WHERE user_id = ${owner} AND search_vector IS NULL
          LIMIT ${batchSize} FOR NO KEY UPDATE SKIP LOCKED)
        RETURNING 1 AS n`
    )
    .pipe(Effect.map((rows) => rows.length))
