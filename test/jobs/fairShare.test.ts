import { NodeHttpServer } from "@effect/platform-node"
import { assert, layer } from "@effect/vitest"
import { Context, Effect, Layer, Schedule } from "effect"
import { HttpRouter } from "effect/http"
import { PingJob } from "../../src/contract/jobs/PingJob.ts"
import { UserId } from "../../src/contract/users/UserId.ts"
import { bands } from "../../src/jobs/FairShare.ts"
import { Jobs } from "../../src/jobs/Jobs.ts"
import { HttpAppLive } from "../../src/main/httpLayers.ts"
import { JobsLive, PlatformLive } from "../../src/main/layers.ts"
import { Redis } from "../../src/platform/Redis.ts"
import { baseUrl, call, field } from "../harness/http.ts"
import { psqlValue } from "../harness/postgres.ts"
import { TestAuthenticationLive } from "../harness/TestAuthentication.ts"
import { configLayer, makeTestEnv, type TestEnv } from "../harness/TestEnv.ts"
import { spawnWorker } from "../harness/workerProcess.ts"
import { ensureTestUser } from "../users/fixtures.ts"

/*
 * Issue 15, fairness between users: one user's backlog of 20,000 bulk jobs must not hold up the
 * other users' jobs (each starts within a bound of A's jobs: the worker's concurrency), a worker
 * killed while the turns are handed out loses and duplicates nothing, turns re-base at the end of
 * BullMQ's priority range, and a job's state says why it waits without showing anyone's position.
 * The API and Jobs run in this process; workers are real child processes.
 */

class Env extends Context.Service<Env, TestEnv>()("test/FairShareEnv") {}

const TestLayer = Layer.unwrap(
  Effect.map(makeTestEnv({ JOB_SUBMIT_RATE_PER_MINUTE: "0" }), (env) =>
    Layer.mergeAll(
      HttpRouter.serve(HttpAppLive(TestAuthenticationLive), { disableLogger: true, disableListenLog: true }).pipe(
        Layer.provideMerge(NodeHttpServer.layerTest)
      ),
      Layer.succeed(Env, env)
    ).pipe(Layer.provideMerge(JobsLive), Layer.provideMerge(PlatformLive), Layer.provide(configLayer(env)))
  )
)

const user = (n: number) => UserId.make(`f${n.toString(16).padStart(7, "0")}-1111-4111-8111-111111111111`)
const a = user(0)
const others = Array.from({ length: 10 }, (_, n) => user(n + 1))
const concurrency = PingJob.concurrency

const count = (env: TestEnv, where: string) =>
  Number(psqlValue(env.databaseUrl, `SELECT count(*) FROM jobs WHERE ${where}`))

/** Polls until no record matching `where` is unfinished (bounded: 10 minutes on a loaded machine). */
const drained = (env: TestEnv, where: string) =>
  Effect.sync(() => count(env, `${where} AND state NOT IN ('succeeded', 'failed', 'cancelled')`)).pipe(
    Effect.filterOrFail(
      (left) => left === 0,
      (left) => `${left} jobs not finished`
    ),
    Effect.retry(Schedule.spaced("250 millis").pipe(Schedule.upTo({ duration: "10 minutes" }))),
    Effect.orDie
  )

const submitBacklog = (jobs: typeof Jobs.Service, owner: UserId, total: number, sleepMillis: number) =>
  Effect.forEach(
    Array.from({ length: Math.ceil(total / 2_000) }, (_, n) => n),
    (chunk) =>
      jobs.submitMany(
        PingJob,
        Array.from({ length: Math.min(2_000, total - chunk * 2_000) }, () => ({ sleepMillis })),
        { ownerId: owner, workClass: "bulk" }
      ),
    { discard: true }
  ).pipe(Effect.orDie)

interface QueueEvent {
  readonly event: string
  readonly jobId: string
}

/**
 * Reads a queue's BullMQ events stream from now on, in order, as it is written (it is trimmed as jobs
 * complete). `upTo` waits until every job of `ids` has been seen active and returns what was read.
 */
const eventLog = (redis: typeof Redis.Service, key: string) =>
  Effect.gen(function* () {
    const read: Array<QueueEvent> = []
    const newest = yield* Effect.promise(() => redis.client.xrevrange(key, "+", "-", "COUNT", 1))
    let last = newest[0]?.[0] ?? "0-0"
    const poll = Effect.gen(function* () {
      const entries = yield* Effect.promise(() => redis.client.xrange(key, `(${last}`, "+", "COUNT", 5_000))
      for (const [id, fields] of entries) {
        last = id
        const field = (name: string) => fields[fields.indexOf(name) + 1] ?? ""
        read.push({ event: field("event"), jobId: field("jobId") })
      }
      if (entries.length < 5_000) yield* Effect.sleep("20 millis")
    })
    yield* Effect.forkScoped(Effect.forever(poll))
    const upTo = (ids: ReadonlyArray<string>) =>
      Effect.sync(() => {
        const active = new Set(read.flatMap((event) => (event.event === "active" ? [event.jobId] : [])))
        return ids.every((id) => active.has(id))
      }).pipe(
        Effect.filterOrFail(
          (all) => all,
          () => "not every job seen active"
        ),
        Effect.retry(Schedule.spaced("50 millis").pipe(Schedule.upTo({ duration: "1 minute" }))),
        Effect.orDie,
        Effect.as(read)
      )
    return { upTo }
  })

