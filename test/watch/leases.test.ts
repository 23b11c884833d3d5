import { assert, it } from "@effect/vitest"
import { ConfigProvider, Context, Effect, Exit, Layer, Schema, Scope, Stream } from "effect"
import { Redis as IORedis } from "ioredis"
import { AccountStore } from "../../src/accounts/AccountStore.ts"
import { AccountId } from "../../src/contract/accounts/Account.ts"
import { WorkerIdentity } from "../../src/jobs/WorkerRuntime.ts"
import { PlatformLive } from "../../src/main/layers.ts"
import { Crypto } from "../../src/platform/Crypto.ts"
import { AccountLeases, AccountLeasesLive } from "../../src/watch/AccountLeases.ts"
import { ownerOf } from "../../src/watch/rendezvous.ts"
import { makeTestEnv, type TestEnv } from "../harness/TestEnv.ts"
import { recordRedisCommands } from "../harness/redisCommands.ts"
import {
  createAccounts,
  doubleOwnership,
  fencesNotGrowing,
  intervalsOf,
  type OwnedReport,
  redisLeases,
  startForwarder,
  waitFor
} from "./support/leases.ts"

/**
 * Several lease instances in this process, each with its own Redis and PostgreSQL connections and
 * worker id, over this test's database and Redis prefix, with fast timings (TTL 1.5 s).
 */
const fast = {
  WATCH_LEASE_TTL_MS: "1500",
  WATCH_LEASE_RENEW_MS: "300",
  WATCH_LEASE_MARGIN_MS: "500",
  WATCH_HEARTBEAT_MS: "200",
  WATCH_WORKER_TTL_MS: "800",
  WATCH_ACCOUNTS_REFRESH_MS: "300"
}

const Instance = AccountLeasesLive.pipe(
  Layer.provide(AccountStore.layer.pipe(Layer.provide(Crypto.layer))),
  Layer.provide(WorkerIdentity.layer),
  Layer.provideMerge(PlatformLive)
)

interface Running {
  readonly name: string
  readonly reports: Array<OwnedReport>
  readonly exitedAt: () => number | undefined
  readonly leases: Context.Service.Shape<typeof AccountLeases>
  readonly owned: () => ReadonlyMap<string, { readonly fence: number }>
  readonly close: Effect.Effect<void>
}

const start = (name: string, testEnv: TestEnv, env: Record<string, string> = {}) =>
  Effect.gen(function* () {
    const scope = yield* Scope.make()
    const config = ConfigProvider.layer(ConfigProvider.fromUnknown({ ...testEnv.env, ...fast, ...env }))
    const context = yield* Layer.buildWithScope(Instance.pipe(Layer.provide(config)), scope)
    const leases = Context.get(context, AccountLeases)
    let latest: ReadonlyMap<string, { readonly fence: number }> = new Map()
    const reports: Array<OwnedReport> = []
    let closedAt: number | undefined
    yield* leases.owned.pipe(
      Stream.runForEach((owned) =>
        Effect.sync(() => {
          latest = owned.accounts
          reports.push({
            at: Date.now(),
            worker: leases.workerId,
            accounts: new Map([...owned.accounts].map(([id, { fence }]) => [id, fence]))
          })
        })
      ),
      Effect.forkIn(scope)
    )
    // the empty set a drain publishes may not reach the stream before its scope closes
    const close = Scope.close(scope, Exit.void).pipe(
      Effect.andThen(
        Effect.sync(() => {
          closedAt ??= Date.now()
        })
      )
    )
    yield* Effect.addFinalizer(() => close)
    return {
      name,
      reports,
      exitedAt: () => closedAt,
      leases,
      owned: () => latest,
      close
    } satisfies Running
  })

const coveredOnce = (accounts: ReadonlyArray<string>, instances: ReadonlyArray<Running>) => () =>
  accounts.every((account) => instances.filter((instance) => instance.owned().has(account)).length === 1)

const asAccountId = Schema.decodeUnknownSync(AccountId)

const until = (condition: () => boolean, message: string) => Effect.promise(() => waitFor(condition, 60_000, message))

