/**
 * Soft time limits (Celery's soft_time_limit): the job is told, can stop at a safe point with code
 * `soft_time_limit`, and the hard limit still ends a job that does not stop. Against a real worker
 * (debug.ping, whose steps are its safe points) and the kinds' start-up checks.
 */
import { NodeHttpServer } from "@effect/platform-node"
import { assert, describe, layer } from "@effect/vitest"
import { Duration, Effect, Layer, Schedule } from "effect"
import * as fc from "fast-check"
import { it as plain } from "vitest"
import { HttpRouter } from "effect/http"
import { PingJob } from "../../src/contract/jobs/PingJob.ts"
import { JobKinds } from "../../src/jobs/JobKinds.ts"
import { attemptSoftLimitMillis, timeLimitProblem } from "../../src/jobs/SoftTimeLimit.ts"
import { HttpAppLive } from "../../src/main/httpLayers.ts"
import { jobKinds } from "../../src/contract/jobs/catalog.ts"
import { JobsLive, PlatformLive } from "../../src/main/layers.ts"
import { WorkerLive } from "../../src/main/workerLayers.ts"
import { configLayer, withTestEnv } from "../harness/TestEnv.ts"
import { TestAuthenticationLive } from "../harness/TestAuthentication.ts"
import { baseUrl, call, field } from "../harness/http.ts"

const TestLayer = withTestEnv((env) =>
  Layer.mergeAll(
    HttpRouter.serve(HttpAppLive(TestAuthenticationLive), { disableLogger: true, disableListenLog: true }).pipe(
      Layer.provideMerge(NodeHttpServer.layerTest)
    ),
    WorkerLive
  ).pipe(Layer.provideMerge(JobsLive), Layer.provideMerge(PlatformLive), Layer.provide(configLayer(env)))
)

const alice = "51111111-1111-4111-8111-111111111111"
const as = (user: string) => ({ "x-test-user": user })

const ping = (base: string, payload: Record<string, unknown>) =>
  Effect.gen(function* () {
    const response = yield* call(base, "POST", "/api/v1/debug/ping", { json: payload, headers: as(alice) })
    assert.strictEqual(response.status, 202, response.text)
    return String(field(response.body, "jobId"))
  })

const terminal = (state: string) => ["succeeded", "failed", "cancelled"].includes(state)

/** Polls until the job is finished (bounded: 20 s). */
const finished = (base: string, id: string) =>
  call(base, "GET", `/api/v1/jobs/${id}`, { headers: as(alice) }).pipe(
    Effect.flatMap((response) =>
      terminal(String(field(response.body, "state"))) ? Effect.succeed(response.body) : Effect.fail(response.text)
    ),
    Effect.retry(Schedule.spaced("50 millis").pipe(Schedule.upTo({ times: 400 }))),
    Effect.orDie
  )

