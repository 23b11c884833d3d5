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
  type Attempt,
  checkSurvived,
  countBy,
  envNumber,
  formatCounts,
  freePort,
  log,
  makeDrillEnv,
  psql,
  runDrill,
  settleJobs,
  signUp,
  sleep,
  startApiAndWorkers,
  startFaultLoad,
  waitUntil
} from "./support.ts"

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

  // a job accepted in the last second before the SIGKILL can be missing from the AOF (fsync every
  // second): the job reconciler re-adds it once its record is older than the grace period, at its
  // next pass; with the defaults (60 s each) that is 60-120 s after the kill, past this drill's wait
  const env = await makeDrillEnv("redis_restart", cleanup, {
    redisUrl: `redis://127.0.0.1:${port}/0`,
    extraEnv: { JOB_RECONCILE_INTERVAL_MS: "5000", JOB_RECONCILE_GRACE_MS: "10000" }
  })
  const { api, base, workers } = await startApiAndWorkers(env, cleanup)
  // bearer tokens: they are checked in PostgreSQL, so they keep working while Redis is down
  const user = await signUp(base, "redis")

  const faultLoad = startFaultLoad({
    base,
    user,
    clients,
    ping: { sleepMillis: 300, steps: 3 },
    dependency: "redis",
    timeoutMillis: 20_000,
    readyTimeoutMillis: 10_000,
    pauses: { accepted: 50, refused: 100, read: 100 }
  })
  const { enqueues, reads, readiness } = faultLoad

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
  await faultLoad.stop()

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
    notReady.length > 0 && notReady.every((probe) => probe.status === 503 && probe.dependency === "down"),
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
  const { states } = await settleJobs(env.databaseUrl, accepted, 90_000, 500)
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
  checkSurvived(report, api, workers)

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
