/**
 * The worker side of webhooks: reads the global event stream (`eventStreams.all`, under REDIS_PREFIX) through the
 * consumer group WEBHOOK_CONSUMER_GROUP (every worker one consumer, so each event is dispatched by
 * one of them), and for each event writes one delivery row per matching enabled webhook of its
 * owner and queues one `webhook.deliver` job per row (payload: the row's id); one query per batch
 * first finds which owners have an enabled webhook for which types, so the events of everyone else
 * (most users) cost no write and no per-event query. A batch's handled entries are acknowledged
 * (one XACK) only after that; an entry whose handling failed stays pending and is claimed again
 * (XAUTOCLAIM, also from a consumer that died) once it has been idle for a minute. Reads are paced
 * (`readIntervalMillis`): an event after a quiet period is read at once, the ones that follow it
 * wait for the next read, so a burst is one batch and one look-up, not one per event. Reading an
 * event twice is harmless: the rows are unique per webhook and event, the jobs de-duplicated by
 * delivery, and a delivered delivery is not sent again.
 */
import { Clock, Effect, Option, Schema } from "effect"
import type { Redis as IORedis } from "ioredis"
import { hostname } from "node:os"
import { eventStreams, UserEventType } from "../contract/events/UserEvent.ts"
import { WebhookDeliverJob } from "../contract/jobs/WebhookDeliverJob.ts"
import { UserId } from "../contract/users/UserId.ts"
import { Jobs } from "../jobs/Jobs.ts"
import { Redis, RedisError } from "../platform/Redis.ts"
import { WebhookStore } from "./WebhookStore.ts"
import { WebhooksConfig } from "./WebhooksConfig.ts"

/** An entry as ioredis returns it: [id, [field, value, ...]] (fields null for an entry deleted while pending). */
type Entry = readonly [string, ReadonlyArray<string> | null]

const isFields = (value: unknown): value is ReadonlyArray<string> | null =>
  value === null || (Array.isArray(value) && value.every((item) => typeof item === "string"))
const isEntry = (value: unknown): value is Entry =>
  Array.isArray(value) && value.length === 2 && typeof value[0] === "string" && isFields(value[1])
const isEntries = (value: unknown): value is ReadonlyArray<Entry> => Array.isArray(value) && value.every(isEntry)

const decodeReadGroup = (value: unknown): ReadonlyArray<Entry> | undefined => {
  if (value === null) return []
  if (!Array.isArray(value)) return undefined
  const entries: Array<Entry> = []
  for (const stream of value) {
    if (!Array.isArray(stream) || !isEntries(stream[1])) return undefined
    entries.push(...stream[1])
  }
  return entries
}
/** XAUTOCLAIM's reply: [next cursor, entries, deleted ids]. */
const decodeAutoClaim = (
  value: unknown
): { readonly next: string; readonly entries: ReadonlyArray<Entry> } | undefined =>
  Array.isArray(value) && typeof value[0] === "string" && isEntries(value[1])
    ? { next: value[0], entries: value[1] }
    : undefined

const fieldOf = (fields: ReadonlyArray<string>, name: string): string | undefined => {
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === name) return fields[i + 1]
  return undefined
}

const decodeType = Schema.decodeUnknownOption(Schema.fromJsonString(Schema.Struct({ _tag: UserEventType })))
const decodeUser = Schema.decodeUnknownOption(UserId)

const redisError = (what: string) => (cause: unknown) =>
  new RedisError({ message: `redis ${what} failed: ${cause instanceof Error ? cause.message : String(cause)}` })

/** Entries idle this long in another consumer's (or our own) pending list are claimed again. */
const claimIdleMillis = 60_000

/**
 * After a read that returned entries, the next read starts no earlier than this long after that one
 * returned. XREADGROUP returns as soon as one entry exists, and every message makes several events in
 * quick succession (job states, stored, analysed, rules applied), so unpaced nearly every event was a
 * batch of its own with its own subscriptions look-up (a transaction of 4 round trips) and XACK: the
 * worker's largest source of transactions. Paced, it is one look-up per interval. A read after a quiet
 * period (BLOCK) returns at once, so a lone event waits for nothing; a webhook's delivery is a job
 * anyway, so a quarter of a second more is invisible to its receiver.
 */
const readIntervalMillis = 250
/** Entries one read (and one XAUTOCLAIM page) takes; a full batch is read again without a pause (a backlog). */
const batchSize = 100

