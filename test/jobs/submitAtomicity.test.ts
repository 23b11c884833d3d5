import { NodeHttpServer } from "@effect/platform-node"
import { assert, layer } from "@effect/vitest"
import { Context, Effect, Fiber, Layer, Schedule } from "effect"
import { HttpRouter } from "effect/http"
import fc from "fast-check"
import { connect } from "node:net"
import { PingJob } from "../../src/contract/jobs/PingJob.ts"
import { JobReconciler } from "../../src/jobs/JobReconciler.ts"
import { Jobs } from "../../src/jobs/Jobs.ts"
import { HttpAppLive } from "../../src/main/httpLayers.ts"
import { JobsLive, PlatformLive } from "../../src/main/layers.ts"
import { WorkerLive } from "../../src/main/workerLayers.ts"
import { MailSyncJob } from "../../src/contract/jobs/MailSyncJob.ts"
import { AccountId } from "../../src/contract/accounts/Account.ts"
import { UserId } from "../../src/contract/users/UserId.ts"
import { baseUrl, call, field } from "../harness/http.ts"
import { psqlValue } from "../harness/postgres.ts"
import { TestAuthenticationLive } from "../harness/TestAuthentication.ts"
import { configLayer, makeTestEnv, type TestEnv } from "../harness/TestEnv.ts"
import { ensureTestUser } from "../users/fixtures.ts"
import { redisProxy } from "./support/redisProxy.ts"
import { spawnApi } from "./support/spawnApi.ts"

/*
 * Item 3 of the hardening issue: a submit writes the job's record (PostgreSQL), then its queue entry
 * (Redis). Whatever interrupts it — the client resetting its connection, a fiber interruption, a
 * SIGKILL of the API between the two writes, Redis hanging or down — the job must run or its record
 * end: never a `queued` record without a queue entry (which, for mail.sync, also held the account's
 * de-duplication key, so the account never synced again).
 */

class Env extends Context.Service<Env, TestEnv>()("test/SubmitEnv") {}

// The reconciler runs only when a test asks (grace 0: every waiting record is old enough).
const TestLayer = Layer.unwrap(
  Effect.map(makeTestEnv({ JOB_RECONCILE_GRACE_MS: "0", JOB_SUBMIT_RATE_PER_MINUTE: "0" }), (env) =>
    Layer.mergeAll(
      HttpRouter.serve(HttpAppLive(TestAuthenticationLive), { disableLogger: true, disableListenLog: true }).pipe(
        Layer.provideMerge(NodeHttpServer.layerTest)
      ),
      WorkerLive,
      JobReconciler.layer,
      Layer.succeed(Env, env)
    ).pipe(Layer.provideMerge(JobsLive), Layer.provideMerge(PlatformLive), Layer.provide(configLayer(env)))
  )
)

const owner = UserId.make("55555555-5555-4555-8555-555555555555")
const as = { "x-test-user": owner }
const finished = ["succeeded", "failed", "cancelled"]

interface Row {
  readonly id: string
  readonly kind: string
  readonly state: string
}
const rows = (env: TestEnv, where: string): ReadonlyArray<Row> =>
  psqlValue(env.databaseUrl, `SELECT id || ' ' || kind || ' ' || state FROM jobs WHERE ${where} ORDER BY created_at`)
    .split("\n")
    .filter((line) => line.length > 0)
    .map((line) => {
      const [id = "", kind = "", state = ""] = line.split(" ")
      return { id, kind, state }
    })

const queueState = (kind: string, id: string) =>
  Effect.gen(function* () {
    const queue = yield* (yield* Jobs).queue(kind)
    return yield* Effect.promise(() => queue.getJobState(id))
  }).pipe(Effect.orDie)

/** Records that are waiting (`queued`/`retrying`) while the queue has no entry for them. */
const phantoms = (records: ReadonlyArray<Row>) =>
  Effect.filter(records, (row) =>
    finished.includes(row.state) || row.state === "running"
      ? Effect.succeed(false)
      : Effect.map(queueState(row.kind, row.id), (state) => state === "unknown")
  )

/** Polls until every record matching `where` has ended (bounded: 30 s). */
const allFinished = (env: TestEnv, where: string) =>
  Effect.sync(() => rows(env, where)).pipe(
    Effect.filterOrFail(
      (records) => records.every((row) => finished.includes(row.state)),
      (records) => `not finished: ${JSON.stringify(records.filter((row) => !finished.includes(row.state)))}`
    ),
    Effect.retry(Schedule.spaced("100 millis").pipe(Schedule.upTo({ times: 300 }))),
    Effect.orDie
  )

/** Lets `turns` rounds of the event loop pass (I/O callbacks included): an interruption point in real time. */
const turns = (n: number) =>
  Effect.promise(async () => {
    for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve))
  })

