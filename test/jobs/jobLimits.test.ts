import { NodeHttpServer } from "@effect/platform-node"
import { assert, layer } from "@effect/vitest"
import { Cause, Context, Effect, Exit, Layer, Schedule } from "effect"
import { HttpRouter } from "effect/http"
import { PingJob } from "../../src/contract/jobs/PingJob.ts"
import { UserId } from "../../src/contract/users/UserId.ts"
import { Jobs } from "../../src/jobs/Jobs.ts"
import { HttpAppLive } from "../../src/main/httpLayers.ts"
import { JobsLive, PlatformLive } from "../../src/main/layers.ts"
import { baseUrl, call, field } from "../harness/http.ts"
import { psqlValue } from "../harness/postgres.ts"
import { TestAuthenticationLive } from "../harness/TestAuthentication.ts"
import { configLayer, makeTestEnv, type TestEnv } from "../harness/TestEnv.ts"
import { spawnWorker } from "../harness/workerProcess.ts"
import { ensureTestUser } from "../users/fixtures.ts"

/*
 * Issue 15, per-user limits: an admin sets how many jobs of a kind a user may run at once; past it
 * a job waits (`waiting: quota`) without spending an attempt, and the limit holds while many of the
 * user's jobs compete for the worker's 50 slots.
 */

class Env extends Context.Service<Env, TestEnv>()("test/JobLimitsEnv") {}

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

const admin = { "x-test-user": "adadadad-adad-4dad-8dad-adadadadadad", "x-test-role": "admin" }
const limited = UserId.make("c1111111-1111-4111-8111-111111111111")
const free = UserId.make("c2222222-2222-4222-8222-222222222222")
const slotted = UserId.make("c3333333-3333-4333-8333-333333333333")

/** The most of `owner`'s jobs that ever ran at once (from the records' start and finish times). */
const overlap = (env: TestEnv, owner: string) =>
  Number(
    psqlValue(
      env.databaseUrl,
      `SELECT max((SELECT count(*) FROM jobs k WHERE k.user_id = j.user_id
           AND k.started_at <= j.started_at AND k.finished_at > j.started_at))
       FROM jobs j WHERE j.user_id = '${owner}'`
    )
  )

