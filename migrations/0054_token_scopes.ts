import { Effect } from "effect"
import { SqlClient } from "effect/sql"

/**
 * API tokens get scopes (`read`, `write`, `admin`) and always expire.
 *
 * Tokens made before this had no scopes and acted with their user's role: they keep exactly that
 * (`read`, `write`, and `admin` when the user is an administrator now). Tokens without an expiry
 * get the default lifetime from today (90 days, so their scripts keep working while their owners
 * make new ones); none lives more than the maximum (365 days) from today.
 *
 * The data updates run with row-level security relaxed for the owner (FORCE off, then on again),
 * in the migration's transaction: the owner is not one of the roles the policies name.
 */
export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`ALTER TABLE api_tokens ADD COLUMN scopes text[]`
  yield* sql`ALTER TABLE api_tokens NO FORCE ROW LEVEL SECURITY`
  yield* sql`ALTER TABLE users NO FORCE ROW LEVEL SECURITY`
  yield* sql`
    UPDATE api_tokens t
    SET scopes = CASE WHEN u.role = 'admin' THEN ARRAY['read', 'write', 'admin'] ELSE ARRAY['read', 'write'] END
    FROM users u
    WHERE u.id = t.user_id`
  yield* sql`
    UPDATE api_tokens
    SET expires_at = LEAST(COALESCE(expires_at, now() + interval '90 days'), now() + interval '365 days')
    WHERE expires_at IS NULL OR expires_at > now() + interval '365 days'`
  yield* sql`ALTER TABLE users FORCE ROW LEVEL SECURITY`
  yield* sql`ALTER TABLE api_tokens FORCE ROW LEVEL SECURITY`
  yield* sql`
    ALTER TABLE api_tokens
      ALTER COLUMN scopes SET NOT NULL,
      ALTER COLUMN expires_at SET NOT NULL,
      ADD CONSTRAINT api_tokens_scopes_known
        CHECK (cardinality(scopes) > 0 AND scopes <@ ARRAY['read', 'write', 'admin']::text[])`
})
