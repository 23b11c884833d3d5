import { assert, it } from "@effect/vitest"
import { Context, Effect, Layer, Schedule } from "effect"
import { Redis as IORedis } from "ioredis"
import { EmailId } from "../../src/contract/emails/EmailId.ts"
import { eventStreams, MailAnalysed, type UserEventType } from "../../src/contract/events/UserEvent.ts"
import { EventBus } from "../../src/events/EventBus.ts"
import { JobsLive, PlatformLive } from "../../src/main/layers.ts"
import { DatabaseError } from "../../src/platform/Database.ts"
import { WebhookStore } from "../../src/webhooks/WebhookStore.ts"
import { WebhooksConfig } from "../../src/webhooks/WebhooksConfig.ts"
import { WebhooksDispatcherWorkerLive } from "../../src/webhooks/WebhooksLive.ts"
import { configLayer, makeTestEnv, type TestEnv } from "../harness/TestEnv.ts"
import { recordRedisCommands } from "../harness/redisCommands.ts"

/**
 * The dispatcher alone (no job runtime), over this test's database and Redis prefix (so its event
 * stream and consumer group are the test's own), with its store wrapped to count the subscriptions
 * look-ups (one system-scope transaction each) and, for `failFor`, to claim that owner has a webhook
 * for mail.analysed whose delivery rows cannot be written.
 */
const startDispatcher = (testEnv: TestEnv, failFor?: string) =>
  Effect.gen(function* () {
    const lookups: Array<ReadonlyArray<string>> = []
    const CountingStoreLive = Layer.effect(
      WebhookStore,
      Effect.gen(function* () {
        const store = yield* WebhookStore
        return WebhookStore.of({
          ...store,
          subscriptions: (owners) =>
            Effect.sync(() => lookups.push(owners)).pipe(
              Effect.andThen(store.subscriptions(owners)),
              Effect.map((found) =>
                failFor !== undefined && owners.some((owner) => owner === failFor)
                  ? new Map([...found, [failFor, new Set<UserEventType>(["mail.analysed"])]])
                  : found
              )
            ),
          createDeliveries: (owner, event) =>
            owner === failFor
              ? Effect.fail(new DatabaseError({ message: "test: delivery rows refused", retryable: true }))
              : store.createDeliveries(owner, event)
        })
      })
    ).pipe(Layer.provide(WebhookStore.layer))
    const context = yield* Layer.build(
      WebhooksDispatcherWorkerLive.pipe(
        Layer.provide(CountingStoreLive),
        Layer.provideMerge(WebhooksConfig.layer),
        Layer.provideMerge(JobsLive),
        Layer.provideMerge(PlatformLive),
        Layer.provide(configLayer(testEnv))
      )
    )
    return { context, lookups }
  })

/** Polls `check` until it is true, for at most 30 s (the machine is shared). */
const until = <E, R>(what: string, check: Effect.Effect<boolean, E, R>) =>
  check.pipe(
    Effect.flatMap((ok) => (ok ? Effect.void : Effect.fail(what))),
    Effect.retry(Schedule.spaced("50 millis").pipe(Schedule.upTo({ times: 600 }))),
    Effect.mapError((error) => new Error(`timed out waiting: ${String(error)}`)),
    Effect.orDie
  )

/** The ids pending in the group (read, not acknowledged), from XPENDING's extended form. */
const pendingIds = (redis: IORedis, stream: string, group: string) =>
  Effect.promise(() => redis.xpending(stream, group, "-", "+", 1000)).pipe(
    Effect.flatMap((reply) => {
      const ids = Array.isArray(reply)
        ? reply.flatMap((item) => (Array.isArray(item) && typeof item[0] === "string" ? [item[0]] : []))
        : undefined
      return ids !== undefined && Array.isArray(reply) && ids.length === reply.length
        ? Effect.succeed(ids)
        : Effect.die(new Error(`unexpected XPENDING reply: ${JSON.stringify(reply)}`))
    })
  )

const analysed = () => new MailAnalysed({ occurredAt: new Date(), emailId: EmailId.make(crypto.randomUUID()) })

