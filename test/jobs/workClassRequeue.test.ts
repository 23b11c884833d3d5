import { assert, layer } from "@effect/vitest"
import { Context, Effect, Layer } from "effect"
import { PingJob } from "../../src/contract/jobs/PingJob.ts"
import { UserId } from "../../src/contract/users/UserId.ts"
import { bands } from "../../src/jobs/FairShare.ts"
import { JobReconciler } from "../../src/jobs/JobReconciler.ts"
import { Jobs } from "../../src/jobs/Jobs.ts"
import { JobsLive, PlatformLive } from "../../src/main/layers.ts"
import { psqlValue } from "../harness/postgres.ts"
import { configLayer, makeTestEnv, type TestEnv } from "../harness/TestEnv.ts"
import { ensureTestUser } from "../users/fixtures.ts"

/*
 * Issue 15: a submit may lower a kind's class (bulk for an interactive kind). The class is kept on
 * the job's record (migration 0070), so when the reconciler queues a record whose queue entry was
 * lost, the job comes back in the class it was submitted in, not its kind's.
 * No worker runs: the jobs stay queued where the test can read their BullMQ priority.
 */

class Env extends Context.Service<Env, TestEnv>()("test/WorkClassEnv") {}

const TestLayer = Layer.unwrap(
  Effect.map(makeTestEnv({ JOB_RECONCILE_GRACE_MS: "0", JOB_SUBMIT_RATE_PER_MINUTE: "0" }), (env) =>
    Layer.mergeAll(JobReconciler.layer, Layer.succeed(Env, env)).pipe(
      Layer.provideMerge(JobsLive),
      Layer.provideMerge(PlatformLive),
      Layer.provide(configLayer(env))
    )
  )
)

const owner = UserId.make("70707070-7070-4070-8070-707070707070")

layer(TestLayer, { excludeTestServices: true, timeout: "120 seconds" })("work class on the record", (it) => {
  it.effect("a job lowered to bulk is re-added as bulk by the reconciler (submit and submitMany)", () =>
    Effect.gen(function* () {
      const env = yield* Env
      const jobs = yield* Jobs
      yield* ensureTestUser(owner)
      const queue = yield* jobs.queue(PingJob.name)
      const one = yield* jobs.submit(PingJob, { sleepMillis: 0 }, { ownerId: owner, workClass: "bulk" })
      const many = yield* jobs.submitMany(PingJob, [{ sleepMillis: 0 }, { sleepMillis: 0 }], {
        ownerId: owner,
        workClass: "bulk"
      })
      const plain = yield* jobs.submit(PingJob, { sleepMillis: 0 }, { ownerId: owner })
      const lowered = [one.jobId, ...many.map((job) => job.jobId)]
      const stored = (id: string) => psqlValue(env.databaseUrl, `SELECT work_class FROM jobs WHERE id = '${id}'`)
      for (const id of lowered) assert.strictEqual(stored(id), "bulk", `class stored for ${id}`)
      assert.strictEqual(stored(plain.jobId), "interactive")

      const priorityOf = (id: string) =>
        Effect.promise(() => queue.getJob(id)).pipe(Effect.map((job) => job?.priority ?? -1))
      for (const id of lowered) assert.isAtLeast(yield* priorityOf(id), bands.bulk.low, `first add of ${id}`)

      // the queue entries are lost (e.g. Redis restored from an older snapshot): the reconciler re-adds them
      for (const id of [...lowered, plain.jobId]) yield* Effect.promise(() => queue.remove(id))
      const summary = yield* (yield* JobReconciler).reconcile
      assert.isAtLeast(summary.requeued, 4)
      for (const id of lowered) {
        assert.isAtLeast(yield* priorityOf(id), bands.bulk.low, `re-add of ${id} keeps the lowered class`)
      }
      const replain = yield* priorityOf(plain.jobId)
      assert.isAtLeast(replain, bands.interactive.low)
      assert.isAtMost(replain, bands.interactive.high, "the kind's own class stays interactive")
      for (const id of [...lowered, plain.jobId]) yield* Effect.promise(() => queue.remove(id))
    })
  )
})