layer(TestLayer, { excludeTestServices: true, timeout: "900 seconds" })("fair share", (it) => {
  it.effect(
    "A's 20,000 bulk jobs: every other user's job starts within the worker's concurrency of A's jobs",
    () =>
      Effect.gen(function* () {
        const env = yield* Env
        const jobs = yield* Jobs
        const redis = yield* Redis
        for (const id of [a, ...others]) yield* ensureTestUser(id)
        const queue = yield* jobs.queue(PingJob.name).pipe(Effect.orDie)
        // BullMQ's own record of the order jobs were added and became active (the events stream,
        // written by the same scripts that set a job's processedOn): no clock and no database write
        // under load stand between a job starting and what is measured. Completed entries are removed
        // (removeOnComplete keeps 1,000), so the stream is read as it is written.
        const events = yield* eventLog(redis, queue.toKey("events"))
        // whatever happens, A's backlog does not stay for the next test
        const clearBacklog = Effect.gen(function* () {
          if (count(env, `user_id = '${a}' AND state NOT IN ('succeeded', 'failed', 'cancelled')`) === 0) return
          yield* Effect.promise(() => queue.drain(true))
          psqlValue(
            env.databaseUrl,
            `UPDATE jobs SET state = 'cancelled', finished_at = now() WHERE user_id = '${a}' AND state IN ('queued', 'retrying')`
          )
          yield* drained(env, `user_id = '${a}'`)
        })
        yield* Effect.gen(function* () {
          // the worker first: one started on a full queue is busy before it reports it started
          yield* spawnWorker(env)
          yield* submitBacklog(jobs, a, 20_000, 20)
          // while A's backlog drains: each other user submits jobs now and then, interactive ones and,
          // for turns within a class, bulk ones
          const submitted: Array<string> = []
          for (let round = 0; round < 4; round++) {
            yield* Effect.forEach(
              others,
              (owner, n) =>
                jobs
                  .submit(
                    PingJob,
                    { message: `r${round}` },
                    { ownerId: owner, workClass: n % 2 === 0 ? "interactive" : "bulk" }
                  )
                  .pipe(Effect.tap((job) => Effect.sync(() => submitted.push(job.jobId)))),
              { concurrency: "unbounded", discard: true }
            ).pipe(Effect.orDie)
            yield* Effect.sleep("1 second")
          }
          yield* drained(env, `user_id <> '${a}'`)
          const order = yield* events.upTo(submitted)
          // for each other user's job: how many of A's jobs became active after it was added to the
          // queue and before it became active
          const ours = new Set(submitted)
          const overtaken = submitted.map((id) => {
            const added = order.findIndex((event) => event.event === "added" && event.jobId === id)
            const active = order.findIndex((event) => event.event === "active" && event.jobId === id)
            assert.isTrue(added >= 0 && active > added, `job ${id}: added at ${added}, active at ${active}`)
            return order.slice(added + 1, active).filter((event) => event.event === "active" && !ours.has(event.jobId))
              .length
          })
          assert.lengthOf(overtaken, 40)
          const worst = Math.max(...overtaken)
          assert.isAtMost(worst, concurrency, `A's jobs that started first: ${overtaken.join(", ")}`)
          // A's backlog still drains completely, each job once
          yield* drained(env, `user_id = '${a}'`)
          assert.strictEqual(count(env, `user_id = '${a}' AND state = 'succeeded' AND attempts = 1`), 20_000)
        }).pipe(Effect.ensuring(clearBacklog))
      }),
    900_000
  )

  it.effect(
    "a worker SIGKILLed while it holds jobs of both classes: nothing is lost nor run twice",
    () =>
      Effect.gen(function* () {
        const env = yield* Env
        const jobs = yield* Jobs
        const owner = user(20)
        const other = user(21)
        for (const id of [owner, other]) yield* ensureTestUser(id)
        yield* submitBacklog(jobs, owner, 1_000, 50)
        const interactive = yield* Effect.forEach(
          Array.from({ length: 50 }, (_, n) => n),
          (n) => jobs.submit(PingJob, { sleepMillis: 50, message: `i${n}` }, { ownerId: other })
        ).pipe(Effect.orDie)
        const first = yield* spawnWorker(env)
        yield* Effect.sync(() => count(env, `user_id = '${owner}' AND state = 'succeeded'`)).pipe(
          Effect.filterOrFail((done) => done >= 100),
          Effect.retry(Schedule.spaced("100 millis").pipe(Schedule.upTo({ duration: "5 minutes" }))),
          Effect.orDie
        )
        first.child.kill("SIGKILL")
        yield* Effect.promise(() => first.exited)
        yield* spawnWorker(env)
        yield* drained(env, `user_id IN ('${owner}', '${other}')`)
        assert.strictEqual(count(env, `user_id = '${owner}'`), 1_000)
        assert.strictEqual(count(env, `user_id = '${owner}' AND state = 'succeeded'`), 1_000)
        assert.strictEqual(count(env, `user_id = '${other}' AND state = 'succeeded'`), interactive.length)
        // at least once: only what the killed worker held ran again (one attempt more each, at most its slots)
        assert.isAtMost(count(env, `user_id IN ('${owner}', '${other}') AND attempts > 1`), concurrency)
        // and BullMQ holds no leftover entry to run again
        const queue = yield* jobs.queue(PingJob.name).pipe(Effect.orDie)
        const left = yield* Effect.promise(() => queue.getJobCounts("waiting", "prioritized", "delayed", "active"))
        assert.deepStrictEqual(left, { waiting: 0, prioritized: 0, delayed: 0, active: 0 })
      }),
    600_000
  )

  it.effect("turns re-base at the end of BullMQ's priority range, keeping the order of what waits", () =>
    Effect.gen(function* () {
      const jobs = yield* Jobs
      const redis = yield* Redis
      const owner = user(30)
      const other = user(31)
      for (const id of [owner, other]) yield* ensureTestUser(id)
      // virtual time well inside the band, as after earlier work
      yield* Effect.promise(() => redis.client.hset(redis.key("fair", PingJob.name), "vt:interactive", 1_000))
      const submitted = yield* Effect.forEach([owner, other, owner, other], (id) =>
        jobs.submit(PingJob, { message: "rebase" }, { ownerId: id })
      ).pipe(Effect.orDie)
      const queue = yield* jobs.queue(PingJob.name).pipe(Effect.orDie)
      const priorities = (ids: ReadonlyArray<string>) =>
        Effect.promise(() => Promise.all(ids.map((id) => queue.getJob(id).then((job) => job?.priority ?? -1))))
      const before = yield* priorities(submitted.map((s) => s.jobId))
      // the owner's turns ran up to the end of the interactive band (as 1,000,000 earlier jobs would)
      const high = bands.interactive.high
      yield* Effect.promise(() => redis.client.hset(redis.key("fair", PingJob.name), `u:interactive:${owner}`, high))
      const next = yield* jobs.submit(PingJob, { message: "past the end" }, { ownerId: owner }).pipe(Effect.orDie)
      const after = yield* priorities([...submitted.map((s) => s.jobId), next.jobId])
      for (const priority of after) {
        assert.isAtLeast(priority, bands.interactive.low)
        assert.isAtMost(priority, high)
      }
      // the waiting jobs moved down together: same order, same gaps
      const shift = (before[0] ?? 0) - (after[0] ?? 0)
      assert.isAbove(shift, 0, `${before} -> ${after}`)
      assert.deepStrictEqual(
        after.slice(0, 4),
        before.map((p) => p - shift)
      )
      // the new job comes after every waiting one
      assert.isAtLeast(after[4] ?? 0, Math.max(...after.slice(0, 4)))
      assert.isBelow(after[4] ?? high, high)
      yield* Effect.promise(() => queue.drain())
    })
  )

  it.effect("GET /jobs/:id says a queued job waits for its fair share, never its position, and only to its owner", () =>
    Effect.gen(function* () {
      const jobs = yield* Jobs
      const base = yield* baseUrl
      const owner = user(40)
      const stranger = user(41)
      for (const id of [owner, stranger]) yield* ensureTestUser(id)
      // no worker runs in this test's queue now: the job waits
      const submitted = yield* jobs.submit(PingJob, { message: "wait" }, { ownerId: owner }).pipe(Effect.orDie)
      const mine = yield* call(base, "GET", `/api/v1/jobs/${submitted.jobId}`, { headers: { "x-test-user": owner } })
      assert.strictEqual(mine.status, 200, mine.text)
      assert.strictEqual(field(mine.body, "state"), "queued")
      assert.strictEqual(field(mine.body, "waiting"), "fair share")
      for (const key of ["position", "priority", "ahead", "turn"]) assert.notInclude(mine.text, `"${key}"`)
      const theirs = yield* call(base, "GET", `/api/v1/jobs/${submitted.jobId}`, {
        headers: { "x-test-user": stranger }
      })
      assert.strictEqual(theirs.status, 404, theirs.text)
      yield* jobs.cancel(owner, submitted.jobId).pipe(Effect.orDie)
      // a held-back job is reached by a cancel: gone from the prioritized set, its record ended
      const cancelled = yield* call(base, "GET", `/api/v1/jobs/${submitted.jobId}`, {
        headers: { "x-test-user": owner }
      })
      assert.strictEqual(field(cancelled.body, "state"), "cancelled")
      assert.strictEqual(field(cancelled.body, "waiting"), null)
      const queue = yield* jobs.queue(PingJob.name).pipe(Effect.orDie)
      assert.strictEqual(yield* Effect.promise(() => queue.getJobState(submitted.jobId)), "unknown")
    })
  )
})
