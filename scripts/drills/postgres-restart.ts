/**
 * Drill: PostgreSQL restarted under load (npm run drill:postgres-restart).
 *
 * The drill runs a PostgreSQL cluster of its own (initdb into a temporary folder, loopback on a
 * free port; as the `postgres` OS user when run as root, since the server refuses root), so the
 * machine's shared server is never touched. An API and two workers run against it while clients
 * enqueue debug.ping jobs and read. Two faults:
 *   1. every application connection terminated (pg_terminate_backend): the pools reconnect;
 *   2. the server stopped with `-m immediate` (a crash: no checkpoint, clients cut off), down for
 *      DRILL_DOWN_SECONDS, then started again (crash recovery from the WAL).
 * Checks: while down, readiness is 503 naming PostgreSQL and requests answer 503 (never 500, no
 * hang); afterwards readiness and enqueues recover within seconds, the pools reconnect, and every
 * accepted job ends succeeded (jobs running during the outage retry their bookkeeping).
 *
 *   DRILL_CLIENTS        concurrent enqueueing clients (default 10)
 *   DRILL_DOWN_SECONDS   how long PostgreSQL stays down (default 5)
 *   DRILL_PHASE_SECONDS  load between the faults (default 8)
 */
import { spawnSync } from "node:child_process"
import { chownSync, existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs"
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
  startFaultLoad
} from "./support.ts"

const binDir = (): string => {
  const configured = process.env["DRILL_PG_BIN"]
  if (configured !== undefined) return configured
  const found = spawnSync("pg_config", ["--bindir"], { encoding: "utf8" })
  const fromConfig = found.status === 0 ? found.stdout.trim() : ""
  if (fromConfig !== "" && existsSync(join(fromConfig, "initdb"))) return fromConfig
  for (const version of ["17", "16", "15", "14"]) {
    const dir = `/usr/lib/postgresql/${version}/bin`
    if (existsSync(join(dir, "initdb"))) return dir
  }
  throw new Error("initdb not found: install the PostgreSQL server package or set DRILL_PG_BIN")
}

const isRoot = process.getuid?.() === 0

/** Runs a PostgreSQL server binary, as `postgres` when we are root. */
const pgCommand = (bin: string, args: ReadonlyArray<string>) => {
  const command = isRoot ? "runuser" : bin
  const fullArgs = isRoot ? ["-u", "postgres", "--", bin, ...args] : [...args]
  const result = spawnSync(command, fullArgs, { encoding: "utf8", cwd: tmpdir() })
  if (result.status !== 0) throw new Error(`${bin} ${args.join(" ")} failed:\n${result.stdout}\n${result.stderr}`)
  return result.stdout
}