it("rendezvous hashing: a joining worker takes about 1/n of the accounts, and only it gains any", () => {
  const accounts = Array.from({ length: 3_000 }, () => crypto.randomUUID())
  const before = ["w1", "w2", "w3"]
  const after = [...before, "w4"]
  const moved = accounts.filter((account) => ownerOf(account, before) !== ownerOf(account, after))
  assert.isTrue(moved.every((account) => ownerOf(account, after) === "w4"))
  // 1/4 of 3,000 = 750; the binomial spread is about +-24
  assert.isAbove(moved.length, 600)
  assert.isBelow(moved.length, 900)
})

it.live(
  "instances share the accounts once each; a join moves accounts only to the joiner; a drain hands over at once with larger fences",
  () =>
    Effect.gen(function* () {
      const testEnv = yield* makeTestEnv()
      const accounts = createAccounts(testEnv, 30)
      const a = yield* start("a", testEnv)
      const b = yield* start("b", testEnv)
      yield* until(() => coveredOnce(accounts, [a, b])() && a.owned().size > 0 && b.owned().size > 0, "a and b")
      for (const account of accounts) {
        const holder = a.owned().has(account) ? a : b
        assert.isTrue(yield* holder.leases.holds(asAccountId(account)))
      }
      const ownerBefore = new Map(accounts.map((account) => [account, a.owned().has(account) ? "a" : "b"]))

      const c = yield* start("c", testEnv)
      yield* until(() => c.owned().size > 0 && coveredOnce(accounts, [a, b, c])(), "c takes its share")
      for (const account of accounts) {
        const now = a.owned().has(account) ? "a" : b.owned().has(account) ? "b" : "c"
        assert.isTrue(now === ownerBefore.get(account) || now === "c", `${account} moved from a to b or back`)
      }

      const fromC = new Map([...c.owned()].map(([account, { fence }]) => [account, fence]))
      yield* c.close
      const left = yield* Effect.promise(() => redisLeases(testEnv.redisUrl, testEnv.redisPrefix))
      assert.deepStrictEqual(
        [...left.values()].filter((lease) => lease.holder === c.leases.workerId),
        [],
        "no lease of c left once it has closed"
      )
      yield* until(() => coveredOnce(accounts, [a, b])(), "a and b take c's accounts")
      for (const [account, fence] of fromC) {
        const now = a.owned().get(account) ?? b.owned().get(account)
        assert.isAbove(now?.fence ?? 0, fence, `the fence of ${account} grew`)
      }
      // over the whole run (join, hand-over, drain), from each instance's owned stream
      const intervals = intervalsOf([a, b, c])
      assert.deepStrictEqual(doubleOwnership(intervals), [], "an account claimed by two instances at once")
      assert.deepStrictEqual(fencesNotGrowing(intervals), [], "fences that did not grow")
    }).pipe(Effect.scoped),
  120_000
)

it.live(
  "an instance cut off from Redis drops its accounts before their Redis leases expire",
  () =>
    Effect.gen(function* () {
      const testEnv = yield* makeTestEnv()
      const accounts = createAccounts(testEnv, 10)
      const url = new URL(testEnv.redisUrl)
      const forwarder = yield* Effect.acquireRelease(
        Effect.promise(() => startForwarder("127.0.0.1", { host: url.hostname, port: Number(url.port || 6379) })),
        (f) => Effect.promise(() => f.close())
      )
      url.port = String(forwarder.port)
      const p = yield* start("p", testEnv, { REDIS_URL: url.toString() })
      yield* until(() => p.owned().size === accounts.length, "p holds every account")

      forwarder.cut()
      yield* until(() => p.owned().size === 0, "p drops its accounts")
      // read at once: every lease of p is still alive in Redis, so nobody else could have taken it yet
      const redis = new IORedis(testEnv.redisUrl, { maxRetriesPerRequest: 1 })
      const remaining = yield* Effect.promise(() =>
        Promise.all(accounts.map((account) => redis.pttl(`${testEnv.redisPrefix}:watch:lease:${account}`)))
      ).pipe(Effect.ensuring(Effect.sync(() => redis.disconnect())))
      assert.isTrue(
        remaining.every((ms) => ms > 0),
        `leases left in Redis when p dropped: ${remaining.join(",")} ms`
      )
      for (const account of accounts) assert.isFalse(yield* p.leases.holds(asAccountId(account)))
    }).pipe(Effect.scoped),
  120_000
)

