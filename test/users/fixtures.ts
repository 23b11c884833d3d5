import { Effect } from "effect"
import { SqlClient } from "effect/sql"
import type { UserId } from "../../src/contract/users/UserId.ts"
import { UserScope } from "../../src/users/UserScope.ts"

/**
 * Makes sure a user row with this id exists (jobs and every user-owned row
 * reference users). For tests that stand in for authentication with a fixed
 * id; the row has no usable password (`!` is no argon2 hash), so nobody can
 * sign in as it.
 */
/**
 * Any conflict, not only on id: concurrent first requests of one user race, and the loser may meet the
 * email's unique index before the id's (ON CONFLICT (id) would then raise, a 500 in the test).
 */
export const ensureTestUser = (id: UserId) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const scope = yield* UserScope
    yield* scope.system(
      "test fixture",
      sql`
        INSERT INTO users (id, email, password_hash)
        VALUES (${id}, ${`${id}@test.invalid`}, '!')
        ON CONFLICT DO NOTHING`
    )
  }).pipe(Effect.orDie)