/**
 * The submit's pause between its two writes, in which a test breaks Redis. The test acts when the
 * child logs that it paused, not when a psql poll sees the record: on a loaded machine a poll
 * outlasted the pause and the add landed first (202 where 503 was meant), in CI with a 1 s pause and
 * again locally at load ~29 with 4 s. Reading the child's log is not at once either: the clean-clone
 * CI of f5b96b6 (vitest's files in parallel) saw the add land within a 4 s pause before the test
 * cut Redis. 10 s: the window the test needs, not a timing the submit is asserted against.
 */
const pauseBetweenWrites = "10000"

/** Waits until the child API logged its failpoint pause (the record is committed, the add not sent). */
const pausedBetweenWrites = (output: () => string) =>
  Effect.sync(() => output().includes("failpoint: submit paused between record and queue")).pipe(
    Effect.filterOrFail(
      (paused) => paused,
      () => "not paused yet"
    ),
    Effect.retry(Schedule.spaced("10 millis").pipe(Schedule.upTo({ times: 2_000 }))),
    Effect.catch(() =>
      Effect.die(new Error(`the submit never paused between its writes; the API logged:\n${output()}`))
    )
  )

const waitForRecord = (env: TestEnv, where: string) =>
  Effect.sync(() => rows(env, where)).pipe(
    Effect.filterOrFail(
      (records) => records.length > 0,
      () => "no record yet"
    ),
    Effect.retry(Schedule.spaced("25 millis").pipe(Schedule.upTo({ times: 800 }))),
    Effect.orDie,
    Effect.map((records) => records[0] ?? { id: "", kind: "", state: "" })
  )

const postPing = (base: string, payload: Record<string, unknown>) =>
  fetch(`${base}/api/v1/debug/ping`, {
    method: "POST",
    headers: { ...as, "content-type": "application/json" },
    body: JSON.stringify(payload),
    signal: AbortSignal.timeout(20_000)
  }).then(
    async (response) => ({ status: response.status, text: await response.text() }),
    (error: unknown) => ({ status: 0, text: String(error) })
  )

/** The child API's answer; a hang fails with what the child logged. */
const answered = (response: Promise<{ status: number; text: string }>, output: () => string) =>
  Effect.promise(() => response).pipe(
    Effect.timeoutOrElse({
      duration: "20 seconds",
      orElse: () => Effect.die(new Error(`the API did not answer; it logged:\n${output()}`))
    })
  )

