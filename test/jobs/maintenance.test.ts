import { assert, layer } from "@effect/vitest"
import { Queue } from "bullmq"
import { Context, Effect, Layer } from "effect"
import { MaintenanceLive } from "../../src/jobs/Maintenance.ts"
import { JobStore } from "../../src/jobs/JobStore.ts"
import { JobsLive, PlatformLive } from "../../src/main/layers.ts"
import { Redis } from "../../src/platform/Redis.ts"
import { psqlValue } from "../harness/postgres.ts"
import { configLayer, makeTestEnv, type TestEnv } from "../harness/TestEnv.ts"

class Env extends Context.Service<Env, TestEnv>()("test/Env") {}

const TestLayer = Layer.unwrap(
  Effect.map(makeTestEnv({ JOB_RETENTION_DAYS: "30" }), (env) =>
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
      yield* Effect.promise(() => queue.close())
      assert.deepStrictEqual(
        schedulers.map((scheduler) => [scheduler.key, scheduler.every]),
        [["prune-job-records", 3_600_000]]
      )
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
})