await runDrill("postgres-restart", 300, async (report, cleanup) => {
  const clients = envNumber("DRILL_CLIENTS", 10)
  const downSeconds = envNumber("DRILL_DOWN_SECONDS", 5)
  const phaseSeconds = envNumber("DRILL_PHASE_SECONDS", 8)
  const bin = binDir()

  // --- a cluster of the drill's own -------------------------------------------------------------
  const root = mkdtempSync(join(tmpdir(), "mh-drill-pg-"))
  const data = join(root, "data")
  const sockets = join(root, "sockets")
  mkdirSync(sockets)
  if (isRoot) {
    const ids = spawnSync("id", ["-u", "postgres"], { encoding: "utf8" })
    const gid = spawnSync("id", ["-g", "postgres"], { encoding: "utf8" })
    if (ids.status !== 0) throw new Error("running as root, but there is no `postgres` user to run the server as")
    chownSync(root, Number(ids.stdout), Number(gid.stdout))
    chownSync(sockets, Number(ids.stdout), Number(gid.stdout))
  }
  cleanup(() => rmSync(root, { recursive: true, force: true }))
  const port = await freePort()
  pgCommand(join(bin, "initdb"), ["-D", data, "-U", "root", "--auth=trust", "-E", "UTF8", "--no-instructions"])
  const options = `-p ${port} -c listen_addresses=127.0.0.1 -k ${sockets} -c shared_buffers=32MB -c max_connections=60`
  const start = () =>
    pgCommand(join(bin, "pg_ctl"), ["-D", data, "-l", join(root, "server.log"), "-o", options, "-w", "start"])
  const stop = (mode: "fast" | "immediate") => pgCommand(join(bin, "pg_ctl"), ["-D", data, "-m", mode, "-w", "stop"])
  start()
  cleanup(() => {
    try {
      stop("immediate")
    } catch {
      // already stopped
    }
  })
  const server = `postgres://root@127.0.0.1:${port}`
  log(`own PostgreSQL (${bin}) on 127.0.0.1:${port}, data in ${data}`)

  const env = await makeDrillEnv("postgres_restart", cleanup, { postgresBase: server })
  const { api, base, workers } = await startApiAndWorkers(env, cleanup)
  const user = await signUp(base, "postgres")

  const faultLoad = startFaultLoad({
    base,
    user,
    clients,
    ping: { sleepMillis: 500, steps: 5 },
    dependency: "postgres",
    timeoutMillis: 30_000,
    readyTimeoutMillis: 15_000,
    pauses: { accepted: 100, refused: 200, read: 150 }
  })
  const { enqueues, reads, readiness } = faultLoad
  const all = () => [...enqueues, ...reads]

  // --- fault 1: every application connection terminated ------------------------------------------
  await sleep(phaseSeconds * 1000)
  const terminated = psql(
    `${server}/postgres`,
    `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = '${env.databaseName}' AND pid <> pg_backend_pid()`
  )
  const terminatedAt = Date.now()
  log(`terminated ${terminated} application connections`)
  await sleep(phaseSeconds * 1000)
  const afterTermination = all().filter((attempt) => attempt.start >= terminatedAt + 2_000)
  report.check(
    "after the connections were cut, requests succeed again within 2 s",
    afterTermination.length > 0 &&
      afterTermination.every((attempt) => attempt.status === 200 || attempt.status === 202),
    `${afterTermination.length} later requests: ${formatCounts(countBy(afterTermination.map((a) => a.status)))}`
  )
  const cutErrors = all().filter((attempt) => attempt.start < terminatedAt + 2_000 && attempt.end >= terminatedAt)
  report.figure("connections terminated", terminated)
  report.figure(
    "requests around the cut",
    `${cutErrors.length}: ${formatCounts(countBy(cutErrors.map((attempt) => attempt.status)))}`
  )

  // --- fault 2: the server crashes, stays down, comes back ---------------------------------------
  stop("immediate")
  const downAt = Date.now()
  log(`PostgreSQL stopped (-m immediate); down for ${downSeconds} s`)
  await sleep(downSeconds * 1000)
  start()
  const upAt = Date.now()
  log("PostgreSQL started (crash recovery)")
  await sleep(phaseSeconds * 1000)
  await faultLoad.stop()

  const within = (attempt: Attempt) => attempt.start >= downAt + 250 && attempt.end <= upAt
  const downEnqueues = enqueues.filter(within)
  const downReads = reads.filter(within)
  report.check(
    "while PostgreSQL is down, enqueues and reads answer 503",
    downEnqueues.length > 0 && [...downEnqueues, ...downReads].every((attempt) => attempt.status === 503),
    `enqueues ${formatCounts(countBy(downEnqueues.map((a) => a.status)))}; reads ${formatCounts(countBy(downReads.map((a) => a.status)))}`
  )
  const slowest = Math.max(
    0,
    ...all()
      .filter((attempt) => attempt.start >= downAt && attempt.start < upAt)
      .map((a) => a.end - a.start)
  )
  report.check("no request hangs while it is down (answer within 10 s)", slowest < 10_000, `slowest ${slowest} ms`)
  report.check(
    "no request answered 500 or failed at the connection",
    all().every((attempt) => (attempt.status > 0 && attempt.status < 500) || attempt.status === 503),
    formatCounts(countBy(all().map((attempt) => attempt.status)))
  )
  const notReady = readiness.filter((probe) => probe.at > downAt + 500 && probe.at < upAt)
  report.check(
    "readiness answers 503 naming PostgreSQL while it is down",
    notReady.length > 0 && notReady.every((probe) => probe.status === 503 && probe.dependency === "down"),
    `${notReady.length} probes: ${formatCounts(countBy(notReady.map((probe) => probe.status)))}`
  )
  const firstReady = readiness.find((probe) => probe.at >= upAt && probe.status === 200)
  const firstAccepted = enqueues
    .filter((attempt) => attempt.start >= upAt && attempt.status === 202)
    .sort((a, b) => a.end - b.end)[0]
  const readyAfter = firstReady === undefined ? Number.POSITIVE_INFINITY : firstReady.at - upAt
  const acceptedAfter = firstAccepted === undefined ? Number.POSITIVE_INFINITY : firstAccepted.end - upAt
  report.check("readiness is 200 again within 10 s of the restart", readyAfter < 10_000, `${readyAfter} ms`)
  report.check("enqueue accepts again within 10 s of the restart", acceptedAfter < 10_000, `${acceptedAfter} ms`)

  const accepted = enqueues.flatMap((attempt) =>
    attempt.status === 202 && attempt.jobId !== undefined ? [attempt.jobId] : []
  )
  const { states } = await settleJobs(env.databaseUrl, accepted, 120_000, 500)
  report.check(
    "every accepted job ends succeeded (jobs resume after the outage)",
    states.size === accepted.length && [...states.values()].every((state) => state === "succeeded"),
    `${accepted.length} accepted: ${formatCounts(countBy([...states.values()]))}`
  )
  const stuck = [...states].filter(([, state]) => state !== "succeeded").slice(0, 3)
  for (const [id] of stuck) {
    log(
      `not succeeded: ${psql(env.databaseUrl, `SELECT row_to_json(j)::text FROM (SELECT id, state, attempts, worker, error_code, error_message, updated_at FROM jobs WHERE id = '${id}') j`)}`
    )
  }
  const interrupted = Number(
    psql(
      env.databaseUrl,
      `SELECT count(*) FROM jobs WHERE started_at < to_timestamp(${upAt / 1000}) AND finished_at > to_timestamp(${downAt / 1000})`
    )
  )
  checkSurvived(report, api, workers)

  report.figure("clients", clients)
  report.figure("requests (all)", all().length)
  report.figure("enqueues accepted (202)", accepted.length)
  report.figure("requests while down", downEnqueues.length + downReads.length)
  report.figure("slowest answer while down (ms)", slowest)
  report.figure("PostgreSQL down (s)", ((upAt - downAt) / 1000).toFixed(1))
  report.figure("readiness recovered after restart (ms)", readyAfter)
  report.figure("enqueue recovered after restart (ms)", acceptedAfter)
  report.figure("jobs that were running across the outage", interrupted)
})
