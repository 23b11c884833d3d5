/**
 * Drill: Redis killed and restarted under load (npm run drill:redis-restart).
 *
 * A redis-server of the drill's own (loopback, free port, AOF on, `--save ""`, noeviction) serves
 * an API and two workers. Clients keep enqueueing debug.ping jobs and reading job lists; Redis is
 * SIGKILLed, stays down for DRILL_DOWN_SECONDS, and is started again on the same AOF. Checks:
 * enqueue answers 503 (quickly, never 500) while Redis is down; reads that need only PostgreSQL
 * keep working; readiness reports Redis down, then up; every job that was accepted (202) ends
 * succeeded and every refused one left no record; recovery takes seconds.
 *
 *   DRILL_CLIENTS        concurrent enqueueing clients (default 20)
 *   DRILL_DOWN_SECONDS   how long Redis stays down (default 5)
 *   DRILL_PHASE_SECONDS  load before the kill and after the restart (default 10)
 */
import { type ChildProcess, spawn } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import {
  countBy,
  envNumber,
  field,
  formatCounts,
  freePort,
  jobStates,
  log,
  makeDrillEnv,
  psql,
  request,
  runDrill,
  signUp,
  sleep,
  startApi,
  startWorker,
  terminalStates,
  waitUntil
} from "./support.ts"

interface Attempt {
  readonly start: number
  readonly end: number
  readonly status: number
  readonly jobId: string | undefined
  readonly tag: string | undefined
}

const startRedis = async (port: number, dir: string): Promise<ChildProcess> => {
  const child = spawn(
    "redis-server",
    [
      "--port",
      String(port),
      "--bind",
      "127.0.0.1",
      "--save",
      "",
      "--appendonly",
      "yes",
      "--appendfsync",
      "everysec",
      "--maxmemory-policy",
      "noeviction",
      "--dir",
      dir,
      "--daemonize",
      "no"
    ],
    { stdio: ["ignore", "pipe", "pipe"] }
  )
  let output = ""
  child.stdout?.on("data", (chunk: Buffer) => {
    output += chunk.toString("utf8")
  })
  const ready = await waitUntil(() => (output.includes("Ready to accept connections") ? true : undefined), 10_000, 50)
  if (ready === undefined) throw new Error(`redis-server did not start:\n${output}`)
  return child
}