it.live(
  "a burst of events is read in few batches: few subscriptions look-ups, one XACK per batch, every entry acknowledged",
  () =>
    Effect.gen(function* () {
      const testEnv = yield* makeTestEnv()
      const { context, lookups } = yield* startDispatcher(testEnv)
      const bus = Context.get(context, EventBus)
      const { consumerGroup } = Context.get(context, WebhooksConfig)
      const stream = eventStreams.all(testEnv.redisPrefix)
      const redis = new IORedis(testEnv.redisUrl, { maxRetriesPerRequest: 1 })
      yield* Effect.addFinalizer(() => Effect.sync(() => redis.disconnect()))

      // 30 events of 30 users without a webhook over ~150 ms, as one message's job states, stored,
      // analysed and rules events come; before the pacing each was a batch of its own (~30 look-ups)
      const users: ReadonlyArray<string> = Array.from({ length: 30 }, () => crypto.randomUUID())
      const isOurs = (owners: ReadonlyArray<string>) => owners.some((owner) => users.includes(owner))
      const { seen, result: publishedMillis } = yield* recordRedisCommands(
        testEnv.redisUrl,
        (command) => command.name === "xack" && command.args[0] === stream,
        (acks) =>
          Effect.gen(function* () {
            const started = Date.now()
            for (const user of users) {
              yield* bus.publish(user, analysed())
              yield* Effect.sleep("5 millis")
            }
            const publishedMillis = Date.now() - started
            yield* until(
              "every event looked up and acknowledged",
              pendingIds(redis, stream, consumerGroup).pipe(
                Effect.map(
                  (pending) =>
                    pending.length === 0 && users.every((user) => lookups.some((owners) => owners.includes(user)))
                )
              )
            )
            // MONITOR reports a command a moment after it ran
            yield* until(
              "every XACK seen",
              Effect.sync(() => acks().reduce((n, ack) => n + ack.args.length - 2, 0) >= users.length)
            )
            return publishedMillis
          })
      )

      // one look-up per read interval (the dispatcher's readIntervalMillis, 250 ms): the burst's first
      // event is read at once, the rest once the interval has passed (one more if publishing was slow)
      const ours = lookups.filter(isOurs)
      const allowed = 2 + Math.ceil(publishedMillis / 250)
      assert.isAtMost(
        ours.length,
        allowed,
        `${ours.length} subscriptions look-ups for ${users.length} events published over ${publishedMillis} ms`
      )
      // each batch acknowledged with one XACK naming all of its entries
      assert.isAtMost(seen.length, ours.length, `${seen.length} XACK calls for ${ours.length} batches`)
      assert.strictEqual(
        seen.reduce((n, ack) => n + ack.args.length - 2, 0),
        users.length
      )
    }).pipe(Effect.scoped),
  60_000
)

it.live("an entry whose delivery rows fail stays pending; the rest of its batch is acknowledged", () =>
  Effect.gen(function* () {
    const testEnv = yield* makeTestEnv()
    const failing = crypto.randomUUID()
    const { context, lookups } = yield* startDispatcher(testEnv, failing)
    const bus = Context.get(context, EventBus)
    const { consumerGroup } = Context.get(context, WebhooksConfig)
    const stream = eventStreams.all(testEnv.redisPrefix)
    const redis = new IORedis(testEnv.redisUrl, { maxRetriesPerRequest: 1 })
    yield* Effect.addFinalizer(() => Effect.sync(() => redis.disconnect()))

    const users: ReadonlyArray<string> = [
      crypto.randomUUID(),
      crypto.randomUUID(),
      failing,
      crypto.randomUUID(),
      crypto.randomUUID()
    ]
    for (const user of users) yield* bus.publish(user, analysed())
    yield* until(
      "every event looked up, all but one acknowledged",
      pendingIds(redis, stream, consumerGroup).pipe(
        Effect.map(
          (pending) => pending.length === 1 && users.every((user) => lookups.some((owners) => owners.includes(user)))
        )
      )
    )
    const [pending] = yield* pendingIds(redis, stream, consumerGroup)
    const entry = yield* Effect.promise(() => redis.xrange(stream, pending ?? "", pending ?? ""))
    const fields = entry[0]?.[1] ?? []
    assert.strictEqual(fields[fields.indexOf(eventStreams.fieldUser) + 1], failing)
  }).pipe(Effect.scoped)
)