layer(TestLayer, { excludeTestServices: true, timeout: "600 seconds" })("job limits", (it) => {
  it.effect("an admin sets a user's limits; unknown users are 404, other users 403", () =>
    Effect.gen(function* () {
      const base = yield* baseUrl
      yield* ensureTestUser(limited)
      const path = `/api/v1/admin/users/${limited}/job-limits`
      const initial = yield* call(base, "GET", path, { headers: admin })
      assert.strictEqual(initial.status, 200, initial.text)
      assert.deepStrictEqual(field(initial.body, "limits"), [])
      assert.strictEqual(field(initial.body, "defaultConcurrency"), 0)
      const set = yield* call(base, "PUT", path, {
        headers: admin,
        json: { limits: [{ kind: PingJob.name, maxConcurrent: 3 }] }
      })
      assert.strictEqual(set.status, 200, set.text)
      assert.deepStrictEqual(field(set.body, "limits"), [{ kind: PingJob.name, maxConcurrent: 3 }])
      const unknownKind = yield* call(base, "PUT", path, {
        headers: admin,
        json: { limits: [{ kind: "no.such.kind", maxConcurrent: 1 }] }
      })
      assert.strictEqual(unknownKind.status, 400, unknownKind.text)
      const unknownUser = yield* call(
        base,
        "GET",
        "/api/v1/admin/users/c9999999-1111-4111-8111-111111111111/job-limits",
        {
          headers: admin
        }
      )
      assert.strictEqual(unknownUser.status, 404, unknownUser.text)
      assert.strictEqual(field(unknownUser.body, "_tag"), "UserNotFound")
      const asUser = yield* call(base, "GET", path, { headers: { "x-test-user": limited } })
      assert.strictEqual(asUser.status, 403, asUser.text)
    })
  )

  it.effect("the limit holds under concurrency; a held-back job says waiting: quota and spends no attempt", () =>
    Effect.gen(function* () {
      const env = yield* Env
      const base = yield* baseUrl
      const jobs = yield* Jobs
      for (const id of [limited, free]) yield* ensureTestUser(id)
      const set = yield* call(base, "PUT", `/api/v1/admin/users/${limited}/job-limits`, {
        headers: admin,
        json: { limits: [{ kind: PingJob.name, maxConcurrent: 2 }] }
      })
      assert.strictEqual(set.status, 200, set.text)
      // the worker first: one started on a full queue is busy before it reports it started
      yield* spawnWorker(env)
      const mine = yield* Effect.forEach(
        Array.from({ length: 12 }, (_, n) => n),
        (n) => jobs.submit(PingJob, { sleepMillis: 1_500, message: `q${n}` }, { ownerId: limited }),
        { concurrency: 6 }
      ).pipe(Effect.orDie)
      const theirs = yield* Effect.forEach(
        Array.from({ length: 12 }, (_, n) => n),
        (n) => jobs.submit(PingJob, { sleepMillis: 1_500, message: `f${n}` }, { ownerId: free }),
        { concurrency: 6 }
      ).pipe(Effect.orDie)
      // one of the limited user's jobs is seen held back by the limit
      const held = yield* Effect.forEach(mine, (job) =>
        Effect.map(call(base, "GET", `/api/v1/jobs/${job.jobId}`, { headers: { "x-test-user": limited } }), (r) =>
          field(r.body, "waiting")
        )
      ).pipe(
        Effect.filterOrFail(
          (waiting) => waiting.includes("quota"),
          (waiting) => JSON.stringify(waiting)
        ),
        Effect.retry(Schedule.spaced("100 millis").pipe(Schedule.upTo({ duration: "2 minutes" }))),
        Effect.orDie
      )
      assert.include(held, "quota")
      const done = (owner: string) =>
        Number(
          psqlValue(env.databaseUrl, `SELECT count(*) FROM jobs WHERE user_id = '${owner}' AND state = 'succeeded'`)
        )
      yield* Effect.sync(() => done(limited) + done(free)).pipe(
        Effect.filterOrFail((n) => n === mine.length + theirs.length),
        Effect.retry(Schedule.spaced("250 millis").pipe(Schedule.upTo({ duration: "5 minutes" }))),
        Effect.orDie
      )
      // the most of the limited user's jobs that ever ran at once
      assert.isAtMost(overlap(env, limited), 2)
      // the other user, without a limit, ran more at once (the limit is per user)
      assert.isAbove(overlap(env, free), 2)
      // held back without spending attempts
      assert.strictEqual(psqlValue(env.databaseUrl, `SELECT max(attempts) FROM jobs WHERE user_id = '${limited}'`), "1")
    })
  )

  it.effect("JOB_CONCURRENCY sets a worker's slots for a kind; a kind it does not run stops its start", () =>
    Effect.gen(function* () {
      const env = yield* Env
      const jobs = yield* Jobs
      yield* ensureTestUser(slotted)
      // debug.ping's own is 50 slots: nine 1 s pings would all run at once
      yield* spawnWorker(env, { JOB_CONCURRENCY: "debug.ping=3, mail.sync=4", JOB_INTERACTIVE_SLOTS: "0" })
      yield* Effect.forEach(
        Array.from({ length: 9 }, (_, n) => n),
        (n) => jobs.submit(PingJob, { sleepMillis: 1_000, message: `s${n}` }, { ownerId: slotted }),
        { concurrency: 9 }
      ).pipe(Effect.orDie)
      yield* Effect.sync(() =>
        Number(
          psqlValue(env.databaseUrl, `SELECT count(*) FROM jobs WHERE user_id = '${slotted}' AND state = 'succeeded'`)
        )
      ).pipe(
        Effect.filterOrFail((n) => n === 9),
        Effect.retry(Schedule.spaced("250 millis").pipe(Schedule.upTo({ duration: "2 minutes" }))),
        Effect.orDie
      )
      assert.strictEqual(overlap(env, slotted), 3)
      const typo = yield* Effect.exit(Effect.scoped(spawnWorker(env, { JOB_CONCURRENCY: "debug.pong=3" })))
      assert.isTrue(Exit.isFailure(typo))
      if (Exit.isFailure(typo)) assert.include(Cause.pretty(typo.cause), "JOB_CONCURRENCY names debug.pong")
    })
  )
})
