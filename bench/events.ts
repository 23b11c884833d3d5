/**
 * User event fan-out: one EventBus reader per process (XREAD BLOCK on the global stream, fanned
 * out in memory to the subscribers) versus one Redis connection per subscriber (each XREAD BLOCK
 * on its user's stream), with the same publisher (EventBus.publish: both XADDs in one script) at
 * the same rate, in one run on the same Redis.
 *
 *   npx tsx bench/events.ts [subscribers=200] [eventsPerSecond=2000] [seconds=10]
 *
 * Prints the delivery latency (publish call to the subscriber's hand, p50/p95/p99/max) and the
 * Redis connections each way needs. Uses Redis database 5 by default (BENCH_REDIS_URL); the event
 * streams are under the run's own prefix and deleted afterwards.
 */
import { ConfigProvider, Effect, Fiber, Layer, Stream } from "effect"
import { Redis as IORedis } from "ioredis"
import { MailAnalysed, eventStreams } from "../src/contract/events/UserEvent.ts"
import { EmailId } from "../src/contract/emails/EmailId.ts"
import { EventBus } from "../src/events/EventBus.ts"
import { EventsLive } from "../src/main/layers.ts"
import { AppConfig } from "../src/platform/Config.ts"
import { Redis } from "../src/platform/Redis.ts"

const subscribers = Number(process.argv[2] ?? 200)
const perSecond = Number(process.argv[3] ?? 2000)
const seconds = Number(process.argv[4] ?? 10)
const redisUrl = process.env["BENCH_REDIS_URL"] ?? "redis://127.0.0.1:6379/5"
const serviceName = `events-bench-${process.pid}`

const config = ConfigProvider.layer(
  ConfigProvider.fromUnknown({
    NODE_ENV: "test",
    // not used: the bus needs Redis only
    DATABASE_URL: "postgres://root@127.0.0.1:5432/unused",
    REDIS_URL: redisUrl,
    REDIS_PREFIX: serviceName,
    OTEL_SERVICE_NAME: serviceName,
    LOG_LEVEL: "Warn"
  })
)
const BusLive = EventsLive.pipe(
  Layer.provideMerge(Redis.layer),
  Layer.provideMerge(AppConfig.layer),
  Layer.provide(config)
)

const percentile = (sorted: ReadonlyArray<number>, p: number) =>
  sorted.length === 0 ? Number.NaN : (sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0)
const fmt = (millis: number) => `${millis.toFixed(2)} ms`

/** Connections Redis holds whose name starts with this run's service name (or the baseline's). */
const connectionsNamed = async (admin: IORedis, prefix: string) =>
  String(await admin.client("LIST"))
    .split("\n")
    .filter((line) => line.includes(` name=${prefix}`)).length

const users = Array.from({ length: subscribers }, () => crypto.randomUUID())

/** Publishes `perSecond` events for `seconds`, round robin over the users; sent times by email id. */
const publishAll = (sent: Map<string, number>) =>
  Effect.gen(function* () {
    const bus = yield* EventBus
    const total = perSecond * seconds
    const tickMillis = 10
    const perTick = Math.max(1, Math.round((perSecond * tickMillis) / 1000))
    const started = performance.now()
    let next = 0
    while (next < total) {
      const due = Math.min(total, Math.floor(((performance.now() - started) / 1000) * perSecond) + perTick)
      const batch: Array<Effect.Effect<void>> = []
      for (; next < due; next++) {
        const user = users[next % users.length] ?? ""
        const emailId = crypto.randomUUID()
        batch.push(
          Effect.suspend(() => {
            sent.set(emailId, performance.now())
            return bus.publish(user, new MailAnalysed({ occurredAt: new Date(), emailId: EmailId.make(emailId) }))
          })
        )
      }
      yield* Effect.all(batch, { concurrency: "unbounded", discard: true })
      yield* Effect.sleep(`${tickMillis} millis`)
    }
    return { total, millis: performance.now() - started }
  })

const emailIdOf = (data: string): string => {
  const parsed: unknown = JSON.parse(data)
  return typeof parsed === "object" && parsed !== null && "emailId" in parsed ? String(parsed.emailId) : ""
}

