import { assert, layer } from "@effect/vitest"
import { Context, Effect, Layer } from "effect"
import { ImapSlotLimits, ImapSlots } from "../../src/imap/ImapSlots.ts"
import { AppConfig } from "../../src/platform/Config.ts"
import { Redis } from "../../src/platform/Redis.ts"
import { recordRedisCommands } from "../harness/redisCommands.ts"
import { configLayer, makeTestEnv, type TestEnv } from "../harness/TestEnv.ts"

/*
 * Issue 14, finding C: every watcher holds one IMAP slot lease for its connection's life. Each lease
 * used to be refreshed by its own timer and Redis call every TTL/3; the process now refreshes all the
 * leases it holds with one script call per tick.
 */

class Env extends Context.Service<Env, TestEnv>()("test/SlotRefreshEnv") {}

const TTL_MS = 1_200

const TestLayer = Layer.unwrap(
  Effect.map(makeTestEnv({ IMAP_SLOT_LEASE_TTL_MS: String(TTL_MS) }), (env) =>
    Layer.mergeAll(ImapSlots.layer.pipe(Layer.provide(ImapSlotLimits.layerDefaults)), Layer.succeed(Env, env)).pipe(
      Layer.provideMerge(Redis.layer),
      Layer.provideMerge(AppConfig.layer),
      Layer.provide(configLayer(env))
    )
  )
)

layer(TestLayer, { excludeTestServices: true, timeout: "60 seconds" })("IMAP slot refresh", (it) => {
  it.effect("the leases a process holds are refreshed by one Redis call per tick and stay held", () =>
    Effect.gen(function* () {
      const slots = yield* ImapSlots
      const redis = yield* Redis
      const env = yield* Env
      const accounts = Array.from({ length: 50 }, () => crypto.randomUUID())
      yield* Effect.forEach(accounts, (accountId) => slots.acquire(accountId), { discard: true })
      const slotPrefix = redis.key("imap-slots", "")
      // ~3 ticks (TTL/3 = 400 ms): before, one call per lease per tick (~150)
      const { seen } = yield* recordRedisCommands(
        env.env["REDIS_URL"] ?? "",
        (command) => command.name === "eval" && command.args.some((arg) => arg.startsWith(slotPrefix)),
        Effect.sleep(`${TTL_MS} millis`)
      )
      assert.isAtLeast(seen.length, 1, "no refresh seen")
      assert.isAtMost(seen.length, 6, `${seen.length} refresh calls for ~3 ticks`)
      for (const call of seen) assert.strictEqual(call.args[1], "50", "a refresh call covers every held lease")
      // still held a TTL later: every account's set has its one lease
      for (const accountId of accounts) {
        const members = yield* redis.use("test", (client) => client.zcard(redis.key("imap-slots", accountId)))
        assert.strictEqual(members, 1, `${accountId}'s lease kept`)
      }
    }).pipe(Effect.scoped)
  )
})
