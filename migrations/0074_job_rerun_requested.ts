import { Effect } from "effect"
import { SqlClient } from "effect/sql"

/**
 * `jobs.rerun_requested`: a submit that joined this job while it might already have passed the
 * submit's work (it was running, not `covered`: src/jobs/Jobs.ts) asks it to run once more when it
 * ends. The submit sets it only while the job is active and the worker's final write reads it in
 * the same statement, so the row lock orders the two: either the final write sees the flag, or the
 * submit sees an ended job and creates a new one. A succeeded job keeps the flag until its rerun is
 * submitted; the index lets the reconciler find those a worker died before resubmitting
 * (docs/jobs.md, "Run again when it ends"). The table's row-level security policy is unchanged: a
 * new column of an owned row is owned with it.
 *
 * A constant default: PostgreSQL 11+ stores it in the catalogue, no table rewrite. The index holds
 * only the few rows between a final write and their resubmit.
 */
export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`SET LOCAL lock_timeout = '10s'`
  yield* sql`ALTER TABLE jobs ADD COLUMN IF NOT EXISTS rerun_requested boolean NOT NULL DEFAULT false`
  yield* sql`
    CREATE INDEX IF NOT EXISTS jobs_rerun_due ON jobs (finished_at, id)
    WHERE rerun_requested AND state = 'succeeded'`
  yield* sql`RESET lock_timeout`
})
