import { Effect } from "effect"
import { SqlClient } from "effect/sql"
import { systemOnlyTable } from "../src/users/Rls.ts"

/**
 * `user_job_limits`: how many jobs of a kind one user may run at once, set by an admin
 * (PUT /api/v1/admin/users/:id/job-limits); a kind without a row takes JOB_USER_CONCURRENCY.
 * Only the system role reads it (the admin group and the worker): a user never sees it.
 */
export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`
    CREATE TABLE user_job_limits (
      user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
      kind text NOT NULL,
      max_concurrent integer NOT NULL CHECK (max_concurrent >= 0),
      updated_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (user_id, kind)
    )`
  yield* systemOnlyTable("user_job_limits")
})
