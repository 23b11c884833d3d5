/**
 * Drill: the IMAP server stops in the middle of a sync (npm run drill:dovecot-stop).
 *
 * A throw-away Dovecot holds DRILL_MESSAGES messages; an API and a worker sync the account. When
 * the sync has stored part of the mailbox, Dovecot's master process is stopped (its IMAP
 * sessions die with it), stays down for DRILL_DOWN_SECONDS, and is started again on the same
 * mail store and port. Checks: the attempt ends `retrying` with a connection error (not
 * `failed`, and the account is not marked auth_failed); the API stays ready (IMAP is not a
 * readiness dependency); the retry resumes from the checkpoint and the job ends succeeded; the
 * stored mailbox equals the server's (every message once); sync_errors_total counted it.
 *
 *   DRILL_MESSAGES       messages in the mailbox (default 4000)
 *   DRILL_DOWN_SECONDS   how long Dovecot stays down (default 5)
 */
import { spawn, spawnSync } from "node:child_process"
import { connect } from "node:net"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import {
  addDrillAccount,
  checkStoredOnce,
  envNumber,
  field,
  log,
  makeDrillEnv,
  psql,
  request,
  runDrill,
  seededDovecot,
  signUp,
  sleep,
  startApi,
  startWorker,
  terminalStates,
  waitUntil
} from "./support.ts"

interface Row {
  readonly state: string
  readonly attempts: number
  readonly done: number
  readonly errorCode: string
}

const row = (databaseUrl: string, id: string): Row => {
  const [state = "", attempts = "0", done = "0", errorCode = ""] = psql(
    databaseUrl,
    `SELECT state || '|' || attempts || '|' || coalesce(progress->>'done', '0') || '|' || coalesce(error_code, '') FROM jobs WHERE id = '${id}'`
  ).split("|")
  return { state, attempts: Number(attempts), done: Number(done), errorCode }
}

