import { assert, layer } from "@effect/vitest"
import { Effect, Schedule } from "effect"
import { SyncTickJob } from "../../src/contract/jobs/SyncTickJob.ts"
import { JobInspector } from "../../src/jobs/JobInspector.ts"
import { jobKinds } from "../../src/contract/jobs/catalog.ts"
import { ApiEnv, apiTestLayer } from "../harness/apiLayer.ts"
import { baseUrl, call, field } from "../harness/http.ts"
import { psqlValue } from "../harness/postgres.ts"
import { spawnWorker } from "../harness/workerProcess.ts"

// The API runs in this process; workers are real child processes.
const TestLayer = apiTestLayer()

const owner = { "x-test-user": "44444444-4444-4444-8444-444444444444" }

const submit = (base: string, payload: Record<string, unknown>) =>
  Effect.gen(function* () {
    const response = yield* call(base, "POST", "/api/v1/debug/ping", { json: payload, headers: owner })
    assert.strictEqual(response.status, 202, response.text)
    return String(field(response.body, "jobId"))
  })

const waitFor = (base: string, id: string, done: (job: unknown) => boolean, times = 600) =>
  call(base, "GET", `/api/v1/jobs/${id}`, { headers: owner }).pipe(
    Effect.flatMap((response) => (done(response.body) ? Effect.succeed(response.body) : Effect.fail(response.text))),
    Effect.retry(Schedule.spaced("50 millis").pipe(Schedule.upTo({ times }))),
    Effect.orDie
  )

layer(TestLayer, { excludeTestServices: true, timeout: "120 seconds" })("worker processes", (it) => {
  it.effect("inspect workers lists a running worker process by its name, on every queue", () =>
    Effect.gen(function* () {
      const env = yield* ApiEnv
      const worker = yield* spawnWorker(env)
      const inspector = yield* JobInspector
      const workers = yield* inspector.workers.pipe(
        Effect.filterOrFail((list) => list.some((entry) => entry.name.includes(`:${worker.pid}:`))),
        Effect.retry(Schedule.spaced("100 millis").pipe(Schedule.upTo({ times: 50 }))),
        Effect.orDie
      )
      const queues = workers.filter((entry) => entry.name.includes(`:${worker.pid}:`)).map((entry) => entry.queue)
      // every kind the job runtime processes (scheduler ticks have their own small, unnamed worker)
      for (const kind of jobKinds.filter((kind) => kind.name !== SyncTickJob.name)) assert.include(queues, kind.name)
    }).pipe(Effect.provide(JobInspector.layer))
  )

  it.effect("a job whose worker is killed with SIGKILL is finished by another worker", () =>
    Effect.gen(function* () {
      const env = yield* ApiEnv
      const base = yield* baseUrl
      const first = yield* spawnWorker(env)
      const id = yield* submit(base, { sleepMillis: 4_000, steps: 40, message: "survivor" })
      const running = yield* waitFor(base, id, (job) => field(job, "state") === "running")
      assert.include(String(field(running, "startedAt")), "T")
      first.child.kill("SIGKILL")
      yield* Effect.promise(() => first.exited)

      const second = yield* spawnWorker(env)
      const done = yield* waitFor(base, id, (job) => ["succeeded", "failed"].includes(String(field(job, "state"))))
      assert.strictEqual(field(done, "state"), "succeeded", JSON.stringify(done))
      assert.strictEqual(field(done, "result", "message"), "survivor")
      assert.strictEqual(field(done, "error"), null)
      // the second worker did it: the record names the worker that ran the last attempt
      assert.include(second.output(), "worker started")
      const pid = String(second.pid)
      assert.include(psqlValue(env.databaseUrl, `SELECT worker FROM jobs WHERE id = '${id}'`), `:${pid}:`)
    })
  )

  it.effect("a job that kills every worker taking it ends failed as stalled, instead of looping", () =>
    Effect.gen(function* () {
      const env = yield* ApiEnv
      const base = yield* baseUrl
      const id = yield* submit(base, { sleepMillis: 30_000, message: "poison" })
      // BullMQ hands a stalled job over twice (maxStalledCount 2); the third stall fails it
      for (let round = 1; round <= 3; round++) {
        const worker = yield* spawnWorker(env)
        // running, and claimed by this worker
        yield* waitFor(base, id, () => {
          const row = psqlValue(
            env.databaseUrl,
            `SELECT state || ' ' || coalesce(worker, '') FROM jobs WHERE id = '${id}'`
          )
          return row.startsWith("running ") && row.includes(`:${worker.pid}:`)
        })
        worker.child.kill("SIGKILL")
        yield* Effect.promise(() => worker.exited)
      }
      yield* spawnWorker(env)
      const failed = yield* waitFor(base, id, (job) => field(job, "state") === "failed")
      assert.strictEqual(field(failed, "error", "code"), "stalled", JSON.stringify(failed))
      assert.match(String(field(failed, "error", "message")), /stalled/)
      assert.isString(field(failed, "finishedAt"))
    })
  )

  it.effect("SIGTERM lets a running job finish before the worker exits", () =>
    Effect.gen(function* () {
      const env = yield* ApiEnv
      const base = yield* baseUrl
      const worker = yield* spawnWorker(env)
      const id = yield* submit(base, { sleepMillis: 2_000, steps: 20, message: "graceful" })
      yield* waitFor(base, id, (job) => field(job, "state") === "running")
      const signalled = Date.now()
      worker.child.kill("SIGTERM")
      const exit = yield* Effect.promise(() => worker.exited)
      const job = yield* waitFor(base, id, () => true, 1)
      assert.strictEqual(field(job, "state"), "succeeded", JSON.stringify(job))
      const finishedAt = Date.parse(String(field(job, "finishedAt")))
      // it finished after the signal and before the process was gone
      assert.isAtLeast(finishedAt, signalled - 1_000)
      assert.isAtMost(finishedAt, exit.at)
      assert.include(worker.output(), "worker closed")
    })
  )
})