const report = (name: string, latencies: Array<number>, expected: number, connections: number) => {
  latencies.sort((a, b) => a - b)
  console.log(
    `${name.padEnd(32)} delivered ${latencies.length}/${expected}  p50 ${fmt(percentile(latencies, 50))}` +
      `  p95 ${fmt(percentile(latencies, 95))}  p99 ${fmt(percentile(latencies, 99))}` +
      `  max ${fmt(latencies.at(-1) ?? Number.NaN)}  redis connections ${connections}`
  )
  return { p50: percentile(latencies, 50), p95: percentile(latencies, 95) }
}

/** One bus reader, fanned out in memory. */
const ours = Effect.gen(function* () {
  const bus = yield* EventBus
  const admin = new IORedis(redisUrl)
  const sent = new Map<string, number>()
  const latencies: Array<number> = []
  const fibers = yield* Effect.forEach(users, (user) =>
    Effect.gen(function* () {
      const stream = yield* bus.subscribe(user, { lastEventId: undefined, types: undefined })
      return yield* Effect.forkChild(
        Stream.runForEach(stream, (message) =>
          Effect.sync(() => {
            if (message._tag !== "event") return
            const at = sent.get(emailIdOf(message.data))
            if (at !== undefined) latencies.push(performance.now() - at)
          })
        )
      )
    })
  )
  const connections = yield* Effect.promise(() => connectionsNamed(admin, serviceName))
  const { total } = yield* publishAll(sent)
  // let the last events arrive
  const deadline = performance.now() + 10_000
  while (latencies.length < total && performance.now() < deadline) yield* Effect.sleep("50 millis")
  yield* Effect.forEach(fibers, Fiber.interrupt, { discard: true })
  admin.disconnect()
  return report(`EventBus (1 reader, fan-out)`, latencies, total, connections)
}).pipe(Effect.scoped)

/** A Redis connection per subscriber, each blocked on its user's stream. */
const perConnection = Effect.gen(function* () {
  const admin = new IORedis(redisUrl)
  const sent = new Map<string, number>()
  const latencies: Array<number> = []
  const name = `events-bench-baseline-${process.pid}`
  let running = true
  const clients = users.map((user) => {
    const client = new IORedis(redisUrl, { connectionName: name, maxRetriesPerRequest: null })
    const loop = (async () => {
      let position = "$"
      while (running) {
        const reply = await client
          .xread("BLOCK", 1000, "STREAMS", eventStreams.user(serviceName, user), position)
          .catch(() => null)
        for (const [, entries] of reply ?? []) {
          for (const [id, fields] of entries) {
            position = id
            const data = fields[fields.indexOf(eventStreams.fieldEvent) + 1] ?? "null"
            const at = sent.get(emailIdOf(data))
            if (at !== undefined) latencies.push(performance.now() - at)
          }
        }
      }
    })()
    return { client, loop }
  })
  yield* Effect.promise(() => Promise.all(clients.map(({ client }) => client.ping())))
  // every reader is blocked in its first XREAD before the first event
  yield* Effect.sleep("500 millis")
  const connections = yield* Effect.promise(() => connectionsNamed(admin, name))
  const { total } = yield* publishAll(sent)
  const deadline = performance.now() + 10_000
  while (latencies.length < total && performance.now() < deadline) yield* Effect.sleep("50 millis")
  running = false
  yield* Effect.promise(() => Promise.all(clients.map(({ loop }) => loop)))
  for (const { client } of clients) client.disconnect()
  admin.disconnect()
  return report("a connection per subscriber", latencies, total, connections)
})

const main = Effect.gen(function* () {
  console.log(`${subscribers} subscribers, ${perSecond} events/s for ${seconds} s (${perSecond * seconds} events)`)
  const bus = yield* ours
  const raw = yield* perConnection
  console.log(
    `latency ratio (EventBus / per-connection): p50 ${(bus.p50 / raw.p50).toFixed(2)}  p95 ${(bus.p95 / raw.p95).toFixed(2)}`
  )
  // the streams of this run
  const admin = new IORedis(redisUrl)
  yield* Effect.promise(() =>
    admin.unlink(eventStreams.all(serviceName), ...users.map((user) => eventStreams.user(serviceName, user)))
  )
  admin.disconnect()
}).pipe(Effect.provide(BusLive))

Effect.runPromise(main).then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error)
    process.exit(1)
  }
)
