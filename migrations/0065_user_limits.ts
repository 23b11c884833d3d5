import { Effect } from "effect"
import { SqlClient } from "effect/sql"
import { DatabaseRoles } from "../src/platform/Database.ts"

/**
 * Per-user limits an admin sets (issue 15, item 3); a NULL column means "the configured default"
 * (AI_DAILY_TOKEN_BUDGET, IMAP_MAX_CONNECTIONS_PER_ACCOUNT).
 *
 * Row-level security: only the system role (the admin group, the worker's look-ups) writes; the
 * application role may read the current user's own row (a user sees their budget) and nothing else,
 * so no user-scoped statement can raise its own limit.
 */
export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`
    CREATE TABLE user_limits (
      user_id uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
      ai_daily_token_budget bigint CHECK (ai_daily_token_budget IS NULL OR ai_daily_token_budget >= 0),
      imap_max_connections_per_account integer
        CHECK (imap_max_connections_per_account IS NULL OR imap_max_connections_per_account BETWEEN 1 AND 100),
      updated_by uuid REFERENCES users (id) ON DELETE SET NULL,
      updated_at timestamptz NOT NULL DEFAULT now()
    )`
  yield* sql`REVOKE ALL ON user_limits FROM ${sql(DatabaseRoles.app)}`
  yield* sql`GRANT SELECT ON user_limits TO ${sql(DatabaseRoles.app)}`
  yield* sql`GRANT SELECT, INSERT, UPDATE, DELETE ON user_limits TO ${sql(DatabaseRoles.system)}`
  yield* sql`ALTER TABLE user_limits ENABLE ROW LEVEL SECURITY`
  yield* sql`ALTER TABLE user_limits FORCE ROW LEVEL SECURITY`
  yield* sql`
    CREATE POLICY user_limits_owner_read ON user_limits
    AS PERMISSIVE FOR SELECT TO ${sql(DatabaseRoles.app)}
    USING (user_id = app_current_user_id())`
  yield* sql`
    CREATE POLICY user_limits_system_access ON user_limits
    AS PERMISSIVE FOR ALL TO ${sql(DatabaseRoles.system)}
    USING (true) WITH CHECK (true)`
})
