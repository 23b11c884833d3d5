import { assert, layer } from "@effect/vitest"
import { Context, Deferred, Effect, Fiber, Layer, Schedule, Schema } from "effect"
import { SqlClient } from "effect/sql"
import { defineJobKind } from "../../src/contract/jobs/JobKind.ts"
import { UserId } from "../../src/contract/users/UserId.ts"
import { makeProcessor } from "../../src/jobs/JobProcessor.ts"
import { JobReconciler } from "../../src/jobs/JobReconciler.ts"
import { Jobs } from "../../src/jobs/Jobs.ts"
import { UserScope } from "../../src/users/UserScope.ts"
import { psqlValue } from "../harness/postgres.ts"
import { holdRowLock, lockWaiters } from "../harness/rowLocks.ts"
import { makeTestEnv, type TestEnv } from "../harness/TestEnv.ts"
import { ensureTestUser } from "../users/fixtures.ts"
import { inProcessWorkerLayer } from "./support/inProcessWorker.ts"

/*
 * A submit that joins an equal job (same de-duplication key) that may already have passed its work
 * (running, so not `covered`) marks that job to run again when it succeeds, for kinds that take
 * pending work until none is left (JobKind.rerunOnJoin: mail.analyze, mail.embed, search.index).
 * Without it, mail stored after a running analysis's last read waited for the owner's next mail or
 * the pending-mail sweep (5 min). Test kinds, one slot each; the worker runs in this process and
 * each processor blocks on a latch the test releases. Real PostgreSQL and Redis.
 */

class Env extends Context.Service<Env, TestEnv>()("test/RerunOnJoinEnv") {}

const Payload = Schema.Struct({ tag: Schema.String })

const testKind = (name: string, rerunOnJoin: boolean) =>
  defineJobKind({
    name,
    description: "Records its run and waits for the test's latch",
    payload: Payload,
    result: Schema.Struct({ run: Schema.Int }),
    concurrency: 1,
    timeout: "2 minutes",
    retryOnTimeout: false,
    retry: { attempts: 1, initialDelay: "1 second", maxDelay: "1 second", jitter: 0 },
    deduplicationKey: (payload, owner) => `${owner ?? "system"}:${payload.tag}`,
    // a job that has not started does all any equal submit asks (as search.index)
    covers: () => true,
    rerunOnJoin,
    userVisible: true
  })

const RerunKind = testKind("test.rerun-on-join", true)
const PlainKind = testKind("test.no-rerun-on-join", false)

/** Every run, by tag; a run whose tag has a latch waits for it (the latch is used once). */
const runs: Array<string> = []
const latches = new Map<string, Deferred.Deferred<void>>()

const processorOf = (kind: typeof RerunKind) =>
  makeProcessor(
    kind,
    Effect.succeed((payload: typeof Payload.Type) =>
      Effect.gen(function* () {
        runs.push(payload.tag)
        const latch = latches.get(payload.tag)
        if (latch !== undefined) {
          latches.delete(payload.tag)
          yield* Deferred.await(latch)
        }
        return { run: runs.filter((tag) => tag === payload.tag).length }
      })
    )
  )

const TestLayer = Layer.unwrap(
  Effect.map(
    makeTestEnv({
      JOB_SUBMIT_RATE_PER_MINUTE: "0",
      // "the kind's only slot": no interactive-only slot beside it
      JOB_INTERACTIVE_SLOTS: "0"
    }),
    (env) =>
      Layer.mergeAll(
        JobReconciler.layer.pipe(
          Layer.provideMerge(
            inProcessWorkerLayer(env, [processorOf(RerunKind), processorOf(PlainKind)], [RerunKind, PlainKind])
          )
        ),
        Layer.succeed(Env, env)
      )
  )
)

const owner = UserId.make("c0c0c0c0-0074-4074-8074-c0c0c0c0c0c0")

const runsOf = (tag: string) => runs.filter((run) => run === tag).length

/** Polls until `tag` has run `count` times (bounded: these tests run on loaded machines). */
const ranTimes = (tag: string, count: number) =>
  Effect.sync(() => runsOf(tag)).pipe(
    Effect.filterOrFail(
      (n) => n >= count,
      (n) => `${tag} ran ${n} times, not ${count}`
    ),
    Effect.retry(Schedule.spaced("20 millis").pipe(Schedule.upTo({ duration: "30 seconds" }))),
    Effect.orDie
  )

