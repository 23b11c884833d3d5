import { type Cause, Context, Effect, Layer, Metric, Option, Queue, Schema, Scope, Semaphore, Stream } from "effect"
import type { Redis as IORedis } from "ioredis"
import { createHash } from "node:crypto"
import { eventStreams, type UserEvent, UserEventJson, UserEventType } from "../contract/events/UserEvent.ts"
import { eventStreamsOpen, eventsPublished, eventsPublishFailed } from "../platform/Metrics.ts"
import { Redis, RedisError } from "../platform/Redis.ts"
import { EventsConfig } from "./EventsConfig.ts"
import { compareStreamIds } from "./StreamId.ts"

/** One message of a user's event stream, as the SSE endpoint writes it. */
export type EventMessage =
  /** The client's position is older than the window (or unknown): it should reload its state. */
  | { readonly _tag: "reset" }
  /** An event: its stream entry id, its type and its UserEventJson. */
  | { readonly _tag: "event"; readonly id: string; readonly type: UserEventType; readonly data: string }

type LiveEvent = Extract<EventMessage, { readonly _tag: "event" }>

export interface SubscribeOptions {
  /** Resume after this entry id (`Last-Event-ID`); absent: from now on. */
  readonly lastEventId: string | undefined
  /** Only these types; absent: every type. */
  readonly types: ReadonlySet<UserEventType> | undefined
}

export interface EventBusShape {
  /**
   * Appends the event to the user's stream and to the global one (one entry id for both). Never
   * fails: a publish that Redis cannot take is logged and counted, and the work that published goes on.
   */
  readonly publish: (userId: string, event: UserEvent) => Effect.Effect<void>
  /**
   * The user's events: those after `lastEventId` from the user's stream (or a `reset` first when that
   * position is outside the window), then the live events this process's reader fans out, without gap
   * or duplicate. The registration lives as long as the scope (a client hanging up frees it at once).
   */
  readonly subscribe: (
    userId: string,
    options: SubscribeOptions
  ) => Effect.Effect<Stream.Stream<EventMessage>, RedisError, Scope.Scope>
  /** Starts this process's reader of the global stream if it is not running (fails while Redis is down). */
  readonly ready: Effect.Effect<void, RedisError>
  /** Subscriptions open in this process. */
  readonly subscribers: Effect.Effect<number>
  /** Subscriptions of one user open in this process. */
  readonly subscribersOf: (userId: string) => Effect.Effect<number>
}

/**
 * Both XADDs in one script, global first: the global stream's new id is larger than every id it
 * holds, and every id of a user's stream came from it, so the user's stream takes the same id. A
 * reader of the global stream (the SSE fan-out) thereby knows the id a client resumes from.
 * KEYS: global, user. ARGV: global cap, user cap, user TTL (ms), user field, user id, event field, event.
 */
const publishScript = `
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', ARGV[4], ARGV[5], ARGV[6], ARGV[7])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], id, ARGV[4], ARGV[5], ARGV[6], ARGV[7])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
return id
`

const publishSha = createHash("sha1").update(publishScript).digest("hex")

/**
 * What decides whether a position is inside a user's window: nil when the stream does not exist,
 * else { length, last generated id, entries ever added, first id ('' when empty) }.
 */
const windowScript = `
if redis.call('EXISTS', KEYS[1]) == 0 then return nil end
local info = redis.call('XINFO', 'STREAM', KEYS[1])
local out = {'0', '0-0', '0', ''}
for i = 1, #info, 2 do
  local k = info[i]
  local v = info[i + 1]
  if k == 'length' then out[1] = tostring(v)
  elseif k == 'last-generated-id' then out[2] = v
  elseif k == 'entries-added' then out[3] = tostring(v)
  elseif k == 'first-entry' and v then out[4] = v[1] end
end
return out
`

const WindowInfo = Schema.NullOr(Schema.Tuple([Schema.String, Schema.String, Schema.String, Schema.String]))
const decodeWindow = Schema.decodeUnknownEffect(WindowInfo)

/** A stream entry as ioredis returns it: [id, [field, value, ...]]. */
type Entry = readonly [string, ReadonlyArray<string>]

// hand-written guards: the reader checks every reply of a busy stream, a schema decode costs too much there
const isStringArray = (value: unknown): value is ReadonlyArray<string> =>
  Array.isArray(value) && value.every((item) => typeof item === "string")
const isEntry = (value: unknown): value is Entry =>
  Array.isArray(value) && value.length === 2 && typeof value[0] === "string" && isStringArray(value[1])
const isEntries = (value: unknown): value is ReadonlyArray<Entry> => Array.isArray(value) && value.every(isEntry)
const decodeEntries = (value: unknown): Effect.Effect<ReadonlyArray<Entry>, string> =>
  isEntries(value) ? Effect.succeed(value) : Effect.fail("not a list of stream entries")
