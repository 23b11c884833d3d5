import { assert, layer } from "@effect/vitest"
import { Context, Effect, Layer } from "effect"
import { UserId } from "../../src/contract/users/UserId.ts"
import { Jobs } from "../../src/jobs/Jobs.ts"
import { makeTestEnv, type TestEnv } from "../harness/TestEnv.ts"
import { ensureTestUser } from "../users/fixtures.ts"
import { BATCH_MILLIS, makeBatchJob } from "./support/batchJob.ts"
import { inProcessWorkerLayer, jobRecord, jobsFinished } from "./support/inProcessWorker.ts"

/*
 * Issue 15: fair share orders what waits, but a long bulk job keeps its slot. A bulk job asks between
 * its batches whether to yield (CurrentJob.shouldYield) and, when an interactive job of its kind waits
 * while every slot of the kind is busy, goes back to waiting without spending an attempt; it runs
 * again from what is still pending. A test kind (support/batchJob.ts) submitted as bulk; the worker
 * runtime runs in this process too.
 */

class Env extends Context.Service<Env, TestEnv>()("test/BulkYieldEnv") {}

const {
  kind: BulkTestJob,
  processor: BulkTestProcessor,
  starts,
  ends,
  started,
  assertEveryBatchOnce
} = makeBatchJob("test.bulk-yield")

const TestLayer = Layer.unwrap(
  Effect.map(
    makeTestEnv({
      JOB_SUBMIT_RATE_PER_MINUTE: "0",
      // the yield is what is tested: no interactive-only slot for the interactive job to take instead
      JOB_INTERACTIVE_SLOTS: "0"
    }),
    (env) => Layer.mergeAll(inProcessWorkerLayer(env, [BulkTestProcessor], [BulkTestJob]), Layer.succeed(Env, env))
  )
)

const owner = UserId.make("b0b0b0b0-0015-4015-8015-b0b0b0b0b0b0")
const other = UserId.make("b1b1b1b1-0015-4015-8015-b1b1b1b1b1b1")

const finished = (env: TestEnv, ids: ReadonlyArray<string>) => jobsFinished(env, ids, "2 minutes")

const bulk = (jobs: typeof Jobs.Service, tag: string, batches: number) =>
  jobs.submit(BulkTestJob, { tag, batches, lower: false }, { ownerId: owner, workClass: "bulk" }).pipe(Effect.orDie)

layer(TestLayer, { excludeTestServices: true, timeout: "240 seconds" })("bulk jobs yield to interactive work", (it) => {
  it.effect("an interactive job starts within about a batch while bulk jobs hold every slot; nothing is lost", () =>
    Effect.gen(function* () {
      const env = yield* Env
      const jobs = yield* Jobs
      for (const id of [owner, other]) yield* ensureTestUser(id)
      // two bulk jobs of 40 batches (8 s each) take both slots
      const batches = 40
      const first = yield* bulk(jobs, "bulk-1", batches)
      const second = yield* bulk(jobs, "bulk-2", batches)
      yield* started(["bulk-1", "bulk-2"])
      yield* Effect.sleep(BATCH_MILLIS * 2)
      const submittedAt = Date.now()
      const interactive = yield* jobs
        .submit(BulkTestJob, { tag: "interactive", batches: 1, lower: false }, { ownerId: other })
        .pipe(Effect.orDie)
      yield* finished(env, [first.jobId, second.jobId, interactive.jobId])

      const startedAt = starts.find((start) => start.tag === "interactive")?.at ?? Number.POSITIVE_INFINITY
      const firstBulkEnd = Math.min(ends.get("bulk-1") ?? 0, ends.get("bulk-2") ?? 0)
      const yields = starts.filter((start) => start.tag !== "interactive").length - 2
      // it took a bulk job's slot at that job's next batch boundary, not after a bulk job ended
      assert.isBelow(startedAt, firstBulkEnd, `interactive started ${startedAt - submittedAt} ms after its submit`)
      assert.isBelow(startedAt - submittedAt, BATCH_MILLIS * 10, "started within about a batch (loaded machine)")
      assert.isAtLeast(yields, 1, "a bulk job yielded")
      // every job completed without spending an attempt on a yield, each batch done exactly once
      for (const job of [first, second, interactive]) assert.strictEqual(jobRecord(env, job.jobId), "succeeded|1")
      assertEveryBatchOnce("bulk-1", batches)
      assertEveryBatchOnce("bulk-2", batches)
      assertEveryBatchOnce("interactive", 1)
    })
  )

  it.effect("bulk jobs with no interactive job waiting never yield", () =>
    Effect.gen(function* () {
      const env = yield* Env
      const jobs = yield* Jobs
      yield* ensureTestUser(owner)
      const batches = 15
      // both slots busy with bulk jobs, and a third bulk job waiting: bulk work does not yield to bulk work
      const submitted = yield* Effect.forEach(["quiet-1", "quiet-2", "quiet-3"], (tag) => bulk(jobs, tag, batches))
      yield* finished(
        env,
        submitted.map((job) => job.jobId)
      )
      for (const tag of ["quiet-1", "quiet-2", "quiet-3"]) {
        assert.strictEqual(starts.filter((start) => start.tag === tag).length, 1, `${tag} ran in one attempt`)
        assertEveryBatchOnce(tag, batches)
      }
      for (const job of submitted) assert.strictEqual(jobRecord(env, job.jobId), "succeeded|1")
    })
  )
})