await runDrill("redis-restart", 240, async (report, cleanup) => {
  const clients = envNumber("DRILL_CLIENTS", 20)
  const downSeconds = envNumber("DRILL_DOWN_SECONDS", 5)
  const phaseSeconds = envNumber("DRILL_PHASE_SECONDS", 10)

  const dir = mkdtempSync(join(tmpdir(), "mh-drill-redis-"))
  cleanup(() => rmSync(dir, { recursive: true, force: true }))
  const port = await freePort()
  let redis = await startRedis(port, dir)
  cleanup(() => redis.kill("SIGKILL"))
  log(`redis-server on 127.0.0.1:${port}, AOF in ${dir}`)

  const env = await makeDrillEnv("redis_restart", cleanup, { redisUrl: `redis://127.0.0.1:${port}/0` })
  const { program: api, base } = await startApi(env.env)
  cleanup(() => api.stop())
  const workers = await Promise.all([
    startWorker(env.env, { name: "worker-1" }),
    startWorker(env.env, { name: "worker-2" })
  ])
  for (const { program } of workers) cleanup(() => program.stop())
  // bearer tokens: they are checked in PostgreSQL, so they keep working while Redis is down
  const user = await signUp(base, "redis")

  const enqueues: Array<Attempt> = []
  const reads: Array<Attempt> = []
  const readiness: Array<{ at: number; status: number; redis: unknown }> = []
  let running = true

  const enqueuer = async () => {
    while (running) {
      const start = Date.now()
      const reply = await request(base, "POST", "/api/v1/debug/ping", {
        json: { sleepMillis: 300, steps: 3 },
        headers: user.headers,
        timeoutMillis: 20_000
      })
      const jobId = field(reply.body, "jobId")
      const tag = field(reply.body, "_tag")
      enqueues.push({
        start,
        end: Date.now(),
        status: reply.status,
        jobId: typeof jobId === "string" ? jobId : undefined,
        tag: typeof tag === "string" ? tag : undefined
      })
      await sleep(reply.status === 202 ? 50 : 100)
    }
  }
  const reader = async () => {
    while (running) {
      const start = Date.now()
      const reply = await request(base, "GET", "/api/v1/jobs?limit=5", { headers: user.headers, timeoutMillis: 20_000 })
      reads.push({ start, end: Date.now(), status: reply.status, jobId: undefined, tag: undefined })
      await sleep(100)
    }
  }
  const prober = async () => {
    while (running) {
      const reply = await request(base, "GET", "/health/ready", { timeoutMillis: 10_000 })
      readiness.push({ at: Date.now(), status: reply.status, redis: field(reply.body, "checks", "redis") })
      await sleep(200)
    }
  }
  const load = Promise.all([...Array.from({ length: clients }, enqueuer), reader(), reader(), prober()])

  await sleep(phaseSeconds * 1000)
  redis.kill("SIGKILL")
  await new Promise((resolve) => redis.once("exit", resolve))
  const killedAt = Date.now()
  log(`redis SIGKILLed; down for ${downSeconds} s`)
  await sleep(downSeconds * 1000)
  redis = await startRedis(port, dir)
  const restartedAt = Date.now()
  log("redis restarted on the same AOF")
  await sleep(phaseSeconds * 1000)
  running = false
  await load

  // --- while Redis was down -----------------------------------------------------------------------
  const within = (attempt: Attempt, from: number, to: number) => attempt.start >= from && attempt.end <= to
  const down = enqueues.filter((attempt) => within(attempt, killedAt + 250, restartedAt))
  const downStatuses = countBy(down.map((attempt) => attempt.status))
  report.check(
    "enqueue answers 503 while Redis is down",
    down.length > 0 && down.every((attempt) => attempt.status === 503 && attempt.tag === "ServiceUnavailable"),
    `${down.length} enqueues while down: ${formatCounts(downStatuses)}`
  )
  const slowest503 = Math.max(0, ...down.map((attempt) => attempt.end - attempt.start))
  report.check("a refused enqueue answers within 5 s", slowest503 < 5_000, `slowest ${slowest503} ms`)
  report.check(
    "no request answered 500 or failed at the connection",
    [...enqueues, ...reads].every((attempt) => (attempt.status > 0 && attempt.status < 500) || attempt.status === 503),
    formatCounts(countBy([...enqueues, ...reads].map((attempt) => attempt.status)))
  )
  const downReads = reads.filter((attempt) => within(attempt, killedAt + 250, restartedAt))
  report.check(
    "reads that need only PostgreSQL keep working while Redis is down",
    downReads.length > 0 && downReads.every((attempt) => attempt.status === 200),
    `${downReads.length} reads: ${formatCounts(countBy(downReads.map((attempt) => attempt.status)))}`
  )
  const notReady = readiness.filter((probe) => probe.at > killedAt + 500 && probe.at < restartedAt)
  report.check(
    "readiness answers 503 naming Redis while it is down",
    notReady.length > 0 && notReady.every((probe) => probe.status === 503 && probe.redis === "down"),
    `${notReady.length} probes: ${formatCounts(countBy(notReady.map((probe) => probe.status)))}`
  )

  // --- recovery -----------------------------------------------------------------------------------
  const firstAccepted = enqueues
    .filter((attempt) => attempt.start >= restartedAt && attempt.status === 202)
    .sort((a, b) => a.end - b.end)[0]
  const firstReady = readiness.filter((probe) => probe.at >= restartedAt && probe.status === 200)[0]
  const recoveredEnqueue = firstAccepted === undefined ? Number.POSITIVE_INFINITY : firstAccepted.end - restartedAt
  const recoveredReady = firstReady === undefined ? Number.POSITIVE_INFINITY : firstReady.at - restartedAt
  report.check("enqueue accepts again within 10 s of the restart", recoveredEnqueue < 10_000, `${recoveredEnqueue} ms`)
  report.check("readiness is 200 again within 10 s of the restart", recoveredReady < 10_000, `${recoveredReady} ms`)
  const lateFailures = enqueues.filter(
    (attempt) => attempt.start >= restartedAt + Math.max(recoveredEnqueue, 1_000) && attempt.status !== 202
  )
  report.check(
    "after recovery every enqueue is accepted",
    lateFailures.length === 0,
    `${lateFailures.length} refused after recovery`
  )

  // --- no accepted job lost -----------------------------------------------------------------------
  const accepted = enqueues.flatMap((attempt) =>
    attempt.status === 202 && attempt.jobId !== undefined ? [attempt.jobId] : []
  )
  const settled = await waitUntil(
    () => {
      const states = jobStates(env.databaseUrl, accepted)
      return [...states.values()].every((state) => terminalStates.has(state)) && states.size === accepted.length
        ? states
        : undefined
    },
    90_000,
    500
  )
  const states = settled ?? jobStates(env.databaseUrl, accepted)
  const byState = countBy([...states.values()])
  report.check(
    "every accepted job ends succeeded",
    states.size === accepted.length && [...states.values()].every((state) => state === "succeeded"),
    `${accepted.length} accepted: ${formatCounts(byState)}; ${accepted.length - states.size} without a record`
  )
  const rows = Number(psql(env.databaseUrl, "SELECT count(*) FROM jobs WHERE kind = 'debug.ping'"))
  report.check(
    "refused enqueues left no record (one row per accepted job)",
    rows === accepted.length,
    `${rows} rows, ${accepted.length} accepted`
  )
  report.check(
    "api and workers survived",
    api.running() && workers.every(({ program }) => program.running()),
    workers.map(({ program }) => `${program.name} ${program.running() ? "up" : "exited"}`).join(", ")
  )

  report.figure("clients", clients)
  report.figure("enqueues (all)", enqueues.length)
  report.figure("enqueues accepted (202)", accepted.length)
  report.figure("enqueues refused while down (503)", downStatuses.get(503) ?? 0)
  report.figure("slowest 503 (ms)", slowest503)
  report.figure("reads while down", downReads.length)
  report.figure("Redis down (s)", ((restartedAt - killedAt) / 1000).toFixed(1))
  report.figure("enqueue recovered after restart (ms)", recoveredEnqueue)
  report.figure("readiness recovered after restart (ms)", recoveredReady)
  const lastFinished = psql(
    env.databaseUrl,
    "SELECT coalesce(extract(epoch FROM max(finished_at))::text, '0') FROM jobs WHERE kind = 'debug.ping'"
  )
  report.figure("last accepted job finished after restart (s)", (Number(lastFinished) - restartedAt / 1000).toFixed(1))
})
