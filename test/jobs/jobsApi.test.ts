import { NodeHttpServer } from "@effect/platform-node"
import { assert, describe, layer } from "@effect/vitest"
import { Effect, Layer, Schedule } from "effect"
import { HttpRouter } from "effect/http"
import { Jobs } from "../../src/jobs/Jobs.ts"
import { SystemDatabase } from "../../src/platform/Database.ts"
import { HttpAppLive } from "../../src/main/httpLayers.ts"
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

const alice = "11111111-1111-4111-8111-111111111111"
const bob = "22222222-2222-4222-8222-222222222222"
const as = (user: string) => ({ "x-test-user": user })

const ping = (base: string, payload: Record<string, unknown>, user = alice) =>
  Effect.gen(function* () {
    const response = yield* call(base, "POST", "/api/v1/debug/ping", { json: payload, headers: as(user) })
    assert.strictEqual(response.status, 202, response.text)
    const jobId = field(response.body, "jobId")
    assert.isString(jobId)
    return String(jobId)
  })

const getJob = (base: string, id: string, user = alice) =>
  call(base, "GET", `/api/v1/jobs/${id}`, { headers: as(user) })

/** Polls until the job's state satisfies `done` (bounded: 20 s). */
const waitFor = (base: string, id: string, done: (state: string) => boolean) =>
  getJob(base, id).pipe(
    Effect.flatMap((response) => {
      const state = String(field(response.body, "state"))
      return done(state) ? Effect.succeed(response.body) : Effect.fail(`still ${state}`)
    }),
    Effect.retry(Schedule.spaced("50 millis").pipe(Schedule.upTo({ times: 400 }))),
    Effect.orDie
  )
const terminal = (state: string) => ["succeeded", "failed", "cancelled"].includes(state)