layer(TestLayer, { excludeTestServices: true, timeout: "120 seconds" })("submit atomicity", (it) => {
  it.effect(
    "a fiber interrupted at any point of a submit leaves no queued record without a queue entry, and the account syncs again",
    () =>
      Effect.gen(function* () {
        const env = yield* Env
        const jobs = yield* Jobs
        yield* ensureTestUser(owner)
        const run = Effect.runPromiseWith(yield* Effect.context<Jobs>())
        const accounts: Array<string> = []
        yield* Effect.promise(() =>
          fc.assert(
            fc.asyncProperty(fc.integer({ min: 0, max: 60 }), async (n) => {
              const accountId = AccountId.make(crypto.randomUUID())
              accounts.push(accountId)
              await run(
                Effect.gen(function* () {
                  const fiber = yield* Effect.forkChild(jobs.submit(MailSyncJob, { accountId }, { ownerId: owner }))
                  yield* turns(n)
                  yield* Fiber.interrupt(fiber)
                })
              )
              // no reconciler here: the critical section alone must leave the record and the queue agreeing
              const bad = await run(phantoms(rows(env, `payload->>'accountId' = '${accountId}'`)))
              assert.deepStrictEqual(bad, [], `interrupted after ${n} event-loop turns`)
            }),
            { numRuns: 120 }
          )
        )
        yield* (yield* JobReconciler).reconcile
        // A later sync of every account (manual or scheduled: the same submit) must run, not get a phantom back.
        const later = yield* Effect.forEach(accounts, (accountId) =>
          jobs.submit(MailSyncJob, { accountId: AccountId.make(accountId) }, { ownerId: owner })
        )
        assert.strictEqual(later.length, accounts.length)
        // the accounts do not exist: each sync runs and fails permanently (account_not_found)
        yield* allFinished(env, "kind = 'mail.sync'")
      }),
    90_000
  )

  it.effect(
    "a client that resets its socket 0-15 ms after sending a submit leaves no phantom job",
    () =>
      Effect.gen(function* () {
        const env = yield* Env
        const base = yield* baseUrl
        const port = Number(new URL(base).port)
        const body = JSON.stringify({ message: "reset" })
        const request =
          `POST /api/v1/debug/ping HTTP/1.1\r\nhost: 127.0.0.1\r\nx-test-user: ${owner}\r\n` +
          `content-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`
        yield* Effect.promise(() =>
          fc.assert(
            fc.asyncProperty(fc.integer({ min: 0, max: 15 }), async (delay) => {
              await new Promise<void>((resolve) => {
                const socket = connect(port, "127.0.0.1", () => {
                  socket.write(request, () => {
                    setTimeout(() => {
                      socket.resetAndDestroy()
                      resolve()
                    }, delay)
                  })
                })
                socket.on("error", () => resolve())
              })
            }),
            { numRuns: 150 }
          )
        )
        // let interrupted requests settle (a critical section takes a few ms)
        yield* Effect.sleep("1 second")
        const pings = "kind = 'debug.ping' AND payload->>'message' = 'reset'"
        const submitted = rows(env, pings)
        assert.isAbove(submitted.length, 0, "no reset request reached the handler")
        assert.deepStrictEqual(yield* phantoms(submitted), [])
        yield* (yield* JobReconciler).reconcile
        assert.deepStrictEqual(yield* phantoms(rows(env, pings)), [])
        yield* allFinished(env, pings)
        // and the API goes on accepting work
        const after = yield* call(base, "POST", "/api/v1/debug/ping", { json: { message: "after" }, headers: as })
        assert.strictEqual(after.status, 202, after.text)
        yield* allFinished(env, `id = '${String(field(after.body, "jobId"))}'`)
      }),
    90_000
  )

  it.effect(
    "an API process killed (SIGKILL) between the record and the queue add: the reconciler runs the job",
    () =>
      Effect.gen(function* () {
        const env = yield* Env
        const api = yield* spawnApi(env, { MH_FAILPOINT_SUBMIT_PAUSE_MS: "60000" })
        const response = postPing(api.base, { message: "killed" })
        const record = yield* waitForRecord(env, "payload->>'message' = 'killed'")
        // committed, paused at the failpoint: no queue entry yet
        assert.strictEqual(record.state, "queued")
        assert.strictEqual(yield* queueState(PingJob.name, record.id), "unknown")
        assert.include(api.output(), "failpoint")
        api.child.kill("SIGKILL")
        const exit = yield* Effect.promise(() => api.exited)
        assert.strictEqual(exit.signal, "SIGKILL")
        assert.strictEqual((yield* Effect.promise(() => response)).status, 0)
        assert.strictEqual(rows(env, `id = '${record.id}'`)[0]?.state, "queued")

        const summary = yield* (yield* JobReconciler).reconcile
        assert.isAtLeast(summary.requeued, 1, JSON.stringify(summary))
        yield* allFinished(env, `id = '${record.id}'`)
        const done = yield* call(yield* baseUrl, "GET", `/api/v1/jobs/${record.id}`, { headers: as })
        assert.strictEqual(field(done.body, "state"), "succeeded", done.text)
        assert.strictEqual(field(done.body, "result", "message"), "killed")
      }),
    90_000
  )

  it.effect(
    "Redis hangs between the writes (the add times out, lands later or not): the job is accepted and runs once",
    () =>
      Effect.gen(function* () {
        const env = yield* Env
        const proxy = yield* redisProxy(env.redisUrl)
        const api = yield* spawnApi(env, { REDIS_URL: proxy.url, MH_FAILPOINT_SUBMIT_PAUSE_MS: pauseBetweenWrites })
        const response = postPing(api.base, { message: "hung" })
        yield* pausedBetweenWrites(api.output)
        proxy.hold()
        const record = yield* waitForRecord(env, "payload->>'message' = 'hung'")
        // no answer from Redis: the add may still land, so the record stays and the job is accepted
        const answer = yield* answered(response, api.output)
        assert.strictEqual(answer.status, 202, answer.text)
        assert.strictEqual(field(JSON.parse(answer.text), "jobId"), record.id)
        // Redis answers again: the add it was sent lands now (or, should the connection have lost it,
        // the reconciler's pass adds it: the same id, so BullMQ holds one job either way)
        proxy.release()
        yield* Effect.sleep("500 millis")
        yield* (yield* JobReconciler).reconcile
        yield* allFinished(env, `id = '${record.id}'`)
        // it ran, once, with its record
        assert.strictEqual(
          psqlValue(env.databaseUrl, `SELECT state || ' ' || attempts FROM jobs WHERE id = '${record.id}'`),
          "succeeded 1"
        )
        assert.strictEqual(yield* queueState(PingJob.name, record.id), "completed")
        const again = yield* (yield* JobReconciler).reconcile
        assert.deepStrictEqual({ requeued: again.requeued, ended: again.ended }, { requeued: 0, ended: 0 })
      }),
    90_000
  )

  it.effect(
    "Redis hangs and the add never lands: the accepted job is queued by the reconciler and runs",
    () =>
      Effect.gen(function* () {
        const env = yield* Env
        const proxy = yield* redisProxy(env.redisUrl)
        const api = yield* spawnApi(env, { REDIS_URL: proxy.url, MH_FAILPOINT_SUBMIT_PAUSE_MS: pauseBetweenWrites })
        const response = postPing(api.base, { message: "lost" })
        yield* pausedBetweenWrites(api.output)
        proxy.hold()
        const record = yield* waitForRecord(env, "payload->>'message' = 'lost'")
        const answer = yield* answered(response, api.output)
        assert.strictEqual(answer.status, 202, answer.text)
        // the held add is lost with the connection
        proxy.down()
        assert.strictEqual(yield* queueState(PingJob.name, record.id), "unknown")
        assert.strictEqual(rows(env, `id = '${record.id}'`)[0]?.state, "queued")
        const summary = yield* (yield* JobReconciler).reconcile
        assert.isAtLeast(summary.requeued, 1, JSON.stringify(summary))
        yield* allFinished(env, `id = '${record.id}'`)
        assert.strictEqual(rows(env, `id = '${record.id}'`)[0]?.state, "succeeded")
      }),
    90_000
  )

  it.effect(
    "Redis down between the writes: 503, the record is withdrawn, and submits work once it is back",
    () =>
      Effect.gen(function* () {
        const env = yield* Env
        const proxy = yield* redisProxy(env.redisUrl)
        const api = yield* spawnApi(env, { REDIS_URL: proxy.url, MH_FAILPOINT_SUBMIT_PAUSE_MS: pauseBetweenWrites })
        const response = postPing(api.base, { message: "down" })
        yield* pausedBetweenWrites(api.output)
        proxy.down()
        const record = yield* waitForRecord(env, "payload->>'message' = 'down'")
        const answer = yield* answered(response, api.output)
        assert.strictEqual(answer.status, 503, answer.text)
        assert.deepStrictEqual(rows(env, `id = '${record.id}'`), [])
        proxy.up()
        const later = yield* Effect.promise(() => postPing(api.base, { message: "after down" })).pipe(
          Effect.filterOrFail(
            (reply) => reply.status === 202,
            (reply) => reply
          ),
          Effect.retry(Schedule.spaced("500 millis").pipe(Schedule.upTo({ times: 20 }))),
          Effect.catch((reply) => Effect.die(new Error(`${JSON.stringify(reply)}\n${api.output()}`)))
        )
        assert.strictEqual(later.status, 202)
        yield* allFinished(env, "payload->>'message' = 'after down'")
      }),
    90_000
  )

  it.effect(
    "the reconciler ends records that cannot run, and leaves young ones to their submit",
    () =>
      Effect.gen(function* () {
        const env = yield* Env
        const insert = (kind: string, payload: string, extra = "") =>
          psqlValue(
            env.databaseUrl,
            `INSERT INTO jobs (user_id, kind, payload, max_attempts${extra === "" ? "" : ", cancel_requested_at"})
           VALUES ('${owner}', '${kind}', '${payload}', 1${extra}) RETURNING id`
          )
        const unknownKind = insert("no.such.kind", "{}")
        const invalid = insert(PingJob.name, '{"sleepMillis": 999999999}')
        const cancelled = insert(PingJob.name, '{"message": "cancel me"}', ", now()")
        const orphan = insert(PingJob.name, '{"message": "orphan"}')

        // with the default grace period, records this young are a submit in flight: untouched
        const young = yield* (yield* JobReconciler).reconcileOlderThan(60_000)
        assert.strictEqual(young.checked, 0)
        assert.strictEqual(rows(env, `id = '${orphan}'`)[0]?.state, "queued")

        const summary = yield* (yield* JobReconciler).reconcile
        assert.isAtLeast(summary.ended, 3, JSON.stringify(summary))
        assert.isAtLeast(summary.requeued, 1, JSON.stringify(summary))
        const error = (id: string) =>
          psqlValue(env.databaseUrl, `SELECT state || ' ' || coalesce(error_code, '') FROM jobs WHERE id = '${id}'`)
        assert.strictEqual(error(unknownKind), "failed unknown_kind")
        assert.strictEqual(error(invalid), "failed invalid_payload")
        assert.strictEqual(error(cancelled), "cancelled cancelled")
        yield* allFinished(env, `id = '${orphan}'`)
        assert.strictEqual(error(orphan), "succeeded")
        // a second pass finds nothing left to do
        const again = yield* (yield* JobReconciler).reconcile
        assert.deepStrictEqual({ requeued: again.requeued, ended: again.ended }, { requeued: 0, ended: 0 })
      }),
    90_000
  )
})
