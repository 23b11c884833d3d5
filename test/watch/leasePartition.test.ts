import { assert, it } from "@effect/vitest"
import { Effect } from "effect"
import { makeTestEnv } from "../harness/TestEnv.ts"
import {
  createAccounts,
  doubleOwnership,
  fencesNotGrowing,
  intervalsOf,
  type LeaseProcess,
  makeNetns,
  spawnLeaseWorker,
  startForwarder,
  waitFor
} from "./support/leases.ts"

/**
 * A worker cut off from Redis and PostgreSQL by a network partition. Worker `p` runs in a network
 * namespace of its own (`ip netns`, a veth pair): its only way to Redis and PostgreSQL is a TCP
 * forwarder on the host's end of the pair. Cutting turns the forwarder into a black hole (connections
 * stay open, nothing arrives: what a partition looks like, not a refused connection). Worker `h` runs
 * on the host. `p` must drop every account before `h` acquires it (the processes' own timestamps,
 * one clock: same machine), and after healing nothing is claimed twice.
 */
const accountCount = 30

const allCovered = (accounts: ReadonlyArray<string>, processes: ReadonlyArray<LeaseProcess>) => () =>
  accounts.every((account) => processes.filter((process) => process.owned().has(account)).length === 1)

const url = new URL(process.env["TEST_REDIS_URL"] ?? "redis://127.0.0.1:6379/0")

it.effect(
  "a partitioned worker stops watching before another takes its accounts, and nothing is owned twice after healing",
  () =>
    Effect.gen(function* () {
      const testEnv = yield* makeTestEnv()
      const accounts = createAccounts(testEnv, accountCount)
      const netns = yield* makeNetns
      const redisForward = yield* Effect.acquireRelease(
        Effect.promise(() => startForwarder(netns.hostAddress, { host: url.hostname, port: Number(url.port || 6379) })),
        (forwarder) => Effect.promise(() => forwarder.close())
      )
      const pgForward = yield* Effect.acquireRelease(
        Effect.promise(() => startForwarder(netns.hostAddress, { host: "127.0.0.1", port: 5432 })),
        (forwarder) => Effect.promise(() => forwarder.close())
      )
      const through = (value: string, port: number) => {
        const parsed = new URL(value)
        parsed.hostname = netns.hostAddress
        parsed.port = String(port)
        return parsed.toString()
      }
      const p = yield* spawnLeaseWorker("p", testEnv, {
        netns: netns.name,
        env: {
          REDIS_URL: through(testEnv.redisUrl, redisForward.port),
          DATABASE_URL: through(testEnv.runtimeDatabaseUrl, pgForward.port),
          DATABASE_OWNER_URL: through(testEnv.databaseUrl, pgForward.port)
        }
      })
      const h = yield* spawnLeaseWorker("h", testEnv)
      yield* Effect.promise(() =>
        waitFor(
          () => allCovered(accounts, [p, h])() && p.owned().size > 0 && h.owned().size > 0,
          60_000,
          "both workers hold accounts, each account once"
        )
      )

      const fromP = [...p.owned().keys()]
      const cutAt = Date.now()
      redisForward.cut()
      pgForward.cut()
      yield* Effect.promise(() =>
        waitFor(() => fromP.every((account) => h.owned().has(account)), 60_000, "h takes the partitioned accounts")
      )
      for (const account of fromP) {
        const dropped = p.reports.find((report) => report.at >= cutAt && !report.accounts.has(account))?.at
        const taken = h.reports.find((report) => report.at >= cutAt && report.accounts.has(account))?.at
        assert.isDefined(dropped, `p never dropped ${account}`)
        assert.isDefined(taken, `h never took ${account}`)
        assert.isBelow(dropped ?? Number.POSITIVE_INFINITY, taken ?? 0, `p dropped ${account} before h took it`)
      }
      const firstDrop = Math.min(
        ...p.reports.filter((report) => report.at >= cutAt && report.accounts.size === 0).map((report) => report.at)
      )
      const firstTake = Math.min(
        ...h.reports
          .filter((report) => report.at >= cutAt && fromP.some((account) => report.accounts.has(account)))
          .map((report) => report.at)
      )
      console.log(
        `partition: p held ${fromP.length}; dropped all ${firstDrop - cutAt} ms after the cut, h took the first ${firstTake - cutAt} ms after (gap ${firstTake - firstDrop} ms)`
      )

      const healAt = Date.now()
      redisForward.heal()
      pgForward.heal()
      yield* Effect.promise(() =>
        waitFor(
          () =>
            p.reports.some((report) => report.at > healAt && report.accounts.size > 0) &&
            allCovered(accounts, [p, h])(),
          90_000,
          "p rejoins and takes its share back"
        )
      )
      const intervals = intervalsOf([p, h])
      assert.deepStrictEqual(doubleOwnership(intervals), [], "an account claimed by two processes at once")
      assert.deepStrictEqual(fencesNotGrowing(intervals), [], "fences that did not grow")
    }).pipe(Effect.scoped),
  300_000
)