layer(TestLayer, { excludeTestServices: true, timeout: "60 seconds" })("jobs API and worker", (it) => {
  describe("state paths of debug.ping", () => {
    it.effect("succeeds and reports progress", () =>
      Effect.gen(function* () {
        const base = yield* baseUrl
        const id = yield* ping(base, { steps: 4, sleepMillis: 200, message: "hello" })
        const job = yield* waitFor(base, id, terminal)
        assert.strictEqual(field(job, "state"), "succeeded")
        assert.deepStrictEqual(field(job, "result"), { pong: true, attempt: 1, message: "hello" })
        assert.deepStrictEqual(field(job, "progress"), { phase: "pinging", done: 4, total: 4, message: null })
        assert.strictEqual(field(job, "attempts"), 1)
        assert.isString(field(job, "startedAt"))
        assert.isString(field(job, "finishedAt"))
      })
    )

    it.effect("records a short first attempt in one statement, with its attempt and start", () =>
      Effect.gen(function* () {
        const base = yield* baseUrl
        // no sleep: it ends before the late claim (50 ms), so only its outcome is written
        const id = yield* ping(base, { message: "quick" })
        const job = yield* waitFor(base, id, terminal)
        assert.strictEqual(field(job, "state"), "succeeded")
        assert.strictEqual(field(job, "attempts"), 1)
        const startedAt = Date.parse(String(field(job, "startedAt")))
        const finishedAt = Date.parse(String(field(job, "finishedAt")))
        assert.isTrue(Number.isFinite(startedAt) && startedAt <= finishedAt, `${startedAt} <= ${finishedAt}`)
      })
    )

    it.effect("retries transient failures, then succeeds", () =>
      Effect.gen(function* () {
        const base = yield* baseUrl
        const id = yield* ping(base, { failTimes: 2 })
        const job = yield* waitFor(base, id, terminal)
        assert.strictEqual(field(job, "state"), "succeeded")
        assert.strictEqual(field(job, "attempts"), 3)
        assert.strictEqual(field(job, "result", "attempt"), 3)
        assert.strictEqual(field(job, "error"), null)
      })
    )

    it.effect("fails after the last attempt when transient failures go on", () =>
      Effect.gen(function* () {
        const base = yield* baseUrl
        const id = yield* ping(base, { failTimes: 5 })
        const job = yield* waitFor(base, id, terminal)
        assert.strictEqual(field(job, "state"), "failed")
        assert.strictEqual(field(job, "attempts"), 3)
        assert.strictEqual(field(job, "error", "code"), "requested_failure")
      })
    )

    it.effect("fails permanently at once, without retrying", () =>
      Effect.gen(function* () {
        const base = yield* baseUrl
        const id = yield* ping(base, { failPermanently: true })
        const job = yield* waitFor(base, id, terminal)
        assert.strictEqual(field(job, "state"), "failed")
        assert.strictEqual(field(job, "attempts"), 1)
        assert.strictEqual(field(job, "error", "code"), "requested_failure")
      })
    )

    it.effect("is interrupted at its hard time limit", () =>
      Effect.gen(function* () {
        const base = yield* baseUrl
        const started = Date.now()
        const id = yield* ping(base, { sleepMillis: 20_000, steps: 200, timeoutMillis: 300 })
        const job = yield* waitFor(base, id, terminal)
        assert.strictEqual(field(job, "state"), "failed")
        assert.strictEqual(field(job, "error", "code"), "timeout")
        assert.strictEqual(field(job, "attempts"), 1)
        // the 20 s sleep was interrupted, not waited out
        assert.isBelow(Date.now() - started, 15_000)
      })
    )

    it.effect("is cancelled while running, on the worker that holds it", () =>
      Effect.gen(function* () {
        const base = yield* baseUrl
        const started = Date.now()
        const id = yield* ping(base, { sleepMillis: 20_000, steps: 200 })
        yield* waitFor(base, id, (state) => state === "running")
        const cancel = yield* call(base, "DELETE", `/api/v1/jobs/${id}`, { headers: as(alice) })
        assert.strictEqual(cancel.status, 202, cancel.text)
        assert.strictEqual(field(cancel.body, "cancelRequested"), true)
        const job = yield* waitFor(base, id, terminal)
        assert.strictEqual(field(job, "state"), "cancelled")
        assert.isBelow(Date.now() - started, 15_000)
        const again = yield* call(base, "DELETE", `/api/v1/jobs/${id}`, { headers: as(alice) })
        assert.strictEqual(again.status, 409)
        assert.strictEqual(field(again.body, "_tag"), "JobAlreadyFinished")
      })
    )
  })

  describe("waiting jobs, live streams and retention", () => {
    it.effect("cancels a waiting job at once, and it never runs", () =>
      Effect.gen(function* () {
        const base = yield* baseUrl
        const queue = yield* (yield* Jobs).queue("debug.ping")
        yield* Effect.promise(() => queue.pause())
        const id = yield* ping(base, { message: "never" })
        const cancel = yield* call(base, "DELETE", `/api/v1/jobs/${id}`, { headers: as(alice) })
        yield* Effect.promise(() => queue.resume())
        assert.strictEqual(cancel.status, 202, cancel.text)
        assert.strictEqual(field(cancel.body, "state"), "cancelled")
        assert.strictEqual(field(cancel.body, "error", "code"), "cancelled")
        // the worker is running again: give it the chance to (wrongly) pick the job up
        yield* Effect.sleep("500 millis")
        const job = (yield* getJob(base, id)).body
        assert.strictEqual(field(job, "state"), "cancelled")
        assert.strictEqual(field(job, "attempts"), 0)
        assert.strictEqual(field(job, "startedAt"), null)
      })
    )

    it.effect("interrupts a first attempt whose cancel came while the worker was taking it", () =>
      Effect.gen(function* () {
        const base = yield* baseUrl
        const queue = yield* (yield* Jobs).queue("debug.ping")
        const system = yield* SystemDatabase
        // The cancel request lands after the worker took the job and before its late claim, and
        // its pub/sub message is lost: the late claim must see the request and stop the attempt.
        yield* Effect.promise(() => queue.pause())
        const id = yield* ping(base, { sleepMillis: 5_000 }).pipe(
          Effect.ensuring(Effect.promise(() => queue.resume()).pipe(Effect.delay("100 millis"))),
          Effect.tap((id) => system`UPDATE jobs SET cancel_requested_at = now() WHERE id = ${id}`)
        )
        const job = yield* waitFor(base, id, terminal)
        assert.strictEqual(field(job, "state"), "cancelled")
        assert.strictEqual(field(job, "error", "message"), "cancelled while running")
        const took = Date.parse(String(field(job, "finishedAt"))) - Date.parse(String(field(job, "startedAt")))
        assert.isBelow(took, 4_000, "stopped long before its 5 s sleep ended")
      })
    )

    it.effect("streams progress and the final state as Server-Sent Events", () =>
      Effect.gen(function* () {
        const base = yield* baseUrl
        const id = yield* ping(base, { steps: 5, sleepMillis: 1_000 })
        const text = yield* Effect.promise(async () => {
          const response = await fetch(`${base}/api/v1/jobs/${id}/events`, { headers: as(alice) })
          if (response.headers.get("content-type")?.startsWith("text/event-stream") !== true) {
            throw new Error(`not an event stream: ${response.status} ${response.headers.get("content-type")}`)
          }
          // the stream ends by itself after the final state
          return await response.text()
        })
        const events = text
          .split("\n\n")
          .filter((block) => block.trim() !== "")
          .map((block) => {
            const name = /^event: (.*)$/m.exec(block)?.[1]
            const data = /^data: (.*)$/m.exec(block)?.[1]
            return { name, data: data === undefined ? undefined : JSON.parse(data) }
          })
        assert.isAtLeast(events.length, 3, text)
        assert.isTrue(
          events.some((event) => event.name === "progress"),
          "at least one progress event"
        )
        const last = events.at(-1)
        assert.strictEqual(last?.name, "state")
        assert.strictEqual(field(last?.data, "state"), "succeeded")
        assert.deepStrictEqual(field(last?.data, "result", "pong"), true)
      })
    )

    it.effect("fails a malformed envelope alone, while jobs claimed beside it succeed", () =>
      Effect.gen(function* () {
        const base = yield* baseUrl
        const queue = yield* (yield* Jobs).queue("debug.ping")
        // claims are batched into one statement: a bad id must not fail its neighbours' claims
        const [bad] = yield* Effect.all(
          [
            Effect.promise(() => queue.add("debug.ping", { jobId: "not-a-uuid", payload: {} }, { attempts: 1 })),
            Effect.forEach(Array.from({ length: 10 }), () => ping(base, {}), { concurrency: "unbounded" }).pipe(
              Effect.flatMap((ids) => Effect.forEach(ids, (id) => waitFor(base, id, terminal)))
            )
          ],
          { concurrency: "unbounded" }
        ).pipe(
          Effect.tap(([, jobs]) =>
            Effect.sync(() =>
              assert.deepStrictEqual(new Set(jobs.map((job) => field(job, "state"))), new Set(["succeeded"]))
            )
          )
        )
        const failed = yield* Effect.promise(() => queue.getJob(bad.id ?? "")).pipe(
          Effect.flatMap((job) =>
            job?.failedReason === undefined || job.failedReason === ""
              ? Effect.fail("not failed yet")
              : Effect.succeed(job)
          ),
          Effect.retry(Schedule.spaced("50 millis").pipe(Schedule.upTo({ times: 200 }))),
          Effect.orDie
        )
        assert.strictEqual(failed.failedReason, "malformed job envelope")
        assert.strictEqual(failed.attemptsMade, 1)
      })
    )

    it.effect("keeps the job record after BullMQ forgets the job", () =>
      Effect.gen(function* () {
        const base = yield* baseUrl
        const id = yield* ping(base, { message: "remember me" })
        yield* waitFor(base, id, terminal)
        const queue = yield* (yield* Jobs).queue("debug.ping")
        const removed = yield* Effect.promise(() => queue.remove(id))
        assert.strictEqual(removed, 1)
        assert.isUndefined(yield* Effect.promise(() => queue.getJob(id)))
        const job = (yield* getJob(base, id)).body
        assert.strictEqual(field(job, "state"), "succeeded")
        assert.strictEqual(field(job, "result", "message"), "remember me")
      })
    )
  })

  describe("the job list", () => {
    it.effect("pages through the owner's jobs only, newest first", () =>
      Effect.gen(function* () {
        const base = yield* baseUrl
        const carol = "33333333-3333-4333-8333-333333333333"
        const ids: Array<string> = []
        for (let i = 0; i < 5; i++) ids.push(yield* ping(base, { message: `n${i}` }, carol))
        yield* ping(base, {}, bob)
        const first = yield* call(base, "GET", "/api/v1/jobs?limit=3", { headers: as(carol) })
        assert.strictEqual(first.status, 200, first.text)
        const firstItems = field(first.body, "items")
        assert.isArray(firstItems)
        const cursor = field(first.body, "nextCursor")
        assert.isString(cursor)
        const second = yield* call(base, "GET", `/api/v1/jobs?limit=3&cursor=${String(cursor)}`, { headers: as(carol) })
        const secondItems = field(second.body, "items")
        assert.isArray(secondItems)
        assert.strictEqual(field(second.body, "nextCursor"), null)
        const seen = [...(firstItems as Array<unknown>), ...(secondItems as Array<unknown>)].map((job) =>
          String(field(job, "id"))
        )
        assert.deepStrictEqual(seen, [...ids].reverse())
      })
    )

    it.effect("refuses a forged cursor with a 400 on query.cursor, before the database sees it", () =>
      Effect.gen(function* () {
        const base = yield* baseUrl
        const forged = (position: object) => Buffer.from(JSON.stringify(position)).toString("base64url")
        for (const cursor of [
          "nonsense",
          // well-formed JSON, but an id the uuid column cannot compare, or a date PostgreSQL cannot read
          forged({ createdAt: "2025-01-01T00:00:00.000Z", id: "not-a-uuid" }),
          forged({ createdAt: "+275760-09-13T00:00:00.000Z", id: "00000000-0000-4000-8000-000000000000" })
        ]) {
          const page = yield* call(base, "GET", `/api/v1/jobs?cursor=${cursor}`, { headers: as(bob) })
          assert.strictEqual(page.status, 400, `${cursor}: ${page.text}`)
          assert.strictEqual(field(page.body, "issues", 0, "path"), "query.cursor")
        }
      })
    )
  })

  describe("bad input", () => {
    it.effect("names every invalid field of a payload", () =>
      Effect.gen(function* () {
        const base = yield* baseUrl
        const response = yield* call(base, "POST", "/api/v1/debug/ping", {
          json: { steps: "many", failTimes: 99, surprise: true },
          headers: as(alice)
        })
        assert.strictEqual(response.status, 400, response.text)
        assert.strictEqual(field(response.body, "_tag"), "ValidationError")
        const issues = field(response.body, "issues")
        assert.isArray(issues)
        const paths = (issues as Array<unknown>).map((issue) => field(issue, "path"))
        assert.includeMembers(paths, ["payload.steps", "payload.failTimes", "payload.surprise"])
      })
    )

    it.effect("refuses malformed JSON", () =>
      Effect.gen(function* () {
        const base = yield* baseUrl
        const response = yield* call(base, "POST", "/api/v1/debug/ping", { body: '{"steps": 1', headers: as(alice) })
        assert.strictEqual(response.status, 400, response.text)
        assert.isString(field(response.body, "message"))
      })
    )

    it.effect("refuses an oversized body with 413", () =>
      Effect.gen(function* () {
        const base = yield* baseUrl
        const response = yield* call(base, "POST", "/api/v1/debug/ping", {
          body: JSON.stringify({ message: "x".repeat(2 * 1024 * 1024) }),
          headers: as(alice)
        })
        assert.strictEqual(response.status, 413, response.text)
      })
    )

    it.effect("answers 400 for a malformed id and 404 for an unknown or another user's job", () =>
      Effect.gen(function* () {
        const base = yield* baseUrl
        const malformed = yield* getJob(base, "not-a-uuid")
        assert.strictEqual(malformed.status, 400)
        const unknown = yield* getJob(base, "7f0c6a52-0e8b-4c1e-9d8e-3c2b1a0f9e8d")
        assert.strictEqual(unknown.status, 404)
        assert.strictEqual(field(unknown.body, "_tag"), "JobNotFound")
        const id = yield* ping(base, {})
        for (const [method, path] of [
          ["GET", `/api/v1/jobs/${id}`],
          ["GET", `/api/v1/jobs/${id}/events`],
          ["DELETE", `/api/v1/jobs/${id}`]
        ] as const) {
          const response = yield* call(base, method, path, { headers: as(bob) })
          assert.strictEqual(response.status, 404, `${method} ${path}: ${response.text}`)
        }
      })
    )

    it.effect("answers 401 without a user", () =>
      Effect.gen(function* () {
        const base = yield* baseUrl
        const response = yield* call(base, "GET", "/api/v1/jobs")
        assert.strictEqual(response.status, 401)
        assert.strictEqual(field(response.body, "_tag"), "Unauthorized")
      })
    )
  })

  describe("health and documents", () => {
    it.effect("is live and ready, and serves its OpenAPI document and docs page", () =>
      Effect.gen(function* () {
        const base = yield* baseUrl
        assert.strictEqual((yield* call(base, "GET", "/health/live")).status, 200)
        const ready = yield* call(base, "GET", "/health/ready")
        assert.strictEqual(ready.status, 200, ready.text)
        assert.deepStrictEqual(field(ready.body, "checks"), { postgres: "up", redis: "up" })
        const openapi = yield* call(base, "GET", "/openapi.json")
        assert.strictEqual(openapi.status, 200)
        assert.isObject(field(openapi.body, "paths", "/api/v1/jobs/{id}"))
        const docs = yield* call(base, "GET", "/docs")
        assert.strictEqual(docs.status, 200)
        assert.include(docs.text.toLowerCase(), "<html")
      })
    )
  })
})
