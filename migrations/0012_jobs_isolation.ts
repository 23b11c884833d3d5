import { Effect } from "effect"
import { SqlClient } from "effect/sql"
import { userOwnedTable } from "../src/users/Rls.ts"

/**
 * Jobs get their owner from the session now: the owner must be a user, and
 * row-level security keeps each user to their own jobs. System jobs (no owner)
 * are visible to the system role only.
 */
export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  // Jobs written before users existed cannot name one: keep them, but validate only when there are none.
  yield* sql`
    ALTER TABLE jobs ADD CONSTRAINT jobs_user_id_fkey
    FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE NOT VALID`
  yield* sql`
    DO $$
    BEGIN
      IF NOT EXISTS (SELECT 1 FROM jobs WHERE user_id IS NOT NULL) THEN
        ALTER TABLE jobs VALIDATE CONSTRAINT jobs_user_id_fkey;
      END IF;
    END
    $$`
  yield* userOwnedTable("jobs")
})
