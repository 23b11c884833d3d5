import { assert, layer } from "@effect/vitest"
import { Effect, Schedule } from "effect"
import { spawn } from "node:child_process"
import { jobKinds } from "../../src/contract/jobs/catalog.ts"
import { ApiEnv, apiTestLayer } from "../harness/apiLayer.ts"
import { baseUrl, call, field } from "../harness/http.ts"
import { spawnWorker } from "../harness/workerProcess.ts"

/**
 * Inspection against a running worker (a real child process) with real debug.ping jobs in each
 * state: `npm run cli -- inspect active|stats|registered|workers` (the CLI as a child process)
 * and `GET /api/v1/admin/queues` (this process's API).
 */
const TestLayer = apiTestLayer()

// each user may submit 60 jobs at once (JOB_SUBMIT_BURST)
const users = [
  "a1111111-1111-4111-8111-111111111111",
  "a2222222-2222-4222-8222-222222222222",
  "a3333333-3333-4333-8333-333333333333",
  "a4444444-4444-4444-8444-444444444444",
  "a5555555-5555-4555-8555-555555555555"
]
const admin = { "x-test-user": "adadadad-adad-4dad-8dad-adadadadadad", "x-test-role": "admin" }
const pingConcurrency = jobKinds.find((kind) => kind.name === "debug.ping")?.concurrency ?? 0

