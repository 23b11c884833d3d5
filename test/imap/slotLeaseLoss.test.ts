import { assert, layer } from "@effect/vitest"
import { Cause, Context, Effect, Exit, Layer, Option } from "effect"
import { ImapSlotLimits, ImapSlots } from "../../src/imap/ImapSlots.ts"
import { AppConfig } from "../../src/platform/Config.ts"
import { Redis } from "../../src/platform/Redis.ts"
import { configLayer, makeTestEnv, type TestEnv } from "../harness/TestEnv.ts"

/*
 * Issue 15: a holder stalled longer than the slot lease's TTL finds its lease expired at the next
 * renewal (src/imap/ImapSlots.ts). When a slot is free it takes one again under the same lease; when
 * the account's slots are all taken meanwhile the lease is lost and the work holding it is stopped
 * with ImapSlotUnavailable `lost`, instead of going on over the account's cap. The stall is
 * simulated by deleting the lease from Redis, as its expiry would.
 */

class Env extends Context.Service<Env, TestEnv>()("test/SlotLeaseEnv") {}

const TTL_MS = 1_000

const TestLayer = Layer.unwrap(
  Effect.map(makeTestEnv({ IMAP_MAX_CONNECTIONS_PER_ACCOUNT: "1", IMAP_SLOT_LEASE_TTL_MS: String(TTL_MS) }), (env) =>
    Layer.mergeAll(ImapSlots.layer.pipe(Layer.provide(ImapSlotLimits.layerDefaults)), Layer.succeed(Env, env)).pipe(
      Layer.provideMerge(Redis.layer),
      Layer.provideMerge(AppConfig.layer),
      Layer.provide(configLayer(env))
    )
  )
)

layer(TestLayer, { excludeTestServices: true, timeout: "60 seconds" })("IMAP slot lease loss", (it) => {
  it.effect("an expired lease is taken again when a slot is free, and the holder goes on", () =>
    Effect.gen(function* () {
      const slots = yield* ImapSlots
      const redis = yield* Redis
      const accountId = crypto.randomUUID()
      const key = redis.key("imap-slots", accountId)
      const exit = yield* Effect.exit(
        slots.withSlot(
          accountId,
          Effect.gen(function* () {
            const members = yield* Effect.promise(() => redis.client.zrange(key, "0", "-1"))
            assert.lengthOf(members, 1)
            // the holder's lease vanishes as if it had stalled past the TTL
            yield* Effect.promise(() => redis.client.del(key))
            yield* Effect.sleep(TTL_MS)
            const again = yield* Effect.promise(() => redis.client.zrange(key, "0", "-1"))
            assert.deepStrictEqual(again, members, "the same lease is back")
            return "done"
          })
        )
      )
      assert.isTrue(Exit.isSuccess(exit), String(exit))
    })
  )

  it.effect("a lease lost while another caller took the only slot stops the holder's work (`lost`)", () =>
    Effect.gen(function* () {
      const slots = yield* ImapSlots
      const redis = yield* Redis
      const accountId = crypto.randomUUID()
      const key = redis.key("imap-slots", accountId)
      let finished = false
      const exit = yield* Effect.exit(
        slots
          .withSlot(
            accountId,
            Effect.gen(function* () {
              yield* Effect.promise(() => redis.client.del(key))
              // another process takes the freed slot and holds it (its lease is refreshed by its scope)
              yield* Effect.forkScoped(
                Effect.scoped(Effect.andThen(slots.acquire(accountId, { wait: 0 }), Effect.never))
              )
              // the stalled holder would go on using its connection for a long time
              yield* Effect.sleep("20 seconds")
              finished = true
            })
          )
          .pipe(Effect.scoped, Effect.timeout("10 seconds"))
      )
      assert.isFalse(finished)
      const error = Exit.isFailure(exit) ? Cause.findErrorOption(exit.cause) : Option.none()
      assert.isTrue(Option.isSome(error), String(exit))
      const reason = Option.isSome(error) && error.value._tag === "ImapSlotUnavailable" ? error.value.reason : "other"
      assert.strictEqual(reason, "lost", String(exit))
    })
  )
})
