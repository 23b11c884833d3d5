import { assert, layer } from "@effect/vitest"
import { Context, Effect, Layer } from "effect"
import { UserId } from "../../src/contract/users/UserId.ts"
import { Jobs } from "../../src/jobs/Jobs.ts"
import { makeTestEnv, type TestEnv } from "../harness/TestEnv.ts"
import { ensureTestUser } from "../users/fixtures.ts"
import { BATCH_MILLIS, makeBatchJob } from "./support/batchJob.ts"
import { inProcessWorkerLayer, jobRecord, jobsFinished } from "./support/inProcessWorker.ts"

/*
 * Issue 15: a worker runs, per kind, the kind's own slots (which bulk work may fill) and
 * JOB_INTERACTIVE_SLOTS more that only interactive jobs take. So an interactive job starts at once
 * beside bulk jobs that hold every bulk slot, without waiting for one of them to reach a batch
 * boundary and yield, and bulk work never spreads into the interactive slots. The test kind
 * (support/batchJob.ts) has 2 slots; this worker adds 1 interactive slot.
 */

class Env extends Context.Service<Env, TestEnv>()("test/InteractiveSlotsEnv") {}

const {
  kind: SlotTestJob,
  processor: SlotTestProcessor,
  starts,
  ends,
  started,
  assertEveryBatchOnce
} = makeBatchJob("test.interactive-slots")

const TestLayer = Layer.unwrap(
  Effect.map(makeTestEnv({ JOB_SUBMIT_RATE_PER_MINUTE: "0", JOB_INTERACTIVE_SLOTS: "1" }), (env) =>
    Layer.mergeAll(inProcessWorkerLayer(env, [SlotTestProcessor], [SlotTestJob]), Layer.succeed(Env, env))
  )
)

const owner = UserId.make("c0c0c0c0-0015-4015-8015-c0c0c0c0c0c0")
const other = UserId.make("c1c1c1c1-0015-4015-8015-c1c1c1c1c1c1")

const bulk = (jobs: typeof Jobs.Service, tag: string, batches: number) =>
  jobs.submit(SlotTestJob, { tag, batches, lower: false }, { ownerId: owner, workClass: "bulk" }).pipe(Effect.orDie)

const attemptsOf = (tag: string) => starts.filter((start) => start.tag === tag).length

layer(TestLayer, { excludeTestServices: true, timeout: "240 seconds" })("interactive-only slots", (it) => {
  it.effect("an interactive job starts at once beside bulk jobs holding every bulk slot; bulk stays in its slots", () =>
    Effect.gen(function* () {
      const env = yield* Env
      const jobs = yield* Jobs
      for (const id of [owner, other]) yield* ensureTestUser(id)
      // two bulk jobs of 20 batches (4 s each) take the kind's 2 slots; a third waits although the
      // interactive slot is free
      const batches = 20
      const first = yield* bulk(jobs, "bulk-1", batches)
      const second = yield* bulk(jobs, "bulk-2", batches)
      yield* started(["bulk-1", "bulk-2"])
      const third = yield* bulk(jobs, "bulk-3", 2)
      // submitted just after a batch boundary of the bulk jobs would be the easy case for a yield: a
      // yield would need them to reach their next boundary, the interactive slot needs nothing
      yield* Effect.sleep(BATCH_MILLIS * 2 + BATCH_MILLIS / 4)
      const submittedAt = Date.now()
      const interactive = yield* jobs
        .submit(SlotTestJob, { tag: "interactive", batches: 1, lower: false }, { ownerId: other })
        .pipe(Effect.orDie)
      yield* jobsFinished(env, [first.jobId, second.jobId, third.jobId, interactive.jobId], "2 minutes")

      const startedAt = starts.find((start) => start.tag === "interactive")?.at ?? Number.POSITIVE_INFINITY
      const thirdStartedAt = starts.find((start) => start.tag === "bulk-3")?.at ?? Number.POSITIVE_INFINITY
      const firstBulkEnd = Math.min(ends.get("bulk-1") ?? 0, ends.get("bulk-2") ?? 0)
      // no bulk job yielded: each ran in one attempt, and the interactive job did not wait for one
      assert.strictEqual(attemptsOf("bulk-1"), 1, "bulk-1 ran in one attempt (it did not yield)")
      assert.strictEqual(attemptsOf("bulk-2"), 1, "bulk-2 ran in one attempt (it did not yield)")
      assert.isBelow(startedAt, firstBulkEnd, "the interactive job ran while both bulk jobs held their slots")
      // the third bulk job did not take the free interactive slot: it started when a bulk slot freed
      assert.isAtLeast(thirdStartedAt, firstBulkEnd, "the third bulk job waited for a bulk slot")
      for (const job of [first, second, third, interactive])
        assert.strictEqual(jobRecord(env, job.jobId), "succeeded|1")
      assertEveryBatchOnce("bulk-1", batches)
      assertEveryBatchOnce("bulk-2", batches)
      assertEveryBatchOnce("bulk-3", 2)
      assertEveryBatchOnce("interactive", 1)
      // reported for the reader (a loaded machine moves it): the start took no batch boundary
      yield* Effect.logInfo(`interactive job started ${startedAt - submittedAt} ms after its submit`)
    })
  )

  it.effect("bulk jobs handed back by the interactive slot keep their turn and run once each", () =>
    Effect.gen(function* () {
      const env = yield* Env
      const jobs = yield* Jobs
      yield* ensureTestUser(owner)
      // six short bulk jobs for 2 bulk slots: the interactive slot takes waiting bulk jobs and hands
      // them back (moveToWait) until a bulk slot frees; none is lost, run twice, or spends an attempt
      const tags = ["back-1", "back-2", "back-3", "back-4", "back-5", "back-6"]
      const submitted = yield* Effect.forEach(tags, (tag) => bulk(jobs, tag, 3))
      yield* jobsFinished(
        env,
        submitted.map((job) => job.jobId),
        "2 minutes"
      )
      for (const tag of tags) {
        assert.strictEqual(attemptsOf(tag), 1, `${tag} ran in one attempt`)
        assertEveryBatchOnce(tag, 3)
      }
      for (const job of submitted) assert.strictEqual(jobRecord(env, job.jobId), "succeeded|1")
      // never more than the kind's 2 slots of bulk work at once
      const spans = tags.map((tag) => ({
        start: starts.find((start) => start.tag === tag)?.at ?? 0,
        end: ends.get(tag) ?? 0
      }))
      for (const span of spans) {
        const overlapping = spans.filter((other) => other.start <= span.start && other.end > span.start).length
        assert.isAtMost(overlapping, 2, "at most 2 bulk jobs ran at once")
      }
    })
  )
})