/** Polls until BullMQ completed the job: the worker's rerun, if any, is submitted before that. */
const completed = (kindName: string, id: string) =>
  Effect.gen(function* () {
    const jobs = yield* Jobs
    const queue = yield* Effect.orDie(jobs.queue(kindName))
    yield* Effect.promise(() => queue.getJobState(id)).pipe(
      Effect.filterOrFail(
        (state) => state === "completed",
        (state) => `job ${id} is ${state}`
      ),
      Effect.retry(Schedule.spaced("20 millis").pipe(Schedule.upTo({ duration: "30 seconds" }))),
      Effect.orDie
    )
  })

/** Records of a kind and tag: `state|rerun_requested`, oldest first. */
const records = (env: TestEnv, kindName: string, tag: string) =>
  Effect.sync(() =>
    psqlValue(
      env.databaseUrl,
      `SELECT coalesce(string_agg(state || '|' || rerun_requested, ',' ORDER BY created_at), '') FROM jobs
       WHERE kind = '${kindName}' AND deduplication_key = '${owner}:${tag}'`
    )
  )

const latch = (tag: string) => Effect.tap(Deferred.make<void>(), (made) => Effect.sync(() => latches.set(tag, made)))

layer(TestLayer, { excludeTestServices: true, timeout: "240 seconds" })("a submit that joins a running job", (it) => {
  it.effect("marks a job of an opted-in kind to run again: its processor runs once more after it", () =>
    Effect.gen(function* () {
      const env = yield* Env
      const jobs = yield* Jobs
      yield* ensureTestUser(owner)
      const gate = yield* latch("running")
      const first = yield* jobs.submit(RerunKind, { tag: "running" }, { ownerId: owner }).pipe(Effect.orDie)
      yield* ranTimes("running", 1)
      // the run may have passed the new work already: the join asks for a run after it
      const joined = yield* jobs.submit(RerunKind, { tag: "running" }, { ownerId: owner }).pipe(Effect.orDie)
      assert.isFalse(joined.created)
      assert.strictEqual(joined.jobId, first.jobId)
      assert.notStrictEqual(joined.covered, true, "a running job does not cover the submit")
      assert.isTrue(joined.rerun, "the running job is marked to run again")
      yield* Deferred.succeed(gate, undefined)
      yield* ranTimes("running", 2)
      yield* completed(RerunKind.name, first.jobId)
      // the rerun is a job of its own, which nobody joined: it ends without another
      const rerun = psqlValue(
        env.databaseUrl,
        `SELECT id FROM jobs WHERE kind = '${RerunKind.name}' AND deduplication_key = '${owner}:running'
           AND id <> '${first.jobId}'`
      )
      yield* completed(RerunKind.name, rerun)
      // the first job's mark is cleared once its rerun was submitted
      assert.strictEqual(yield* records(env, RerunKind.name, "running"), "succeeded|false,succeeded|false")
      assert.strictEqual(runsOf("running"), 2, "one rerun, no more")
    })
  )

  it.effect("does not mark a job that has not started (covered): no extra run", () =>
    Effect.gen(function* () {
      const env = yield* Env
      const jobs = yield* Jobs
      yield* ensureTestUser(owner)
      // a job of another key holds the kind's only slot: the next one waits for its turn
      const gate = yield* latch("holder")
      const holder = yield* jobs.submit(RerunKind, { tag: "holder" }, { ownerId: owner }).pipe(Effect.orDie)
      yield* ranTimes("holder", 1)
      const waiting = yield* jobs.submit(RerunKind, { tag: "waiting" }, { ownerId: owner }).pipe(Effect.orDie)
      const joined = yield* jobs.submit(RerunKind, { tag: "waiting" }, { ownerId: owner }).pipe(Effect.orDie)
      assert.strictEqual(joined.jobId, waiting.jobId)
      assert.isTrue(joined.covered, "a job that has not started covers the submit")
      assert.notStrictEqual(joined.rerun, true)
      yield* Deferred.succeed(gate, undefined)
      yield* completed(RerunKind.name, holder.jobId)
      yield* completed(RerunKind.name, waiting.jobId)
      assert.strictEqual(runsOf("waiting"), 1)
      assert.strictEqual(yield* records(env, RerunKind.name, "waiting"), "succeeded|false")
    })
  )

  it.effect("creates a new job when the joined job's final write comes first", () =>
    Effect.gen(function* () {
      const env = yield* Env
      const jobs = yield* Jobs
      const sql = yield* SqlClient.SqlClient
      const scope = yield* UserScope
      yield* ensureTestUser(owner)
      const gate = yield* latch("ending")
      const first = yield* jobs.submit(RerunKind, { tag: "ending" }, { ownerId: owner }).pipe(Effect.orDie)
      yield* ranTimes("ending", 1)
      // its late claim (50 ms into the run) landed: the only writer left to wait for the lock is the submit
      yield* Effect.sync(() => psqlValue(env.databaseUrl, `SELECT state FROM jobs WHERE id = '${first.jobId}'`)).pipe(
        Effect.filterOrFail(
          (state) => state === "running",
          (state) => `job is ${state}`
        ),
        Effect.retry(Schedule.spaced("20 millis").pipe(Schedule.upTo({ duration: "30 seconds" }))),
        Effect.orDie
      )
      // the job's final write, played by the test: it holds the row while the submit joins, then ends it
      const finalWrite = yield* Deferred.make<void>()
      const writer = yield* holdRowLock(
        sql,
        scope,
        owner,
        first.jobId,
        Effect.andThen(
          Deferred.await(finalWrite),
          sql`UPDATE jobs SET state = 'succeeded', finished_at = now(), updated_at = now() WHERE id = ${first.jobId}`.pipe(
            Effect.orDie
          )
        ),
        "jobs"
      )
      const submitting = yield* Effect.forkChild(
        jobs.submit(RerunKind, { tag: "ending" }, { ownerId: owner }).pipe(Effect.orDie)
      )
      // the submit found the job active and waits to mark it behind the final write's lock
      yield* lockWaiters(sql, 1).pipe(Effect.timeout("30 seconds"), Effect.orDie)
      yield* Deferred.succeed(finalWrite, undefined)
      yield* Fiber.join(writer)
      const submitted = yield* Fiber.join(submitting)
      assert.isTrue(submitted.created, "the job had ended: the submit created a new one")
      assert.notStrictEqual(submitted.jobId, first.jobId)
      yield* Deferred.succeed(gate, undefined)
      yield* completed(RerunKind.name, submitted.jobId)
      assert.strictEqual(runsOf("ending"), 2)
      assert.strictEqual(yield* records(env, RerunKind.name, "ending"), "succeeded|false,succeeded|false")
    })
  )

  it.effect("gives a kind that did not opt in no rerun", () =>
    Effect.gen(function* () {
      const env = yield* Env
      const jobs = yield* Jobs
      yield* ensureTestUser(owner)
      const gate = yield* latch("plain")
      const first = yield* jobs.submit(PlainKind, { tag: "plain" }, { ownerId: owner }).pipe(Effect.orDie)
      yield* ranTimes("plain", 1)
      const joined = yield* jobs.submit(PlainKind, { tag: "plain" }, { ownerId: owner }).pipe(Effect.orDie)
      assert.isFalse(joined.created)
      assert.strictEqual(joined.jobId, first.jobId)
      assert.notStrictEqual(joined.rerun, true)
      yield* Deferred.succeed(gate, undefined)
      yield* completed(PlainKind.name, first.jobId)
      assert.strictEqual(runsOf("plain"), 1)
      assert.strictEqual(yield* records(env, PlainKind.name, "plain"), "succeeded|false")
    })
  )

  it.effect("a rerun no worker submitted (it died after the final write) is submitted by the reconciler", () =>
    Effect.gen(function* () {
      const env = yield* Env
      const jobs = yield* Jobs
      const reconciler = yield* JobReconciler
      yield* ensureTestUser(owner)
      const first = yield* jobs.submit(RerunKind, { tag: "orphan" }, { ownerId: owner }).pipe(Effect.orDie)
      yield* completed(RerunKind.name, first.jobId)
      // what a worker that died between its final write and the rerun's submit leaves behind
      psqlValue(env.databaseUrl, `UPDATE jobs SET rerun_requested = true WHERE id = '${first.jobId}' RETURNING 1`)
      const summary = yield* reconciler.reconcileOlderThan(0)
      assert.strictEqual(summary.rerun, 1)
      yield* ranTimes("orphan", 2)
      const again = yield* reconciler.reconcileOlderThan(0)
      assert.strictEqual(again.rerun, 0, "the mark is cleared once the rerun was submitted")
      const rows = yield* records(env, RerunKind.name, "orphan")
      assert.match(rows, /^succeeded\|false,(queued|running|succeeded)\|false$/, rows)
    })
  )
})
