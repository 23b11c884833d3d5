import { Effect } from "effect"
import { SqlClient } from "effect/sql"
import { DatabaseRoles } from "../src/platform/Database.ts"
import { systemOnlyTable } from "../src/users/Rls.ts"

/**
 * `user_job_limits`: how many jobs of a kind one user may run at once, set by an admin
 * (PUT /api/v1/admin/users/:id/job-limits); a kind without a row takes JOB_USER_CONCURRENCY.
 * The system role writes it (the admin group) and reads it (the worker); the application role may
 * read the current user's own rows and nothing else (the rule every user_id table keeps, checked by
 * test/users/rls.test.ts), so no user-scoped statement can raise its own limit.
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
  yield* sql`GRANT SELECT ON user_job_limits TO ${sql(DatabaseRoles.app)}`
  yield* sql`
    CREATE POLICY user_job_limits_owner_read ON user_job_limits
    AS PERMISSIVE FOR SELECT TO ${sql(DatabaseRoles.app)}
    USING (user_id = app_current_user_id())`
})
