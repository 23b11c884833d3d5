import { Context, Duration, Effect, Layer, Metric, Ref, Schedule } from "effect"
import { WorkerIdentity } from "../jobs/WorkerRuntime.ts"
import { watchLiveWorkers } from "../platform/Metrics.ts"
import { Redis, type RedisError } from "../platform/Redis.ts"
import { LeaseSettings } from "./LeaseSettings.ts"

/**
 * The live workers that share the accounts: a sorted set `<prefix>:watch:workers` of worker id ->
 * expiry (Redis's own clock, so the machines' clocks do not matter). Each worker re-adds itself every
 * heartbeat; an entry older than WATCH_WORKER_TTL_MS is dropped by the next heartbeat of anyone.
 */
export interface LeaseRegistryShape {
  /** This process's id in the registry and in the leases it holds. */
  readonly workerId: string
  /** Heartbeats now and answers the live workers (this one included unless it has left). */
  readonly heartbeat: Effect.Effect<ReadonlyArray<string>, RedisError>
  /** The live workers as of the last successful heartbeat (empty before the first). */
  readonly liveWorkers: Effect.Effect<ReadonlyArray<string>>
  /** Leaves the registry (drain): the others stop counting this worker at their next heartbeat. */
  readonly leave: Effect.Effect<void, RedisError>
}

/** Drops expired entries, re-adds ARGV[1] (unless empty) with expiry now + ARGV[2] ms, answers the live ids. */
const heartbeatScript = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if ARGV[1] ~= '' then redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1]) end
return redis.call('ZRANGE', KEYS[1], 0, -1)
`

const toStrings = (reply: unknown): ReadonlyArray<string> =>
  Array.isArray(reply) ? reply.filter((item): item is string => typeof item === "string") : []

export class LeaseRegistry extends Context.Service<LeaseRegistry, LeaseRegistryShape>()("mail-helper/LeaseRegistry") {
  /** Heartbeats in the background from build to scope close, and leaves the registry on close. */
  static readonly layer = Layer.effect(
    LeaseRegistry,
    Effect.gen(function* () {
      const redis = yield* Redis
      const settings = yield* LeaseSettings
      const identity = yield* WorkerIdentity
      const workerId = identity.name
      const key = redis.key("watch", "workers")
      const live = yield* Ref.make<ReadonlyArray<string>>([])
      const left = yield* Ref.make(false)

      const heartbeat = Effect.gen(function* () {
        const member = (yield* Ref.get(left)) ? "" : workerId
        const reply = yield* redis.use("watch heartbeat", (client) =>
          client.eval(heartbeatScript, 1, key, member, String(settings.workerTtlMillis))
        )
        const workers = toStrings(reply)
        yield* Ref.set(live, workers)
        yield* Metric.update(watchLiveWorkers, workers.length)
        return workers
      })
      const leave = Effect.gen(function* () {
        yield* Ref.set(left, true)
        yield* redis.use("watch leave", (client) => client.zrem(key, workerId))
      })

      // a failed heartbeat is logged and retried at the next beat: the leases' own deadlines keep safety
      yield* heartbeat.pipe(
        Effect.catchTag("RedisError", (error) => Effect.logWarning("watch heartbeat failed", { error: error.message })),
        Effect.repeat(Schedule.spaced(Duration.millis(settings.heartbeatIntervalMillis))),
        Effect.forkScoped
      )
      yield* Effect.addFinalizer(() =>
        leave.pipe(
          Effect.catchTag("RedisError", (error) => Effect.logWarning("watch leave failed", { error: error.message }))
        )
      )
      return LeaseRegistry.of({ workerId, heartbeat, liveWorkers: Ref.get(live), leave })
    })
  )
}