it.live(
  "an account whose lease another worker holds is not taken until that lease is released or expires",
  () =>
    Effect.gen(function* () {
      const testEnv = yield* makeTestEnv()
      const [account] = createAccounts(testEnv, 1)
      const leaseKey = `${testEnv.redisPrefix}:watch:lease:${account}`
      const redis = new IORedis(testEnv.redisUrl, { maxRetriesPerRequest: 1 })
      yield* Effect.addFinalizer(() => Effect.sync(() => redis.disconnect()))
      // a worker that is not in the registry (partitioned, say) still holds the lease for 4 s
      yield* Effect.promise(() => redis.hset(leaseKey, "holder", "ghost", "fence", "7"))
      yield* Effect.promise(() => redis.hset(`${testEnv.redisPrefix}:watch:fences`, account ?? "", "7"))
      const ghostSince = Date.now()
      yield* Effect.promise(() => redis.pexpire(leaseKey, 4_000))
      const a = yield* start("a", testEnv)
      yield* until(() => a.owned().size === 1, "a takes the account once the ghost's lease expired")
      const takenAt = a.reports.find((report) => report.accounts.size === 1)?.at ?? 0
      // a renews and acquires every 300 ms: it could only succeed once the ghost's lease was gone
      // (a lower bound: a loaded machine only makes it later)
      assert.isAtLeast(takenAt, ghostSince + 4_000 - 50, "a took the account while the ghost still held it")
      assert.strictEqual(a.owned().get(account ?? "")?.fence, 8, "the fence continues after the ghost's 7")
    }).pipe(Effect.scoped),
  120_000
)

it.live(
  "the held leases are renewed by one Redis call per tick, and a renewal refused for one account loses only that lease",
  () =>
    Effect.gen(function* () {
      const testEnv = yield* makeTestEnv()
      const accounts = createAccounts(testEnv, 200)
      const a = yield* start("a", testEnv)
      yield* until(() => a.owned().size === accounts.length, "a holds all 200 accounts")
      const leasePrefix = `${testEnv.redisPrefix}:watch:lease:`
      // renewals over ~6 ticks (300 ms apart): before, one EVAL per account per tick (~1,200)
      const { seen } = yield* recordRedisCommands(
        testEnv.redisUrl,
        (command) => command.name === "eval" && command.args.some((arg) => arg.startsWith(leasePrefix)),
        Effect.sleep("1800 millis")
      )
      assert.isAtLeast(seen.length, 1, "no renewal seen")
      assert.isAtMost(seen.length, 12, `${seen.length} renewal calls for ~6 ticks`)
      for (const call of seen) assert.strictEqual(call.args[1], "200", "a renewal call covers every held lease")

      // one lease taken over by another holder: only it is lost (and taken again, with a larger fence, once it expired)
      const fencesBefore = new Map([...a.owned()].map(([account, { fence }]) => [account, fence]))
      const [victim] = accounts
      const redis = new IORedis(testEnv.redisUrl, { maxRetriesPerRequest: 1 })
      yield* Effect.addFinalizer(() => Effect.sync(() => redis.disconnect()))
      yield* Effect.promise(() => redis.hset(`${leasePrefix}${victim}`, "holder", "ghost"))
      yield* until(() => !a.owned().has(victim ?? ""), "the refused lease is dropped")
      yield* until(() => a.owned().has(victim ?? ""), "the account is acquired again")
      for (const account of accounts) {
        if (account === victim) continue
        assert.strictEqual(a.owned().get(account)?.fence, fencesBefore.get(account), `${account} kept its lease`)
      }
      assert.isAbove(a.owned().get(victim ?? "")?.fence ?? 0, fencesBefore.get(victim ?? "") ?? 0)
    }).pipe(Effect.scoped),
  120_000
)
