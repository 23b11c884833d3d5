import { assert, layer } from "@effect/vitest"
import { Context, Effect, Layer, Schema } from "effect"
import { defineJobKind } from "../../src/contract/jobs/JobKind.ts"
import { UserId } from "../../src/contract/users/UserId.ts"
import { CurrentJob, yieldToInteractive } from "../../src/jobs/CurrentJob.ts"
import { makeProcessor } from "../../src/jobs/JobProcessor.ts"
import { Jobs } from "../../src/jobs/Jobs.ts"
import { makeTestEnv, type TestEnv } from "../harness/TestEnv.ts"
import { ensureTestUser } from "../users/fixtures.ts"
import { allStarted, inProcessWorkerLayer, jobRecord, jobsFinished } from "./support/inProcessWorker.ts"

/*
 * Issue 15: fair share orders what waits, but a long bulk job keeps its slot. A bulk job asks between
 * its batches whether to yield (CurrentJob.shouldYield) and, when an interactive job of its kind waits
 * while every slot of the kind is busy, goes back to waiting without spending an attempt; it runs
 * again from what is still pending. A test kind with concurrency 2 (mail.analyze's), whose "pending
 * rows" are batch numbers kept in this process; the worker runtime runs in this process too.
 */

class Env extends Context.Service<Env, TestEnv>()("test/BulkYieldEnv") {}

const BATCH_MILLIS = 200

const BulkPayload = Schema.Struct({ tag: Schema.String, batches: Schema.Int })

const BulkTestJob = defineJobKind({
  name: "test.bulk-yield",
  description: "Works through batches, asking to yield between them",
  payload: BulkPayload,
  result: Schema.Struct({ batches: Schema.Int }),
  concurrency: 2,
  timeout: "2 minutes",
  retryOnTimeout: false,
  retry: { attempts: 3, initialDelay: "200 millis", maxDelay: "1 second", jitter: 0.2 },
  userVisible: true
})

/** What the processor did, by job tag: each batch's runs, each attempt's start, the end. */
const batchRuns = new Map<string, number>()
const starts: Array<{ readonly tag: string; readonly at: number }> = []
const ends = new Map<string, number>()

const BulkTestProcessor = makeProcessor(
  BulkTestJob,
  Effect.succeed((payload: typeof BulkPayload.Type) =>
    Effect.gen(function* () {
      yield* CurrentJob
      starts.push({ tag: payload.tag, at: Date.now() })
      let doneNow = 0
      while (true) {
        // the "pending rows": the batches not done yet, so a job run again carries on
        let next = 0
        while (next < payload.batches && (batchRuns.get(`${payload.tag}:${next}`) ?? 0) > 0) next++
        if (next === payload.batches) break
        if (doneNow > 0) yield* yieldToInteractive
        yield* Effect.sleep(BATCH_MILLIS)
        batchRuns.set(`${payload.tag}:${next}`, (batchRuns.get(`${payload.tag}:${next}`) ?? 0) + 1)
        doneNow++
      }
      ends.set(payload.tag, Date.now())
      return { batches: payload.batches }
    })
  )
)

const TestLayer = Layer.unwrap(
  Effect.map(makeTestEnv({ JOB_SUBMIT_RATE_PER_MINUTE: "0" }), (env) =>
    Layer.mergeAll(inProcessWorkerLayer(env, [BulkTestProcessor], [BulkTestJob]), Layer.succeed(Env, env))
  )
)

const owner = UserId.make("b0b0b0b0-0015-4015-8015-b0b0b0b0b0b0")
const other = UserId.make("b1b1b1b1-0015-4015-8015-b1b1b1b1b1b1")

const finished = (env: TestEnv, ids: ReadonlyArray<string>) => jobsFinished(env, ids, "2 minutes")

const started = (tags: ReadonlyArray<string>) => allStarted(starts, tags)

const bulk = (jobs: typeof Jobs.Service, tag: string, batches: number) =>
  jobs.submit(BulkTestJob, { tag, batches }, { ownerId: owner, workClass: "bulk" }).pipe(Effect.orDie)

const assertEveryBatchOnce = (tag: string, batches: number) => {
  for (let n = 0; n < batches; n++) assert.strictEqual(batchRuns.get(`${tag}:${n}`), 1, `${tag} batch ${n}`)
}

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
        .submit(BulkTestJob, { tag: "interactive", batches: 1 }, { ownerId: other })
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
