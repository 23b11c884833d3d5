import { assert, layer } from "@effect/vitest"
import { Queue } from "bullmq"
import { Context, Effect, Layer, Schedule } from "effect"
import { Redis as IORedis } from "ioredis"
import { PingJob } from "../../src/contract/jobs/PingJob.ts"
import { Jobs } from "../../src/jobs/Jobs.ts"
import { MaintenanceLive } from "../../src/jobs/Maintenance.ts"
import { JobsLive, PlatformLive } from "../../src/main/layers.ts"
import { Redis } from "../../src/platform/Redis.ts"
import { psqlValue } from "../harness/postgres.ts"
import { configLayer, makeTestEnv, type TestEnv } from "../harness/TestEnv.ts"

/*
 * A Redis that restarts may have lost its last second of writes (AOF fsync every second): the queue
 * entry of a job accepted just before is gone while its record says `queued`. The worker's
 * maintenance reconciles once its Redis connection is back, a reconnect grace after the disconnect,
 * instead of at the next interval pass (here: in an hour, and the periodic grace is 10 minutes).
 */

class Env extends Context.Service<Env, TestEnv>()("test/ReconnectEnv") {}

const reconnectGraceMillis = 3_000

const TestLayer = Layer.unwrap(
  Effect.map(
    makeTestEnv({
      JOB_RECONCILE_INTERVAL_MS: "3600000",
      JOB_RECONCILE_GRACE_MS: "600000",
      JOB_RECONCILE_RECONNECT_GRACE_MS: String(reconnectGraceMillis),
      JOB_SUBMIT_RATE_PER_MINUTE: "0"
    }),
    (env) =>
      Layer.mergeAll(MaintenanceLive, Layer.succeed(Env, env)).pipe(
        Layer.provideMerge(JobsLive),
        Layer.provideMerge(PlatformLive),
        Layer.provide(configLayer(env))
      )
  )
)

layer(TestLayer, { excludeTestServices: true, timeout: "60 seconds" })("reconcile after a Redis reconnect", (it) => {
  it.effect(
    "a job whose queue entry Redis lost is queued again soon after the reconnect; a younger record is not",
    () =>
      Effect.gen(function* () {
        const env = yield* Env
        const redis = yield* Redis
        // no worker here: the job stays in the queue
        const { jobId } = yield* (yield* Jobs).submit(
          PingJob,
          { message: "lost with the AOF's tail" },
          { ownerId: null }
        )
        const queue = new Queue("debug.ping", { connection: redis.client, prefix: redis.prefix })
        const state = (id: string) => Effect.promise(() => queue.getJobState(id))
        assert.notStrictEqual(yield* state(jobId), "unknown")
        // what a restart on an AOF without its last second leaves: the record, no entry
        yield* Effect.promise(() => queue.remove(jobId))
        assert.strictEqual(yield* state(jobId), "unknown")

        // the server drops the worker's connection (as a restart does); ioredis reconnects on its own
        const admin = new IORedis(env.env["REDIS_URL"] ?? "redis://127.0.0.1:6379/0")
        const clientId = yield* Effect.promise(() => redis.client.client("ID"))
        const reconnected = Effect.callback<void>((resume) => {
          redis.client.once("ready", () => resume(Effect.void))
        })
        const killed = yield* Effect.promise(() => admin.client("KILL", "ID", String(clientId)))
        assert.strictEqual(killed, 1)
        yield* reconnected.pipe(Effect.timeout("20 seconds"))
        yield* Effect.promise(() => admin.quit())

        // a submit committed after the disconnect whose add has not landed yet (in flight): left alone
        const young = psqlValue(
          env.databaseUrl,
          `INSERT INTO jobs (kind, payload, max_attempts) VALUES ('debug.ping', '{"message":"in flight"}', 3) RETURNING id`
        )

        // re-added by the reconnect pass: no interval pass is due for an hour
        const requeued = yield* state(jobId).pipe(
          Effect.filterOrFail(
            (current) => current !== "unknown",
            () => "not queued again yet"
          ),
          Effect.retry(Schedule.spaced("100 millis")),
          Effect.timeout("30 seconds")
        )
        assert.strictEqual(requeued, "prioritized")
        assert.strictEqual(yield* state(young), "unknown")
        yield* Effect.promise(() => queue.close())
      })
  )
})