await runDrill("dovecot-stop", 240, async (report, cleanup) => {
  const messages = envNumber("DRILL_MESSAGES", 4000)
  const downSeconds = envNumber("DRILL_DOWN_SECONDS", 5)
  const env = await makeDrillEnv("dovecot_stop", cleanup)
  const dovecot = await seededDovecot(cleanup, messages, { seed: 9, domain: "dovecot-drill.test" })

  const { program: api, base } = await startApi(env.env)
  cleanup(() => api.stop())
  const { program: worker, metricsPort } = await startWorker(env.env)
  cleanup(() => worker.stop())
  const user = await signUp(base, "imap")
  const accountId = await addDrillAccount(base, user, dovecot)
  const sync = await request(base, "POST", `/api/v1/accounts/${accountId}/sync`, { headers: user.headers })
  if (sync.status !== 202) throw new Error(`sync: ${sync.status} ${sync.text}`)
  const jobId = String(field(sync.body, "jobId"))

  // --- stop Dovecot in the middle of the sync ---------------------------------------------------
  const midway = await waitUntil(
    () => {
      const current = row(env.databaseUrl, jobId)
      return (current.state === "running" && current.done >= 1) || terminalStates.has(current.state)
        ? current
        : undefined
    },
    120_000,
    50
  )
  if (midway?.state !== "running") {
    report.check("the sync was caught running", false, `state ${midway?.state ?? "?"}: raise DRILL_MESSAGES`)
    return
  }
  // as `systemctl stop dovecot` does (KillMode=control-group): the master and every process it
  // started, IMAP sessions included (a SIGTERM to the master alone leaves open sessions serving)
  const masterPid = Number(readFileSync(join(dovecot.root, "run", "master.pid"), "utf8").trim())
  const processes = [masterPid, ...descendantsOf(masterPid)]
  for (const pid of processes) process.kill(pid, "SIGKILL")
  const stoppedAt = Date.now()
  await waitUntil(
    () => (processes.every((pid) => spawnSync("kill", ["-0", String(pid)]).status !== 0) ? true : undefined),
    10_000,
    50
  )
  log(`Dovecot stopped at sync progress ${midway.done}/${messages}; down for ${downSeconds} s`)

  const failedAttempt = await waitUntil(
    () => {
      const current = row(env.databaseUrl, jobId)
      return current.state !== "running" ? current : undefined
    },
    30_000,
    50
  )
  report.check(
    "the interrupted attempt ends retrying with a connection error",
    failedAttempt?.state === "retrying" && failedAttempt.errorCode !== "" && failedAttempt.errorCode !== "auth_failed",
    `state ${failedAttempt?.state ?? "still running"}, code ${failedAttempt?.errorCode ?? "-"}`
  )
  const detectedAfter = Date.now() - stoppedAt
  const ready = await request(base, "GET", "/health/ready")
  report.check("the API stays ready while the IMAP server is down", ready.status === 200, `ready ${ready.status}`)
  const accountWhileDown = await request(base, "GET", `/api/v1/accounts/${accountId}`, { headers: user.headers })
  report.check(
    "the account is not marked auth_failed",
    field(accountWhileDown.body, "status") !== "auth_failed",
    `status ${String(field(accountWhileDown.body, "status"))}`
  )
  const storedWhileDown = Number(psql(env.databaseUrl, "SELECT count(*) FROM emails"))

  await sleep(Math.max(0, downSeconds * 1000 - (Date.now() - stoppedAt)))
  // the same configuration, mail store and port: as a service manager would restart it
  const restarted = spawn("dovecot", ["-F", "-c", join(dovecot.root, "dovecot.conf")], { stdio: "ignore" })
  cleanup(async () => {
    if (restarted.exitCode === null && restarted.signalCode === null) {
      restarted.kill("SIGTERM")
      await new Promise((resolve) => restarted.once("exit", resolve))
    }
  })
  const restartedAt = Date.now()
  const listening = await waitUntil(
    async () => ((await greeting(dovecot.port)).startsWith("* OK") ? true : undefined),
    15_000,
    200
  )
  report.check("Dovecot answers IMAP again", listening === true)
  log("Dovecot started again")

  const finished = await waitUntil(
    () => {
      const current = row(env.databaseUrl, jobId)
      return terminalStates.has(current.state) ? current : undefined
    },
    150_000,
    250
  )
  const finishedAfter = Date.now() - restartedAt
  report.check(
    "the sync ends succeeded after Dovecot is back",
    finished?.state === "succeeded",
    `state ${finished?.state ?? "unfinished"} after ${finished?.attempts ?? "?"} attempts`
  )
  const onServer = await checkStoredOnce(report, "every message stored exactly once", dovecot, env.databaseUrl)
  const resumedWith = Number(
    psql(env.databaseUrl, `SELECT coalesce(result->>'newMessages', '-1') FROM jobs WHERE id = '${jobId}'`)
  )
  report.check(
    "the retry resumed from the checkpoint (it stored only the rest)",
    resumedWith >= 0 && resumedWith < onServer,
    `the last attempt stored ${resumedWith} of ${onServer}`
  )
  const metrics = await request(`http://127.0.0.1:${metricsPort}`, "GET", "/metrics")
  const errorLine = metrics.text
    .split("\n")
    .find((line) => line.startsWith("sync_errors_total{") && line.includes("connection"))
  report.check(
    "sync_errors_total counted the failure",
    errorLine !== undefined,
    errorLine ?? "no sample with a connection reason"
  )
  const accountAfter = await request(base, "GET", `/api/v1/accounts/${accountId}`, { headers: user.headers })

  report.figure("messages", messages)
  report.figure("progress when Dovecot stopped", `${midway.done}/${messages}`)
  report.figure("stored before the outage", storedWhileDown)
  report.figure("failure detected after (ms)", detectedAfter)
  report.figure("Dovecot down (s)", ((restartedAt - stoppedAt) / 1000).toFixed(1))
  report.figure("sync finished after Dovecot came back (s)", (finishedAfter / 1000).toFixed(1))
  report.figure("attempts", finished?.attempts ?? 0)
  report.figure("account status afterwards", String(field(accountAfter.body, "status")))
})

/** Every process below `pid` (children first level, then theirs). */
function descendantsOf(pid: number): Array<number> {
  const listed = spawnSync("ps", ["-o", "pid=", "--ppid", String(pid)], { encoding: "utf8" })
  const children = listed.stdout
    .split("\n")
    .map((line) => Number(line.trim()))
    .filter((child) => Number.isInteger(child) && child > 0)
  return children.flatMap((child) => [child, ...descendantsOf(child)])
}

/** The first line an IMAP server sends; "" when nothing answers. */
function greeting(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port })
    let buffer = ""
    const done = (line: string) => {
      socket.destroy()
      resolve(line)
    }
    socket.setTimeout(2_000, () => done(""))
    socket.on("error", () => done(""))
    socket.on("data", (chunk: Buffer) => {
      buffer += chunk.toString("latin1")
      const end = buffer.indexOf("\n")
      if (end >= 0) done(buffer.slice(0, end))
    })
  })
}
