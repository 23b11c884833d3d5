import { assert, it } from "@effect/vitest"
import { Effect } from "effect"
import { makeTestEnv } from "../harness/TestEnv.ts"
import {
  createAccounts,
  doubleOwnership,
  fencesNotGrowing,
  intervalsOf,
  type LeaseProcess,
  redisLeases,
  spawnLeaseWorker,
  waitFor
} from "./support/leases.ts"

/**
 * Account leases across real processes (test/watch/support/leaseWorker.ts: the leases layer alone,
 * over this test's PostgreSQL and Redis, default timings), judged from the owned sets the processes
 * report with their own timestamps: two processes never claim one account at the same moment
 * (exact interval overlap over every report, not a sampled approximation), and fences only grow.
 */
const accountCount = 40
const allCovered = (accounts: ReadonlyArray<string>, processes: ReadonlyArray<LeaseProcess>) => () =>
  accounts.every((account) => processes.filter((process) => process.owned().has(account)).length === 1)

const acquiredAt = (process: LeaseProcess, account: string, after: number) =>
  process.reports.find((report) => report.at >= after && report.accounts.has(account))?.at

it.effect(
  "two workers share the accounts, a SIGKILLed one's move within 15 s, a SIGTERMed one releases at once",
  () =>
    Effect.gen(function* () {
      const testEnv = yield* makeTestEnv()
      const accounts = createAccounts(testEnv, accountCount)
      const a = yield* spawnLeaseWorker("a", testEnv)
      const b = yield* spawnLeaseWorker("b", testEnv)
      yield* Effect.promise(() =>
        waitFor(
          () => allCovered(accounts, [a, b])() && a.owned().size > 0 && b.owned().size > 0,
          60_000,
          "two workers hold every account once"
        )
      )
      // rendezvous hashing over two workers: roughly half each (40 accounts: 10..30 each with margin)
      assert.isAtLeast(a.owned().size, 8, `a holds ${a.owned().size}`)
      assert.isAtLeast(b.owned().size, 8, `b holds ${b.owned().size}`)
      const leases = yield* Effect.promise(() => redisLeases(testEnv.redisUrl, testEnv.redisPrefix))
      for (const account of accounts) {
        const holder = a.owned().has(account) ? a : b
        assert.strictEqual(leases.get(account)?.holder, holder.workerId(), `redis holder of ${account}`)
        assert.strictEqual(leases.get(account)?.fence, holder.owned().get(account))
      }

      // SIGKILL a: b watches its accounts within 15 s (TTL 8 s + one renew interval by design)
      const fromA = [...a.owned().keys()]
      a.child.kill("SIGKILL")
      const killed = yield* Effect.promise(() => a.exited)
      yield* Effect.promise(() =>
        waitFor(() => fromA.every((account) => b.owned().has(account)), 60_000, "b takes a's accounts")
      )
      const takeover = Math.max(...fromA.map((account) => (acquiredAt(b, account, killed.at - 1_000) ?? 0) - killed.at))
      console.log(`takeover after SIGKILL: ${takeover} ms for ${fromA.length} accounts`)
      assert.isBelow(takeover, 15_000, "accounts of a SIGKILLed worker move within 15 s")

      // a third worker joins: it gets a share, b releases that share to it
      const c = yield* spawnLeaseWorker("c", testEnv)
      yield* Effect.promise(() =>
        waitFor(() => c.owned().size > 0 && allCovered(accounts, [b, c])(), 60_000, "c takes its share")
      )
      const fromC = [...c.owned().keys()]
      // SIGTERM c: its leases are released at once, so b acquires well before they could have expired
      c.child.kill("SIGTERM")
      const terminated = yield* Effect.promise(() => c.exited)
      const left = yield* Effect.promise(() => redisLeases(testEnv.redisUrl, testEnv.redisPrefix))
      assert.deepStrictEqual(
        [...left.values()].filter((lease) => lease.holder === c.workerId()),
        [],
        "no lease of c is left after its exit"
      )
      yield* Effect.promise(() =>
        waitFor(() => fromC.every((account) => b.owned().has(account)), 60_000, "b takes c's accounts back")
      )
      const handback = Math.max(
        ...fromC.map((account) => (acquiredAt(b, account, terminated.at - 5_000) ?? 0) - terminated.at)
      )
      console.log(`takeover after SIGTERM: ${handback} ms for ${fromC.length} accounts`)
      // released, not expired: taken before the 8 s TTL could have run out
      assert.isBelow(handback, 8_000, "a drained worker's accounts are taken before its leases would expire")

      const intervals = intervalsOf([a, b, c])
      assert.deepStrictEqual(doubleOwnership(intervals), [], "an account claimed by two processes at once")
      assert.deepStrictEqual(fencesNotGrowing(intervals), [], "fences that did not grow")
    }).pipe(Effect.scoped),
  240_000
)
