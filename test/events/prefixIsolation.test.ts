import { assert, it } from "@effect/vitest"
import { Context, Effect, Fiber, Layer, Stream } from "effect"
import { Redis as IORedis } from "ioredis"
import { MailAnalysed } from "../../src/contract/events/UserEvent.ts"
import { EmailId } from "../../src/contract/emails/EmailId.ts"
import { EventBus } from "../../src/events/EventBus.ts"
import { EventsLive } from "../../src/main/layers.ts"
import { AppConfig } from "../../src/platform/Config.ts"
import { Redis } from "../../src/platform/Redis.ts"
import { configLayer, makeTestEnv } from "../harness/TestEnv.ts"

/** One installation's event bus: its own REDIS_PREFIX, the same Redis database as the other. */
const installation = Effect.gen(function* () {
  const env = yield* makeTestEnv()
  const context = yield* Layer.build(
    EventsLive.pipe(
      Layer.provideMerge(Redis.layer),
      Layer.provideMerge(AppConfig.layer),
      Layer.provide(configLayer(env))
    )
  )
  return { bus: Context.get(context, EventBus), prefix: env.redisPrefix, redisUrl: env.redisUrl }
})

const analysed = () => new MailAnalysed({ occurredAt: new Date(), emailId: EmailId.make(crypto.randomUUID()) })

it.effect(
  "two installations sharing a Redis database never see each other's events (SSE fan-out, resume, dispatcher's stream)",
  () =>
    Effect.gen(function* () {
      const one = yield* installation
      const two = yield* installation
      // the same user id in both (an id is only unique within an installation's database)
      const user = crypto.randomUUID()

      const live = yield* two.bus.subscribe(user, { lastEventId: undefined, types: undefined })
      const received = yield* live.pipe(Stream.take(1), Stream.runCollect, Effect.forkScoped)
      yield* one.bus.publish(user, analysed())
      const own = analysed()
      yield* two.bus.publish(user, own)
      const [first] = yield* Fiber.join(received)
      assert.strictEqual(first?._tag, "event")
      assert.include(
        first?._tag === "event" ? first.data : "",
        own.emailId,
        "installation two's first event is its own"
      )

      // resuming from the start reads only installation two's own stream
      const backlog = yield* two.bus.subscribe(user, { lastEventId: "0-0", types: undefined })
      const resumed = yield* backlog.pipe(Stream.take(1), Stream.runCollect)
      assert.include(resumed[0]?._tag === "event" ? resumed[0].data : "", own.emailId)

      // the global streams the webhook dispatchers read (`<prefix>:events:all`): one entry each
      const redis = new IORedis(one.redisUrl, { maxRetriesPerRequest: 1 })
      yield* Effect.addFinalizer(() => Effect.sync(() => redis.disconnect()))
      for (const { prefix } of [one, two]) {
        const length = yield* Effect.promise(() => redis.xlen(`${prefix}:events:all`))
        assert.strictEqual(length, 1, `${prefix}:events:all holds its installation's event only`)
      }
    }).pipe(Effect.scoped),
  60_000
)