layer(TestLayer, { excludeTestServices: true, timeout: "60 seconds" })("soft time limits on a worker", (it) => {
  it.effect("a job that heeds the signal stops at a safe point with code soft_time_limit", () =>
    Effect.gen(function* () {
      const base = yield* baseUrl
      // 200 steps of 100 ms; the soft limit passes during step 4, the hard one (30 s) is far away
      const id = yield* ping(base, { sleepMillis: 20_000, steps: 200, softTimeoutMillis: 350 })
      const job = yield* finished(base, id)
      // debug.ping does not retry on a time limit: it fails at once, with the soft limit's code
      assert.strictEqual(field(job, "state"), "failed", JSON.stringify(job))
      assert.strictEqual(field(job, "error", "code"), "soft_time_limit")
      assert.match(String(field(job, "error", "message")), /stopped at the soft time limit after step \d+ of 200/)
      assert.strictEqual(field(job, "attempts"), 1)
      // it stopped at the first step boundary after the limit, having done that step
      const progress = field(job, "progress")
      assert.strictEqual(field(progress, "phase"), "stopped")
      const done = Number(field(progress, "done"))
      assert.isAtLeast(done, 3)
      assert.isBelow(done, 200)
    })
  )

  it.effect("a job that ignores the signal is told, runs on, and is killed at the hard limit", () =>
    Effect.gen(function* () {
      const base = yield* baseUrl
      const id = yield* ping(base, {
        sleepMillis: 20_000,
        steps: 200,
        softTimeoutMillis: 200,
        timeoutMillis: 1_200,
        ignoreSoftTimeLimit: true
      })
      const job = yield* finished(base, id)
      assert.strictEqual(field(job, "state"), "failed", JSON.stringify(job))
      assert.strictEqual(field(job, "error", "code"), "timeout")
      // the hard limit's message says the soft one was not heeded
      assert.include(String(field(job, "error", "message")), "did not stop at its soft time limit")
      // the job was told: it noted the signal in its progress, and went on past it
      const progress = field(job, "progress")
      assert.strictEqual(field(progress, "phase"), "pinging")
      assert.strictEqual(field(progress, "message"), "soft time limit passed; ignored as requested")
      assert.isBelow(Number(field(progress, "done")), 200)
    })
  )

  it.effect("a soft limit that is not before the hard one has no effect: the hard limit ends the job", () =>
    Effect.gen(function* () {
      const base = yield* baseUrl
      const id = yield* ping(base, { sleepMillis: 20_000, steps: 200, softTimeoutMillis: 900, timeoutMillis: 400 })
      const job = yield* finished(base, id)
      assert.strictEqual(field(job, "error", "code"), "timeout")
      assert.notInclude(String(field(job, "error", "message")), "soft")
    })
  )

  it.effect("a job without a soft limit is not told anything", () =>
    Effect.gen(function* () {
      const base = yield* baseUrl
      const id = yield* ping(base, { sleepMillis: 300, steps: 3, ignoreSoftTimeLimit: true })
      const job = yield* finished(base, id)
      assert.strictEqual(field(job, "state"), "succeeded")
      assert.strictEqual(field(job, "progress", "message"), null)
    })
  )
})

describe("declaring a soft time limit", () => {
  plain("mail.sync declares one, before its hard limit; every registered kind passes the check", () => {
    const sync = jobKinds.find((kind) => kind.name === "mail.sync")
    assert.isDefined(sync?.softTimeLimit)
    for (const kind of jobKinds) assert.isUndefined(timeLimitProblem(kind), kind.name)
  })

  plain("a soft limit at or after the hard one is a defect at start-up naming the kind", () => {
    const bad = { ...PingJob, name: "test.bad", timeout: Duration.seconds(10), softTimeLimit: Duration.seconds(10) }
    assert.throws(
      () => Effect.runSync(Layer.build(JobKinds.layer([...jobKinds, bad])).pipe(Effect.scoped)),
      /job kind test\.bad: its soft time limit \(10s\) must be shorter than its time limit \(10s\)/
    )
  })

  plain("the check accepts exactly the soft limits strictly between 0 and the hard one", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 10_000_000 }), fc.integer({ min: -5, max: 10_000_000 }), (hard, soft) => {
        const kind = { ...PingJob, timeout: Duration.millis(hard), softTimeLimit: Duration.millis(soft) }
        const problem = timeLimitProblem(kind)
        assert.strictEqual(problem === undefined, soft > 0 && soft < hard, `${soft} / ${hard}: ${problem}`)
        if (problem !== undefined) assert.include(problem, PingJob.name)
      })
    )
  })

  plain("an attempt's soft limit is the tighter of the kind's and the job's, and only before the hard one", () => {
    fc.assert(
      fc.property(
        fc.option(fc.integer({ min: 1, max: 100_000 }), { nil: undefined }),
        fc.option(fc.integer({ min: 1, max: 100_000 }), { nil: undefined }),
        fc.integer({ min: 1, max: 100_000 }),
        (kindSoft, jobSoft, hard) => {
          const kind = {
            ...PingJob,
            timeout: Duration.millis(200_000),
            ...(kindSoft === undefined ? {} : { softTimeLimit: Duration.millis(kindSoft) })
          }
          const soft = Math.min(kindSoft ?? Number.POSITIVE_INFINITY, jobSoft ?? Number.POSITIVE_INFINITY)
          assert.strictEqual(attemptSoftLimitMillis(kind, jobSoft, hard), soft < hard ? soft : null)
        }
      )
    )
  })
})
