import { Effect } from "effect"
import { SqlClient } from "effect/sql"

/**
 * Invites can be revoked (DELETE /api/v1/admin/invites/:id): `revoked_at` marks a code that no
 * longer registers anybody. Registration consumes an invite only while it is unused, unexpired and
 * not revoked (src/users/UserStore.ts), so a revoked code fails like an unknown one.
 */
export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`ALTER TABLE invites ADD COLUMN revoked_at timestamptz`
  // a code is used or revoked, never both: a used invite stays in the list as used
  yield* sql`ALTER TABLE invites ADD CONSTRAINT invites_used_or_revoked CHECK (used_at IS NULL OR revoked_at IS NULL)`
  yield* sql`CREATE INDEX invites_created ON invites (created_at DESC, id)`
})
