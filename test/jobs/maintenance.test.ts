import { assert, layer } from "@effect/vitest"
import { Queue } from "bullmq"
import { bands } from "../../src/jobs/FairShare.ts"
import { Context, Effect, Layer, Schedule } from "effect"
import { MaintenanceLive } from "../../src/jobs/Maintenance.ts"
import { JobStore } from "../../src/jobs/JobStore.ts"
import { JobsLive, PlatformLive } from "../../src/main/layers.ts"
import { Redis } from "../../src/platform/Redis.ts"
import { psqlValue } from "../harness/postgres.ts"
import { configLayer, makeTestEnv, type TestEnv } from "../harness/TestEnv.ts"

class Env extends Context.Service<Env, TestEnv>()("test/Env") {}

const TestLayer = Layer.unwrap(
  Effect.map(
    makeTestEnv({ JOB_RETENTION_DAYS: "30", JOB_RECONCILE_GRACE_MS: "0", JOB_RECONCILE_INTERVAL_MS: "1000" }),
    (env) =>
      Layer.mergeAll(MaintenanceLive, Layer.succeed(Env, env)).pipe(
        Layer.provideMerge(JobsLive),
        Layer.provideMerge(PlatformLive),
        Layer.provide(configLayer(env))
      )
  )
)

layer(TestLayer, { excludeTestServices: true, timeout: "30 seconds" })("maintenance", (it) => {
  it.effect("schedules the clean-up once, and prunes only records finished past the retention", () =>
    Effect.gen(function* () {
      const env = yield* Env
      const redis = yield* Redis
      const queue = new Queue("maintenance", { connection: redis.client, prefix: redis.prefix })
      const schedulers = yield* Effect.promise(() => queue.getJobSchedulers())
      assert.deepStrictEqual(
        schedulers.map((scheduler) => [scheduler.key, scheduler.every]),
        [["prune-job-records", 3_600_000]]
      )
      // The scheduler's first run fires at once; let it finish (the next one is
      // then delayed an hour) so it cannot race the explicit prune below.
      yield* Effect.promise(() => queue.getJobCounts("waiting", "active", "delayed")).pipe(
        Effect.filterOrFail(
          (counts) => counts.waiting === 0 && counts.active === 0 && counts.delayed === 1,
          () => "the first scheduled prune has not finished"
        ),
        Effect.retry(Schedule.spaced("50 millis")),
        Effect.timeout("10 seconds")
      )
      yield* Effect.promise(() => queue.close())
      psqlValue(
        env.databaseUrl,
        `INSERT INTO jobs (kind, state, payload, max_attempts, finished_at) VALUES
           ('debug.ping', 'succeeded', '{}', 1, now() - interval '40 days'),
           ('debug.ping', 'failed', '{}', 1, now() - interval '29 days'),
           ('debug.ping', 'running', '{}', 1, NULL)`
      )
      const deleted = yield* (yield* JobStore).prune(30)
      assert.strictEqual(deleted, 1)
      assert.strictEqual(
        psqlValue(env.databaseUrl, "SELECT string_agg(state, ',' ORDER BY state) FROM jobs"),
        "failed,running"
      )
    })
  )
  it.effect("reconciles job records on its own: a queued record without a queue entry is queued", () =>
    Effect.gen(function* () {
      const env = yield* Env
      const redis = yield* Redis
      // what a submit killed between its two writes leaves behind
      const id = psqlValue(
        env.databaseUrl,
        `INSERT INTO jobs (kind, payload, max_attempts) VALUES ('debug.ping', '{"message":"stranded"}', 3) RETURNING id`
      )
      const queue = new Queue("debug.ping", { connection: redis.client, prefix: redis.prefix })
      // no worker here: the periodic pass (every second in this test) adds the job, where it waits:
      // through the same priority path as a submit, so it takes a fair-share turn (prioritized)
      const state = yield* Effect.promise(() => queue.getJobState(id)).pipe(
        Effect.filterOrFail(
          (state) => state === "prioritized",
          (state) => `still ${state}`
        ),
        Effect.retry(Schedule.spaced("100 millis")),
        Effect.timeout("10 seconds")
      )
      assert.strictEqual(state, "prioritized")
      const job = yield* Effect.promise(() => queue.getJob(id))
      // a turn of the interactive band (FairShare.ts), not a fallback
      assert.isAtLeast(job?.priority ?? 0, bands.interactive.low)
      assert.isBelow(job?.priority ?? Number.POSITIVE_INFINITY, bands.interactive.high)
      assert.deepStrictEqual(job?.data, { jobId: id, payload: { message: "stranded" }, ownerId: null })
      yield* Effect.promise(() => queue.close())
    })
  )
})
