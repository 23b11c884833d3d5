import { Deferred, Effect } from "effect"
import type { SqlClient } from "effect/sql"
import type { UserId } from "../../src/contract/users/UserId.ts"
import type { UserScope } from "../../src/users/UserScope.ts"

/**
 * Another writer (an embedding job's save, a sync's flag update; a job's final write with `jobs`)
 * holding the row of `id` locked in its transaction until `until` ends: the fiber of that
 * transaction, once the lock is held.
 */
export const holdRowLock = (
  sql: SqlClient.SqlClient,
  scope: typeof UserScope.Service,
  owner: UserId,
  id: string,
  until: Effect.Effect<void>,
  table: "emails" | "jobs" = "emails"
) =>
  Effect.gen(function* () {
    const holding = yield* Deferred.make<void>()
    const fiber = yield* Effect.forkChild(
      scope.run(
        owner,
        Effect.gen(function* () {
          yield* sql`SELECT id FROM ${sql(table)} WHERE id = ${id} FOR NO KEY UPDATE`
          yield* Deferred.succeed(holding, undefined)
          yield* until
        })
      )
    )
    yield* Deferred.await(holding)
    return fiber
  })

/**
 * Until `count` sessions of this test's database wait for a lock (a row's, a transaction's end): the
 * point a test orders its writers by, instead of a sleep. pg_locks with pg_stat_activity's pid and
 * database, which every login may read (the waits themselves are hidden from a login without
 * pg_read_all_stats).
 */
export const lockWaiters = (sql: SqlClient.SqlClient, count: number) =>
  Effect.gen(function* () {
    for (;;) {
      const rows = yield* sql<{ n: number }>`
        SELECT count(DISTINCT l.pid)::int AS n FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
        WHERE NOT l.granted AND a.datname = current_database()`.pipe(Effect.orDie)
      if ((rows[0]?.n ?? 0) >= count) return
      yield* Effect.sleep("20 millis")
    }
  })