interface CliRun {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

const cli = (env: Record<string, string>, args: ReadonlyArray<string>) =>
  Effect.promise(
    () =>
      new Promise<CliRun>((resolve, reject) => {
        const child = spawn(process.execPath, ["--import", "tsx", "src/main/cli.ts", ...args], {
          env: { ...process.env, ...env, LOG_LEVEL: "None", NO_COLOR: "1" },
          stdio: ["ignore", "pipe", "pipe"]
        })
        let stdout = ""
        let stderr = ""
        child.stdout.on("data", (chunk: Buffer) => {
          stdout += chunk.toString("utf8")
        })
        child.stderr.on("data", (chunk: Buffer) => {
          stderr += chunk.toString("utf8")
        })
        child.once("error", reject)
        child.once("exit", (code) => resolve({ code, stdout, stderr }))
      })
  )

/** The JSON array `inspect --json` printed. */
const jsonRows = (run: CliRun): ReadonlyArray<unknown> => {
  assert.strictEqual(run.code, 0, `${run.stdout}\n${run.stderr}`)
  const start = run.stdout.search(/^\[/m)
  assert.isAtLeast(start, 0, run.stdout)
  const parsed: unknown = JSON.parse(run.stdout.slice(start))
  assert.isTrue(Array.isArray(parsed), run.stdout)
  return Array.isArray(parsed) ? parsed : []
}

const submit = (base: string, user: string, payload: Record<string, unknown>) =>
  Effect.gen(function* () {
    const response = yield* call(base, "POST", "/api/v1/debug/ping", {
      json: payload,
      headers: { "x-test-user": user }
    })
    assert.strictEqual(response.status, 202, response.text)
    return String(field(response.body, "jobId"))
  })

const jobState = (base: string, user: string, id: string) =>
  Effect.map(call(base, "GET", `/api/v1/jobs/${id}`, { headers: { "x-test-user": user } }), (response) =>
    String(field(response.body, "state"))
  )

const waitForState = (base: string, user: string, id: string, state: string) =>
  jobState(base, user, id).pipe(
    Effect.flatMap((current) => (current === state ? Effect.void : Effect.fail(`${id} is ${current}, not ${state}`))),
    Effect.retry(Schedule.spaced("100 millis").pipe(Schedule.upTo({ times: 300 }))),
    Effect.orDie
  )

const overview = (base: string) =>
  Effect.map(call(base, "GET", "/api/v1/admin/queues", { headers: admin }), (response) => {
    assert.strictEqual(response.status, 200, response.text)
    return response.body
  })

const pingStats = (body: unknown): Record<string, number> => {
  const queues = field(body, "queues")
  const ping = (Array.isArray(queues) ? queues : []).find((queue) => field(queue, "queue") === "debug.ping")
  const stats: Record<string, number> = {}
  for (const key of ["waiting", "active", "delayed", "failed", "completed", "workers"]) {
    stats[key] = Number(field(ping, key))
  }
  return stats
}

layer(TestLayer, { excludeTestServices: true, timeout: "180 seconds" })("inspection", (it) => {
  it.effect(
    "cli inspect and GET /admin/queues show a running worker's jobs in every state; empty answers say so",
    () =>
      Effect.gen(function* () {
        const testEnv = yield* ApiEnv
        const env = testEnv.env
        const base = yield* baseUrl

        // before any worker and any job (CLI runs side by side: each is a process start)
        const [help, noActive, noWorkers, noWorkersJson] = yield* Effect.all(
          [
            cli(env, ["inspect", "--help"]),
            cli(env, ["inspect", "active"]),
            cli(env, ["inspect", "workers"]),
            cli(env, ["inspect", "workers", "--json"])
          ],
          { concurrency: "unbounded" }
        )
        // --help names every choice
        for (const choice of ["active", "stats", "registered", "workers"]) assert.include(help.stdout, choice)
        assert.match(help.stdout, /one of active, stats, registered, workers/)
        // the empty answers say so instead of printing an empty table
        assert.strictEqual(noActive.code, 0, noActive.stderr)
        assert.strictEqual(noActive.stdout.trim(), "no active jobs")
        assert.strictEqual(noWorkers.stdout.trim(), "no live workers")
        assert.deepStrictEqual(jsonRows(noWorkersJson), [])

        // the kind's own slots only (no interactive-only ones): the test counts active jobs against them
        yield* spawnWorker(testEnv, { JOB_INTERACTIVE_SLOTS: "0" })

        // completed and failed
        const done = yield* submit(base, users[0] ?? "", { steps: 1 })
        const failed = yield* submit(base, users[0] ?? "", { failPermanently: true })
        yield* waitForState(base, users[0] ?? "", done, "succeeded")
        yield* waitForState(base, users[0] ?? "", failed, "failed")

        // retrying: BullMQ holds it as delayed between attempts (200 ms, then 400 ms)
        const retried = yield* submit(base, users[1] ?? "", { failTimes: 2 })
        const whileDelayed = yield* overview(base).pipe(
          Effect.flatMap((body) => (pingStats(body)["delayed"] === 1 ? Effect.succeed(body) : Effect.fail(body))),
          Effect.retry(Schedule.spaced("10 millis").pipe(Schedule.upTo({ times: 1000 }))),
          Effect.orElseSucceed(() => undefined)
        )
        assert.isDefined(whileDelayed, "the retrying job was never seen delayed")
        yield* waitForState(base, users[1] ?? "", retried, "succeeded")

        // active and waiting: four waves of sleepers (25 s each) for the worker's 50 slots, so the
        // queue stays busy for as long as the CLI processes take to start on a loaded machine
        const sleepers = yield* Effect.forEach(
          Array.from({ length: pingConcurrency * 4 + 2 }, (_, n) => n),
          (n) => submit(base, users[n % users.length] ?? "", { sleepMillis: 25_000 }),
          { concurrency: 8 }
        )
        const busy = yield* overview(base).pipe(
          Effect.flatMap((body) => {
            const stats = pingStats(body)
            return stats["active"] === pingConcurrency && (stats["waiting"] ?? 0) > 0
              ? Effect.succeed(body)
              : Effect.fail(stats)
          }),
          Effect.retry(Schedule.spaced("100 millis").pipe(Schedule.upTo({ times: 300 }))),
          Effect.orDie
        )
        const apiStats = pingStats(busy)
        assert.deepInclude(apiStats, { active: pingConcurrency, delayed: 0, failed: 1, workers: 1 })
        assert.isAtLeast(apiStats["waiting"] ?? 0, 1)
        assert.isAtLeast(apiStats["completed"] ?? 0, 2)
        const apiActive = field(busy, "active")
        const activeIds = (Array.isArray(apiActive) ? apiActive : []).map((job) => String(field(job, "id")))
        assert.lengthOf(activeIds, pingConcurrency)
        for (const id of activeIds) assert.include(sleepers, id)
        for (const job of Array.isArray(apiActive) ? apiActive : []) {
          assert.strictEqual(field(job, "state"), "running")
          assert.isString(field(job, "worker"))
        }
        const apiWorkers = field(busy, "workers")
        assert.isTrue(
          (Array.isArray(apiWorkers) ? apiWorkers : []).some((worker) => field(worker, "queue") === "debug.ping"),
          JSON.stringify(apiWorkers)
        )
        const apiRegistered = field(busy, "registered")
        assert.sameMembers(
          (Array.isArray(apiRegistered) ? apiRegistered : []).map((kind) => String(field(kind, "name"))),
          jobKinds.map((kind) => kind.name)
        )
        // not for users
        const refused = yield* call(base, "GET", "/api/v1/admin/queues", { headers: { "x-test-user": users[0] ?? "" } })
        assert.strictEqual(refused.status, 403, refused.text)

        // the CLI sees the same
        const [statsRun, activeRun, registeredRun, workersRun, table] = yield* Effect.all(
          [
            cli(env, ["inspect", "stats", "--json"]),
            cli(env, ["inspect", "active", "--json"]),
            cli(env, ["inspect", "registered", "--json"]),
            cli(env, ["inspect", "workers", "--json"]),
            cli(env, ["inspect", "stats"])
          ],
          { concurrency: "unbounded" }
        )
        const stats = jsonRows(statsRun)
        const cliPing = stats.find((queue) => field(queue, "queue") === "debug.ping")
        // later than the API's snapshot: a wave may be changing over, so within bounds
        const cliStats = pingStats({ queues: [cliPing] })
        assert.deepInclude(cliStats, { failed: 1, workers: 1 })
        assert.isAtLeast(cliStats["active"] ?? 0, 1)
        assert.isAtMost(cliStats["active"] ?? 0, pingConcurrency)
        assert.isAtLeast(cliStats["waiting"] ?? 0, 1)
        assert.isAtLeast(cliStats["completed"] ?? 0, 2)
        assert.sameMembers(
          stats.map((queue) => String(field(queue, "queue"))),
          jobKinds.map((kind) => kind.name)
        )
        const active = jsonRows(activeRun)
        assert.isNotEmpty(active)
        for (const job of active) {
          assert.include(sleepers, String(field(job, "id")))
          assert.strictEqual(field(job, "state"), "running")
        }
        const registered = jsonRows(registeredRun)
        assert.deepInclude(
          registered.map((kind) => ({ name: field(kind, "name"), concurrency: field(kind, "concurrency") })),
          { name: "debug.ping", concurrency: pingConcurrency }
        )
        const workers = jsonRows(workersRun)
        assert.isTrue(
          workers.some((worker) => field(worker, "queue") === "debug.ping"),
          JSON.stringify(workers)
        )
        // the table form
        assert.strictEqual(table.code, 0, table.stderr)
        assert.include(table.stdout, "debug.ping")
        assert.include(table.stdout, "waiting")
        assert.notInclude(table.stdout, "no queues")
      }),
    180_000
  )
})
