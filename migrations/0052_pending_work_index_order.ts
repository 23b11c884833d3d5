import { Effect } from "effect"
import { SqlClient } from "effect/sql"

/**
 * The analysis and embedding jobs take pending messages oldest first, `ORDER BY created_at, id
 * LIMIT n`. Their partial indexes ended at `created_at`, and a sync batch gives all its rows one
 * `created_at`, so the order needed a sort: PostgreSQL read every pending message of the user and
 * cut each body (`left(text_body, ...)`, which detoasts it) before it could keep the first n. Over a
 * 10,000-message initial sync that was 0.3-0.45 s per job batch, growing with the backlog
 * (pg_stat_statements during bench/sync.ts). With `id` in the index the order is the index's:
 * the scan stops after n rows.
 */
export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`DROP INDEX IF EXISTS emails_analysis_pending`
  yield* sql`CREATE INDEX emails_analysis_pending ON emails (user_id, created_at, id) WHERE analysis_state = 'pending'`
  yield* sql`DROP INDEX IF EXISTS emails_embedding_pending`
  yield* sql`CREATE INDEX emails_embedding_pending ON emails (user_id, created_at, id) WHERE embedding_state = 'pending'`
})
