import { assert, layer } from "@effect/vitest"
import { Context, Effect, Layer } from "effect"
import { UserId } from "../../src/contract/users/UserId.ts"
import { bands } from "../../src/jobs/FairShare.ts"
import { Jobs } from "../../src/jobs/Jobs.ts"
import { Redis } from "../../src/platform/Redis.ts"
import { makeTestEnv, type TestEnv } from "../harness/TestEnv.ts"
import { ensureTestUser } from "../users/fixtures.ts"
import { BATCH_MILLIS, makeBatchJob } from "./support/batchJob.ts"
import { inProcessWorkerLayer, jobRecord, jobsFinished } from "./support/inProcessWorker.ts"

/*
 * Issue 15: a job of an interactive kind whose rest is bulk work (mail.sync past its first page: a
 * large initial sync) lowers itself with CurrentJob.continueAsBulk. From then on it yields its slot
 * between batches like a bulk job when every slot of its kind is busy and interactive work of the kind
 * waits, and it goes back to waiting under a bulk turn, so the interactive work it yielded to (and any
 * that comes later) goes first. A test kind (support/batchJob.ts) whose jobs lower themselves when
 * their payload says `lower`; the worker runtime runs in this process.
 */

class Env extends Context.Service<Env, TestEnv>()("test/LowerToBulkEnv") {}

const {
  kind: LowerTestJob,
  processor: LowerTestProcessor,
  starts,
  ends,
  started,
  assertEveryBatchOnce
} = makeBatchJob("test.lower-to-bulk")

const TestLayer = Layer.unwrap(
  Effect.map(
    makeTestEnv({
      JOB_SUBMIT_RATE_PER_MINUTE: "0",
      // the yield is what is tested: no interactive-only slot for the interactive job to take instead
      JOB_INTERACTIVE_SLOTS: "0",
      // production's lock: on a loaded machine the harness's 2 s lock expired under running jobs
      // ("Missing lock ... moveToDelayed") and BullMQ handed them out again
      JOB_LOCK_MS: "30000",
      JOB_STALLED_INTERVAL_MS: "30000"
    }),
    (env) => Layer.mergeAll(inProcessWorkerLayer(env, [LowerTestProcessor], [LowerTestJob]), Layer.succeed(Env, env))
  )
)

const owner = UserId.make("c0c0c0c0-0015-4015-8015-c0c0c0c0c0c0")
const other = UserId.make("c1c1c1c1-0015-4015-8015-c1c1c1c1c1c1")

// 4 minutes: at load 35, ten 200 ms batches took 45 s
const finished = (env: TestEnv, ids: ReadonlyArray<string>) => jobsFinished(env, ids, "4 minutes")

/** The BullMQ priority (turn) a job's hash holds now (finished jobs are kept an hour). */
const priorityOf = (redis: typeof Redis.Service, jobId: string) =>
  Effect.promise(() => redis.client.hget(redis.key(LowerTestJob.name, jobId), "priority")).pipe(Effect.map(Number))

layer(TestLayer, { excludeTestServices: true, timeout: "600 seconds" })(
  "an interactive job that lowers itself to bulk yields like one",
  (it) => {
    it.effect(
      "an interactive job starts within about a batch while two lowered jobs hold every slot",
      () =>
        Effect.gen(function* () {
          const env = yield* Env
          const jobs = yield* Jobs
          const redis = yield* Redis
          for (const id of [owner, other]) yield* ensureTestUser(id)
          // two interactive jobs of 20 batches (4 s each, quiet), e.g. two large initial syncs, take both slots
          const batches = 20
          const long = yield* Effect.forEach(["long-1", "long-2"], (tag) =>
            jobs.submit(LowerTestJob, { tag, batches, lower: true }, { ownerId: owner }).pipe(Effect.orDie)
          )
          for (const job of long)
            assert.isBelow(yield* priorityOf(redis, job.jobId), bands.bulk.low, "submitted interactive")
          yield* started(["long-1", "long-2"])
          yield* Effect.sleep(BATCH_MILLIS * 2)
          const submittedAt = Date.now()
          const fresh = yield* jobs
            .submit(LowerTestJob, { tag: "fresh", batches: 1, lower: true }, { ownerId: other })
            .pipe(Effect.orDie)
          yield* finished(env, [...long.map((job) => job.jobId), fresh.jobId])

          const freshStart = starts.find((start) => start.tag === "fresh")?.at ?? Number.POSITIVE_INFINITY
          const firstLongEnd = Math.min(ends.get("long-1") ?? 0, ends.get("long-2") ?? 0)
          const yields = starts.filter((start) => start.tag !== "fresh").length - 2
          // it took a lowered job's slot at that job's next batch boundary, not after one of them ended
          assert.isBelow(freshStart, firstLongEnd, `fresh started ${freshStart - submittedAt} ms after its submit`)
          assert.isAtLeast(yields, 1, "a lowered job yielded")
          // the one(s) that yielded went back under a bulk turn; the fresh job kept its interactive one
          const lowered = yield* Effect.forEach(long, (job) => priorityOf(redis, job.jobId))
          assert.isTrue(
            lowered.some((priority) => priority >= bands.bulk.low),
            `priorities after the run: ${lowered.join(", ")}`
          )
          assert.isBelow(yield* priorityOf(redis, fresh.jobId), bands.bulk.low)
          // no attempt spent on a yield, every batch done exactly once
          for (const job of [...long, fresh]) assert.strictEqual(jobRecord(env, job.jobId), "succeeded|1")
          assertEveryBatchOnce("long-1", batches)
          assertEveryBatchOnce("long-2", batches)
          assertEveryBatchOnce("fresh", 1)
        }),
      300_000
    )

    it.effect(
      "an interactive job that does not lower itself keeps its slot (it never yields)",
      () =>
        Effect.gen(function* () {
          const env = yield* Env
          const jobs = yield* Jobs
          for (const id of [owner, other]) yield* ensureTestUser(id)
          const batches = 10
          const long = yield* Effect.forEach(["plain-1", "plain-2"], (tag) =>
            jobs.submit(LowerTestJob, { tag, batches, lower: false }, { ownerId: owner }).pipe(Effect.orDie)
          )
          yield* started(["plain-1", "plain-2"])
          const waiting = yield* jobs
            .submit(LowerTestJob, { tag: "plain-fresh", batches: 1, lower: false }, { ownerId: other })
            .pipe(Effect.orDie)
          yield* finished(env, [...long.map((job) => job.jobId), waiting.jobId])
          for (const tag of ["plain-1", "plain-2"]) {
            assert.strictEqual(starts.filter((start) => start.tag === tag).length, 1, `${tag} ran in one attempt`)
            assertEveryBatchOnce(tag, batches)
          }
          const freshStart = starts.find((start) => start.tag === "plain-fresh")?.at ?? 0
          assert.isAtLeast(freshStart, Math.min(ends.get("plain-1") ?? 0, ends.get("plain-2") ?? 0))
        }),
      300_000
    )
  }
)