/** XREAD's reply: null (timed out) or [[stream, entries], ...]. */
const decodeXRead = (value: unknown): Effect.Effect<ReadonlyArray<Entry>, string> => {
  if (value === null) return Effect.succeed([])
  if (!Array.isArray(value)) return Effect.fail("not an XREAD reply")
  const entries: Array<Entry> = []
  for (const stream of value) {
    if (!Array.isArray(stream) || !isEntries(stream[1])) return Effect.fail("not an XREAD reply")
    entries.push(...stream[1])
  }
  return Effect.succeed(entries)
}

const decodeType = Schema.decodeUnknownOption(Schema.fromJsonString(Schema.Struct({ _tag: UserEventType })))
const encodeEvent = Schema.encodeEffect(UserEventJson)

const fieldOf = (fields: ReadonlyArray<string>, name: string): string | undefined => {
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === name) return fields[i + 1]
  return undefined
}

/** Is `lastEventId` outside the user's window (trimmed past, expired, or not an id the stream gave)? */
export const outsideWindow = (
  lastEventId: string,
  info: {
    readonly length: number
    readonly lastGenerated: string
    readonly added: number
    readonly first: string
  } | null
): boolean => {
  if (info === null) return true
  if (compareStreamIds(lastEventId, info.lastGenerated) > 0) return true
  const trimmed = info.added > info.length
  return trimmed && (info.first === "" || compareStreamIds(lastEventId, info.first) < 0)
}

interface Subscriber {
  readonly queue: Queue.Queue<LiveEvent, Cause.Done>
  readonly types: ReadonlySet<UserEventType> | undefined
}

const redisError = (what: string) => (cause: unknown) =>
  new RedisError({ message: `redis ${what} failed: ${cause instanceof Error ? cause.message : String(cause)}` })