/** Runs the dispatcher in a fiber of the current scope (WebhooksDispatcherWorkerLive). */
export const runDispatcher = Effect.gen(function* () {
  const redis = yield* Redis
  const store = yield* WebhookStore
  const jobs = yield* Jobs
  const config = yield* WebhooksConfig
  const group = config.consumerGroup
  const stream = eventStreams.all(redis.prefix)
  // one consumer per worker process (not WorkerIdentity: the API loads this module's layer file, and
  // jobs/WorkerRuntime.ts is the worker's)
  const consumer = `${hostname()}:${process.pid}:${crypto.randomUUID().slice(0, 8)}`
  const connection: IORedis = yield* redis.connection("webhooks-dispatcher", "blocking")

  const command = <A>(what: string, run: () => Promise<A>) => Effect.tryPromise({ try: run, catch: redisError(what) })

  const ensureGroup = command("webhooks xgroup", () =>
    connection.xgroup("CREATE", stream, group, "$", "MKSTREAM")
  ).pipe(
    Effect.asVoid,
    Effect.catch((error) => (error.message.includes("BUSYGROUP") ? Effect.void : Effect.fail(error)))
  )

  /** One XACK for the handled entries of a batch. */
  const ack = (ids: ReadonlyArray<string>) =>
    ids.length === 0 ? Effect.void : command("webhooks xack", () => connection.xack(stream, group, ...ids))

  /** The owner and event of an entry, when it has both (else a warning, and it is only acknowledged). */
  const parse = ([id, fields]: Entry) => {
    const user = fields === null ? undefined : fieldOf(fields, eventStreams.fieldUser)
    const data = fields === null ? undefined : fieldOf(fields, eventStreams.fieldEvent)
    const owner = user === undefined ? Option.none() : decodeUser(user)
    const type = data === undefined ? Option.none() : decodeType(data)
    return data !== undefined && Option.isSome(owner) && Option.isSome(type)
      ? Option.some({ id, owner: owner.value, type: type.value._tag, payload: data })
      : Option.none()
  }

  /**
   * One entry: its deliveries written and queued; its id when it is to be acknowledged, none when
   * it failed (it stays pending).
   */
  const handle = (
    entry: Entry,
    subscribed: ReadonlyMap<string, ReadonlySet<UserEventType>>
  ): Effect.Effect<Option.Option<string>> =>
    Effect.gen(function* () {
      const [id, fields] = entry
      const event = parse(entry)
      if (Option.isSome(event)) {
        const { owner, type, payload } = event.value
        // no enabled webhook of the owner receives this type: nothing to write (most events)
        if (subscribed.get(owner)?.has(type) === true) {
          const created = yield* store.createDeliveries(owner, { id, type, payload })
          for (const delivery of created) {
            if (delivery.state !== "pending") continue
            yield* jobs.submit(WebhookDeliverJob, { deliveryId: delivery.id }, { ownerId: owner })
          }
        }
      } else if (fields !== null) {
        yield* Effect.logWarning("webhooks: an event stream entry without a user or event; skipped", { id })
      }
      return Option.some(id)
    }).pipe(
      Effect.catch((error) =>
        Effect.logWarning("webhooks: event not dispatched; it is claimed again later", {
          id: entry[0],
          error: error.message
        }).pipe(Effect.as(Option.none()))
      )
    )

  /**
   * A batch: one query for which of its owners have webhooks for which types, then each entry, then
   * one XACK of those handled. The look-up (or the XACK) failing leaves the whole batch pending
   * (claimed again later), as a failed entry would.
   */
  const handleBatch = (entries: ReadonlyArray<Entry>) =>
    Effect.gen(function* () {
      if (entries.length === 0) return
      const owners = entries.flatMap((entry) => Option.toArray(Option.map(parse(entry), (event) => event.owner)))
      const subscribed = yield* store.subscriptions(owners)
      const handled = yield* Effect.forEach(entries, (entry) => handle(entry, subscribed))
      yield* ack(handled.flatMap(Option.toArray))
    }).pipe(
      Effect.catch((error) =>
        Effect.logWarning("webhooks: a batch of events not dispatched; it is claimed again later", {
          entries: entries.length,
          error: error.message
        })
      )
    )

  let lastClaim = 0
  const claimStale = Effect.gen(function* () {
    let cursor = "0-0"
    for (let page = 0; page < 10; page++) {
      const reply = yield* command("webhooks xautoclaim", () =>
        connection.xautoclaim(stream, group, consumer, claimIdleMillis, cursor, "COUNT", batchSize)
      )
      const decoded = decodeAutoClaim(reply)
      if (decoded === undefined)
        return yield* new RedisError({ message: "redis webhooks xautoclaim: unexpected reply" })
      yield* handleBatch(decoded.entries)
      if (decoded.next === "0-0") return
      cursor = decoded.next
    }
  })

  /** When the next read may start: after a read that returned some entries (not a full batch), see readIntervalMillis. */
  let nextReadAt = 0
  const step = Effect.gen(function* () {
    const wait = nextReadAt - (yield* Clock.currentTimeMillis)
    if (wait > 0) yield* Effect.sleep(wait)
    if (Date.now() - lastClaim > claimIdleMillis / 2) {
      lastClaim = Date.now()
      yield* claimStale
    }
    const reply = yield* command("webhooks xreadgroup", () =>
      connection.xreadgroup("GROUP", group, consumer, "COUNT", batchSize, "BLOCK", 5000, "STREAMS", stream, ">")
    )
    const entries = decodeReadGroup(reply)
    if (entries === undefined) return yield* new RedisError({ message: "redis webhooks xreadgroup: unexpected reply" })
    // counted from the reply, not the request: a read that waited (BLOCK) started before its first entry
    // existed, and the events that follow that entry are to wait for the next read
    const returned = yield* Clock.currentTimeMillis
    nextReadAt = entries.length > 0 && entries.length < batchSize ? returned + readIntervalMillis : 0
    yield* handleBatch(entries)
  }).pipe(
    Effect.catch((error) =>
      Effect.logWarning("webhooks dispatcher: read failed; retrying", error.message).pipe(
        Effect.andThen(Effect.sleep("1 second")),
        // the group is gone when the stream was deleted: made again
        Effect.andThen(Effect.ignore(ensureGroup))
      )
    )
  )

  yield* ensureGroup.pipe(
    Effect.catch((error) => Effect.logWarning("webhooks dispatcher: consumer group not created yet", error.message))
  )
  yield* Effect.forkScoped(Effect.forever(step))
})