export class EventBus extends Context.Service<EventBus, EventBusShape>()("mail-helper/EventBus") {
  static readonly layer = Layer.effect(
    EventBus,
    Effect.gen(function* () {
      const redis = yield* Redis
      const config = yield* EventsConfig
      const layerScope = yield* Effect.scope
      const globalStream = eventStreams.all(redis.prefix)
      const userStream = (userId: string) => eventStreams.user(redis.prefix, userId)

      const publish = (userId: string, event: UserEvent) =>
        encodeEvent(event).pipe(
          Effect.mapError((error) => new RedisError({ message: `event not encodable: ${error.message}` })),
          Effect.flatMap((json) =>
            redis.use("events publish", (client) => {
              const args = [
                globalStream,
                userStream(userId),
                config.globalStreamMaxLen,
                config.userStreamMaxLen,
                config.userStreamTtlSeconds * 1000,
                eventStreams.fieldUser,
                userId,
                eventStreams.fieldEvent,
                json
              ] as const
              // by hash (the script is sent once per Redis process, not with every event)
              return client
                .evalsha(publishSha, 2, ...args)
                .catch((error: unknown) =>
                  String(error).includes("NOSCRIPT") ? client.eval(publishScript, 2, ...args) : Promise.reject(error)
                )
            })
          ),
          Effect.andThen(Metric.update(Metric.withAttributes(eventsPublished, { type: event._tag }), 1)),
          Effect.catch((error) =>
            Effect.all([
              Metric.update(Metric.withAttributes(eventsPublishFailed, { type: event._tag }), 1),
              Effect.logWarning("user event not published", { type: event._tag, userId, error: error.message })
            ])
          ),
          Effect.asVoid,
          Effect.withSpan("EventBus.publish", { attributes: { "event.type": event._tag } })
        )

      // --- the fan-out: one reader of the global stream per process, subscribers in memory ---
      const registry = new Map<string, Set<Subscriber>>()
      let open = 0
      const gaugeOpen = Effect.suspend(() => Metric.update(eventStreamsOpen, open))

      const dispatch = (entries: ReadonlyArray<Entry>) => {
        for (const [id, fields] of entries) {
          const user = fieldOf(fields, eventStreams.fieldUser)
          const subscribers = user === undefined ? undefined : registry.get(user)
          if (subscribers === undefined) continue
          const data = fieldOf(fields, eventStreams.fieldEvent)
          const type = data === undefined ? Option.none() : decodeType(data)
          if (data === undefined || Option.isNone(type)) continue
          for (const subscriber of subscribers) {
            if (subscriber.types !== undefined && !subscriber.types.has(type.value._tag)) continue
            // a client that cannot keep up loses its stream; it resumes from its Last-Event-ID
            if (!Queue.offerUnsafe(subscriber.queue, { _tag: "event", id, type: type.value._tag, data }))
              Queue.endUnsafe(subscriber.queue)
          }
        }
      }

      /** Reads the global stream after `from` for ever, on its own blocking connection. */
      const readLoop = (connection: IORedis, from: string) =>
        Effect.gen(function* () {
          let position = from
          const step = Effect.tryPromise({
            try: () => connection.xread("COUNT", 1000, "BLOCK", 5000, "STREAMS", globalStream, position),
            catch: redisError("events xread")
          }).pipe(
            Effect.flatMap((reply) => Effect.mapError(decodeXRead(reply), redisError("events xread reply"))),
            Effect.flatMap((entries) => {
              dispatch(entries)
              const last = entries.at(-1)
              if (last !== undefined) position = last[0]
              return Effect.void
            }),
            Effect.catch((error) =>
              Effect.logWarning("event reader: read failed; retrying", error.message).pipe(
                Effect.andThen(Effect.sleep("1 second"))
              )
            )
          )
          return yield* Effect.forever(step)
        })

      // Started on the first subscription (workers only publish). Its position is fixed before any
      // subscriber reads its backlog, so every entry after it reaches the registered subscribers.
      const lock = Semaphore.makeUnsafe(1)
      let started = false
      const ensureReader = lock.withPermits(1)(
        Effect.suspend(() =>
          started
            ? Effect.void
            : Effect.gen(function* () {
                const latest = yield* redis.use("events position", (client) =>
                  client.xrevrange(globalStream, "+", "-", "COUNT", 1)
                )
                const entries = yield* Effect.mapError(decodeEntries(latest), redisError("events position reply"))
                const from = entries[0]?.[0] ?? "0-0"
                const connection = yield* redis.connection("events-reader", "blocking").pipe(Scope.provide(layerScope))
                yield* Effect.forkIn(readLoop(connection, from), layerScope)
                started = true
              })
        )
      )

      const readBacklog = (userId: string, after: string) =>
        Effect.gen(function* () {
          const key = userStream(userId)
          const window = yield* redis.use("events window", (client) => client.eval(windowScript, 1, key))
          const info = yield* Effect.mapError(decodeWindow(window), redisError("events window reply"))
          const parsed =
            info === null
              ? null
              : { length: Number(info[0]), lastGenerated: info[1], added: Number(info[2]), first: info[3] }
          if (outsideWindow(after, parsed)) return { reset: true as const, entries: [] as const }
          const entries: Array<Entry> = []
          let cursor = after
          for (;;) {
            const page = yield* redis.use("events xrange", (client) =>
              client.xrange(key, `(${cursor}`, "+", "COUNT", 500)
            )
            const decoded = yield* Effect.mapError(decodeEntries(page), redisError("events xrange reply"))
            entries.push(...decoded)
            const last = decoded.at(-1)
            if (last === undefined || decoded.length < 500) break
            cursor = last[0]
          }
          return { reset: false as const, entries }
        })

      const subscribe = (userId: string, options: SubscribeOptions) =>
        Effect.gen(function* () {
          yield* ensureReader
          const queue = yield* Queue.bounded<LiveEvent, Cause.Done>(config.subscriberBuffer)
          const subscriber: Subscriber = { queue, types: options.types }
          // registered before the backlog is read: what the backlog misses arrives live
          yield* Effect.acquireRelease(
            Effect.sync(() => {
              const set = registry.get(userId) ?? new Set<Subscriber>()
              set.add(subscriber)
              registry.set(userId, set)
              open += 1
            }).pipe(Effect.andThen(gaugeOpen)),
            () =>
              Effect.sync(() => {
                const set = registry.get(userId)
                set?.delete(subscriber)
                if (set !== undefined && set.size === 0) registry.delete(userId)
                open -= 1
              }).pipe(Effect.andThen(gaugeOpen), Effect.andThen(Queue.shutdown(queue)))
          )
          const head: Array<EventMessage> = []
          let seen: string | undefined
          if (options.lastEventId !== undefined) {
            const backlog = yield* readBacklog(userId, options.lastEventId)
            if (backlog.reset) head.push({ _tag: "reset" })
            else {
              seen = options.lastEventId
              for (const [id, fields] of backlog.entries) {
                seen = id
                const data = fieldOf(fields, eventStreams.fieldEvent)
                const type = data === undefined ? Option.none() : decodeType(data)
                if (data === undefined || Option.isNone(type)) continue
                if (options.types !== undefined && !options.types.has(type.value._tag)) continue
                head.push({ _tag: "event", id, type: type.value._tag, data })
              }
            }
          }
          const after = seen
          const live = Stream.fromQueue(queue).pipe(
            Stream.filter((event) => after === undefined || compareStreamIds(event.id, after) > 0)
          )
          return Stream.concat(Stream.fromIterable(head), live)
        })

      return EventBus.of({
        publish,
        subscribe,
        ready: ensureReader,
        subscribers: Effect.sync(() => open),
        subscribersOf: (userId) => Effect.sync(() => registry.get(userId)?.size ?? 0)
      })
    })
  )
}
