/**
 * Benchmark of real-time mail (issue 14): `npm run bench:realtime -- [--accounts=1000] [--rate=2]
 * [--duration=60] [--burst=100] [--idle=30]`. One command, about 4 minutes at the defaults.
 *
 * A throw-away Dovecot with `accounts` passwd-file users (each with INBOX and a `Bench` folder), a
 * throw-away database and Redis prefix, the real API and two real workers (src/main/worker.ts with
 * WATCH_ENABLED=true, WATCH_OWNERSHIP=leases). One user owns every account (inserted straight into
 * the database, passwords sealed with the run's key), has one rule (subject contains "bench-rule" ->
 * addTag) that matches every message, and reads `GET /api/v1/events` (SSE).
 *
 * Phases and what is printed:
 * 1. baseline: each worker's RSS before any account exists;
 * 2. watch: the accounts appear; time until both workers together hold `accounts` watching
 *    connections (their `watch_connections` gauge), then until the catch-up syncs have drained;
 * 3. idle: `idle` seconds with nothing happening: CPU (% of one core, /proc/<pid>/stat) and RSS
 *    (/proc/<pid>/status) per worker, and both per 1,000 watched accounts / per account;
 * 4. steady: `rate` APPENDs a second for `duration` seconds to random accounts, INBOX or Bench at
 *    random; latency from the APPEND being sent to "mail.stored", "mail.analysed" and "rule.applied"
 *    on the SSE stream (p50, p95, p99, max);
 * 5. burst: `burst` APPENDs to one account's INBOX as fast as one connection sends them; time from
 *    the first APPEND until all are stored;
 * 6. takeover: worker-1 SIGKILLed; time until worker-2 alone holds every watching connection.
 *
 * Dovecot is set up for many IDLE/NOTIFY sessions (see dovecotLimits): every user runs under one
 * system uid here, whose inotify instances (128) are shared with every other Dovecot on the machine,
 * so each imap process serves many sessions; the log's inotify warnings are counted and printed.
 *
 * Env: DRILL_POSTGRES_URL, DRILL_REDIS_URL (defaults: localhost). Wall-clock figures depend on the
 * machine's load: the load average is printed with them.
 */
import { randomUUID } from "node:crypto"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { ImapFlow } from "imapflow"
import { startDovecot } from "../test/harness/dovecot.ts"
import {
  type Cleanup,
  field,
  log,
  makeDrillEnv,
  percentile,
  psql,
  type Program,
  type Report,
  request,
  runDrill,
  signUp,
  sleep,
  startApi,
  startWorker,
  waitUntil
} from "../scripts/drills/support.ts"
import { memoryOf, processCpu } from "./support/cpu.ts"
import { insertAccounts } from "./support/accounts.ts"
import { dovecotLimits } from "./support/dovecotLimits.ts"
import { probeWatchMemory } from "./support/watchMemoryProbe.ts"

// --- arguments ------------------------------------------------------------------------------------

const argument = (name: string, fallback: number): number => {
  const given = process.argv.find((arg) => arg.startsWith(`--${name}=`))
  if (given === undefined) return fallback
  const value = Number(given.slice(name.length + 3))
  if (!Number.isFinite(value) || value <= 0) throw new Error(`--${name} must be a positive number, got ${given}`)
  return value
}

const accountCount = Math.round(argument("accounts", 1000))
const ratePerSecond = argument("rate", 2)
const durationSeconds = argument("duration", 60)
const burstSize = Math.round(argument("burst", 100))
const idleSeconds = argument("idle", 30)
const IMAP_PASSWORD = "bench-imap-password"
const SUBFOLDER = "Bench"
const RULE_SUBJECT = "bench-rule"
const logDirectory = path.join(".tmp", "bench-realtime")

const load = () =>
  os
    .loadavg()
    .map((value) => value.toFixed(2))
    .join(" ")

// --- accounts --------------------------------------------------------------------------------------

const userName = (index: number) => `rt${index}`

// --- the SSE stream --------------------------------------------------------------------------------

interface StreamEvent {
  readonly type: string
  readonly at: number
  readonly data: unknown
}

const openEvents = async (base: string, headers: Record<string, string>, onEvent: (event: StreamEvent) => void) => {
  const controller = new AbortController()
  const response = await fetch(`${base}/api/v1/events?types=mail.stored,mail.analysed,rule.applied`, {
    headers,
    signal: controller.signal
  })
  if (response.status !== 200 || response.body === null) throw new Error(`events: ${response.status}`)
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader()
  let connected = false
  let buffer = ""
  const pump = async () => {
    for (;;) {
      const { value, done } = await reader.read()
      if (done) return
      buffer += value
      let end = buffer.indexOf("\n\n")
      while (end >= 0) {
        const block = buffer.slice(0, end)
        buffer = buffer.slice(end + 2)
        end = buffer.indexOf("\n\n")
        let type: string | undefined
        let data = ""
        for (const line of block.split("\n")) {
          if (line.startsWith(": connected")) connected = true
          else if (line.startsWith("event: ")) type = line.slice(7)
          else if (line.startsWith("data: ")) data += line.slice(6)
        }
        if (type !== undefined) onEvent({ type, at: Date.now(), data: JSON.parse(data) })
      }
    }
  }
  const pumped = pump().catch((error: unknown) => {
    if (!controller.signal.aborted) log(`event stream broke: ${String(error)}`)
  })
  await waitUntil(() => (connected ? true : undefined), 15_000)
  if (!connected) throw new Error("the event stream did not say connected")
  return {
    close: async () => {
      controller.abort()
      await pumped
    }
  }
}

// --- APPENDs and their events ----------------------------------------------------------------------

interface Sent {
  readonly seq: number
  readonly accountId: string
  readonly folder: string
  readonly sentAt: number
  storedAt?: number
  analysedAt?: number
  ruleAt?: number
}

/** Matches events to APPENDs: a stored event to the oldest open APPEND of its account and folder. */
class Tracker {
  readonly sent: Array<Sent> = []
  private readonly open = new Map<string, Array<Sent>>()
  private readonly byEmail = new Map<string, Sent>()
  private readonly folderOf = new Map<string, string>()
  /** analysed / rule.applied events that arrived before their message's stored event (kept until it comes). */
  private readonly early = new Map<string, { analysedAt?: number; ruleAt?: number }>()
  unmatched = 0
  /** mail.analysed events that came before the message's mail.stored on the stream. */
  analysedBeforeStored = 0
  /** mail.analysed events for a message that had one already. */
  analysedTwice = 0

  private readonly mailboxPath: (mailboxId: string) => string

  constructor(mailboxPath: (mailboxId: string) => string) {
    this.mailboxPath = mailboxPath
  }

  record(sent: Sent): void {
    this.sent.push(sent)
    const key = `${sent.accountId}/${sent.folder}`
    const list = this.open.get(key) ?? []
    list.push(sent)
    this.open.set(key, list)
  }

  onEvent(event: StreamEvent): void {
    const emailId = String(field(event.data, "emailId"))
    if (event.type === "mail.stored") {
      const mailboxId = String(field(event.data, "mailboxId"))
      const folder = this.folderOf.get(mailboxId) ?? this.mailboxPath(mailboxId)
      this.folderOf.set(mailboxId, folder)
      const sent = this.open.get(`${String(field(event.data, "accountId"))}/${folder}`)?.shift()
      if (sent === undefined) {
        this.unmatched++
        return
      }
      sent.storedAt = event.at
      this.byEmail.set(emailId, sent)
      const early = this.early.get(emailId)
      if (early !== undefined) {
        this.early.delete(emailId)
        if (early.analysedAt !== undefined) sent.analysedAt = early.analysedAt
        if (early.ruleAt !== undefined) sent.ruleAt = early.ruleAt
      }
    } else if (event.type === "mail.analysed") {
      const sent = this.byEmail.get(emailId)
      if (sent === undefined) {
        // the stored event may still come (another worker's publish): counted, and kept for it
        const early = this.early.get(emailId) ?? {}
        if (early.analysedAt === undefined) this.analysedBeforeStored++
        else this.analysedTwice++
        early.analysedAt ??= event.at
        this.early.set(emailId, early)
      } else if (sent.analysedAt !== undefined) this.analysedTwice++
      else sent.analysedAt = event.at
    } else if (event.type === "rule.applied") {
      const sent = this.byEmail.get(emailId)
      if (sent !== undefined) sent.ruleAt ??= event.at
      else {
        const early = this.early.get(emailId) ?? {}
        early.ruleAt ??= event.at
        this.early.set(emailId, early)
      }
    }
  }
}

const message = (seq: number, user: string): string =>
  [
    "From: Bench Sender <sender@bench.test>",
    `To: ${user}@bench.test`,
    `Subject: ${RULE_SUBJECT} ${seq}`,
    `Message-ID: <rt-${seq}-${randomUUID()}@bench.test>`,
    `Date: ${new Date().toUTCString()}`,
    "Content-Type: text/plain; charset=utf-8",
    "",
    `Message ${seq} of the real-time benchmark.`,
    ""
  ].join("\r\n")

const imapClient = (port: number, user: string) =>
  new ImapFlow({ host: "127.0.0.1", port, secure: false, auth: { user, pass: IMAP_PASSWORD }, logger: false })

// --- workers ----------------------------------------------------------------------------------------

interface Worker {
  readonly program: Program
  readonly metricsPort: number
}

/** The sum of a metric's series on a worker's /metrics, or undefined when the worker does not answer. */
const metricSum = async (worker: Worker, name: string, labels = ""): Promise<number | undefined> => {
  const reply = await request(`http://127.0.0.1:${worker.metricsPort}`, "GET", "/metrics", { timeoutMillis: 5_000 })
  if (reply.status !== 200) return undefined
  let sum = 0
  for (const line of reply.text.split("\n")) {
    const match = /^([A-Za-z_:][\w:]*?)(\{[^}]*\})? (\S+)$/.exec(line)
    if (match?.[1]?.endsWith(name) && (match[2] ?? "").includes(labels) && match[3] !== undefined)
      sum += Number(match[3])
  }
  return sum
}

const watching = async (worker: Worker) =>
  worker.program.running() ? ((await metricSum(worker, "watch_connections")) ?? 0) : 0

const statistics = (values: ReadonlyArray<number>) => {
  const sorted = [...values].sort((a, b) => a - b)
  return `n=${sorted.length} p50 ${percentile(sorted, 0.5)} ms, p95 ${percentile(sorted, 0.95)} ms, p99 ${percentile(sorted, 0.99)} ms, max ${sorted.at(-1) ?? 0} ms`
}

const seconds = (millis: number) => `${(millis / 1000).toFixed(2)} s`

// --- the run ------------------------------------------------------------------------------------------

const run = async (report: Report, cleanup: Cleanup) => {
  report.figure(
    "arguments",
    `accounts ${accountCount}, rate ${ratePerSecond}/s, duration ${durationSeconds} s, burst ${burstSize}, idle ${idleSeconds} s`
  )
  report.figure("load average at start", load())

  const users = Array.from({ length: accountCount }, (_, i) => ({ user: userName(i), pass: IMAP_PASSWORD }))
  const dovecot = await startDovecot({ users, extraConfig: dovecotLimits(accountCount) })
  cleanup(() => dovecot.stop())
  for (const { user } of users) await dovecot.seedMaildir(user, SUBFOLDER, [])
  log(`Dovecot on ${dovecot.port} with ${accountCount} users`)

  // 0. memory of a watching connection alone, layer by layer (bench/support/watchMemory.ts)
  const probeCount = Math.min(200, accountCount)
  report.figure(
    `memory per watching connection, alone (${probeCount} connections, kB after GC)`,
    probeWatchMemory({
      port: dovecot.port,
      connections: probeCount,
      userPrefix: "rt",
      password: IMAP_PASSWORD,
      timeoutMs: 180_000
    })
  )

  const env = await makeDrillEnv("realtime", cleanup, {
    extraEnv: {
      WATCH_ENABLED: "true",
      WATCH_OWNERSHIP: "leases",
      // every account is on this one host: the per-host cap (default 50 per worker) must not be what limits
      WATCH_MAX_CONNECTIONS_PER_HOST: String(accountCount + 100),
      WATCH_ACCOUNTS_REFRESH_MS: "2000",
      // production's job locks: the drills' 2 s lock (makeDrillEnv) is lost under load, and a
      // thousand catch-up syncs then stall ("could not renew lock") instead of being measured
      JOB_LOCK_MS: "30000",
      JOB_STALLED_INTERVAL_MS: "30000",
      IMAP_VERIFY_MAX_PER_WINDOW: "100000",
      LOG_LEVEL: "Warn"
    }
  })
  const { program: api, base } = await startApi(env.env)
  cleanup(() => api.stop())
  const workers: Array<Worker> = await Promise.all(
    [1, 2].map((i) =>
      startWorker(env.env, { name: `worker-${i}` }).then(({ program, metricsPort }) => ({ program, metricsPort }))
    )
  )
  for (const worker of workers) cleanup(() => worker.program.stop("SIGKILL"))
  // the programs' logs, for a look afterwards; and the reasons watching connections ended
  cleanup(() => {
    fs.mkdirSync(logDirectory, { recursive: true })
    for (const program of [api, ...workers.map((worker) => worker.program)])
      fs.writeFileSync(path.join(logDirectory, `${program.name}.log`), program.output())
    log(`program logs in ${logDirectory}`)
  })
  cleanup(() => {
    const reasons = new Map<string, number>()
    for (const worker of workers)
      for (const line of worker.program.logLines()) {
        // the JSON logger writes `text {annotations...}` into message
        const whole = String(line["message"] ?? "")
        const brace = whole.indexOf(" {")
        const text = brace < 0 ? whole : whole.slice(0, brace)
        const level = String(line["level"] ?? "")
        if (!/reconnecting|lease|dropped|not queued|stopped/i.test(text) && level !== "warning") continue
        let detail = ""
        try {
          const annotations: unknown = JSON.parse(whole.slice(brace + 1))
          detail = [field(annotations, "error"), field(annotations, "reason"), field(annotations, "message")]
            .filter((part) => part !== undefined)
            .map((part) =>
              String(part)
                .replace(/rt\d+|[0-9a-f-]{36}|\d+/g, "#")
                .slice(0, 120)
            )
            .join(" / ")
        } catch {
          detail = ""
        }
        const cause = `${text}${detail === "" ? "" : `: ${detail}`}`
        reasons.set(cause, (reasons.get(cause) ?? 0) + 1)
      }
    report.figure(
      "workers' watch/lease log lines by message",
      [...reasons]
        .sort((a, b) => b[1] - a[1])
        .slice(0, 8)
        .map(([cause, n]) => `${n}× ${cause}`)
        .join("; ") || "none"
    )
  })

  // 1. baseline
  await sleep(5_000)
  const baseline = workers.map((worker) => memoryOf(worker.program.pid).current)
  report.figure("worker RSS before any account (kB)", baseline.join(", "))

  const user = await signUp(base, "realtime")
  const owner = psql(env.databaseUrl, `SELECT id FROM users WHERE email = '${user.email}'`)
  const rule = await request(base, "POST", "/api/v1/rules", {
    json: {
      name: "bench",
      priority: 10,
      conditions: [{ field: "subject", op: "contains", value: RULE_SUBJECT }],
      actions: [{ type: "addTag", tag: "bench" }]
    },
    headers: user.headers
  })
  report.check("rule created", rule.status === 201, `${rule.status} ${rule.status === 201 ? "" : rule.text}`)

  const mailboxPath = (mailboxId: string) =>
    psql(env.databaseUrl, `SELECT path FROM mailboxes WHERE id = '${mailboxId.replace(/[^0-9a-f-]/g, "")}'`)
  const tracker = new Tracker(mailboxPath)
  const events = await openEvents(base, user.headers, (event) => tracker.onEvent(event))
  cleanup(() => events.close())

  // 2. watch every account
  const accountIds = insertAccounts({
    databaseUrl: env.databaseUrl,
    secretKeys: env.env["SECRET_KEYS"] ?? "",
    owner,
    host: dovecot.host,
    port: dovecot.port,
    security: "none",
    userPrefix: "rt",
    password: IMAP_PASSWORD,
    from: 0,
    to: accountCount
  })
  const insertedAt = Date.now()
  const allWatched = await waitUntil(
    async () => {
      const counts = await Promise.all(workers.map(watching))
      return counts.reduce((a, b) => a + b, 0) >= accountCount ? counts : undefined
    },
    120_000,
    500
  )
  const split = await Promise.all(workers.map(watching))
  const sessions = await dovecot.doveadm(["-f", "tab", "who"]).then(
    (out) => out.split("\n").length - 2,
    () => -1
  )
  report.check(
    `all ${accountCount} accounts watched`,
    allWatched !== undefined,
    `after ${seconds(Date.now() - insertedAt)}; per worker ${split.join(" + ")}; Dovecot users with sessions ${sessions}; load ${load()}`
  )
  // not all within the bound: the rest of the run still measures what is watched
  if (allWatched !== undefined)
    report.figure("time to watch all accounts after they appear", seconds(Date.now() - insertedAt))
  const drained = await waitUntil(
    () =>
      psql(env.databaseUrl, "SELECT count(*) FROM jobs WHERE state NOT IN ('succeeded', 'failed', 'cancelled')") === "0"
        ? true
        : undefined,
    90_000,
    1_000
  )
  const syncs = psql(
    env.databaseUrl,
    "SELECT count(*) || ' (' || count(*) FILTER (WHERE state <> 'succeeded') || ' not succeeded)' FROM jobs WHERE kind = 'mail.sync'"
  )
  report.check(
    "catch-up syncs drained",
    drained !== undefined,
    `after ${seconds(Date.now() - insertedAt)}; mail.sync jobs ${syncs}`
  )

  // 3. idle
  // the accounts each worker watches now (leases may have moved some since the watch check)
  const idleSplit = await Promise.all(workers.map(watching))
  const cpuBefore = workers.map((worker) => processCpu(worker.program.pid))
  const idleStart = Date.now()
  await sleep(idleSeconds * 1000)
  const idleMillis = Date.now() - idleStart
  for (const [i, worker] of workers.entries()) {
    const watched = idleSplit[i] ?? 0
    const cpuPercent = ((processCpu(worker.program.pid) - (cpuBefore[i] ?? 0)) / idleMillis) * 100
    const rss = memoryOf(worker.program.pid).current
    const perAccount = watched > 0 ? (rss - (baseline[i] ?? 0)) / watched : 0
    report.figure(
      `worker-${i + 1} idle (${watched} accounts)`,
      `CPU ${cpuPercent.toFixed(2)} % of a core (${((cpuPercent * 1000) / Math.max(1, watched)).toFixed(2)} % per 1,000 accounts); RSS ${rss} kB (+${rss - (baseline[i] ?? 0)} kB over no accounts = ${perAccount.toFixed(0)} kB per account, ${((perAccount * 1000) / 1024).toFixed(0)} MB per 1,000)`
    )
  }
  report.figure("load average after idle window", load())
  // what the idle figures stand on: leases lost (each one rebuilds watchers and queues a catch-up
  // sync) and requests waiting for a database connection
  for (const [i, worker] of workers.entries()) {
    const lost = await metricSum(worker, "watch_lease_events_total", 'event="lost"')
    const waiting = await metricSum(worker, "db_pool_waiting", 'pool="app"')
    const reconnects = await metricSum(worker, "watch_reconnects_total")
    report.figure(
      `worker-${i + 1} health`,
      `leases lost so far ${lost ?? "?"}, watch reconnects ${reconnects ?? "?"}, requests waiting for a database connection ${waiting ?? "?"}`
    )
  }

  // 4. steady APPENDs
  let seq = 0
  const appendOne = async (accountIndex: number, folder: string): Promise<void> => {
    const mine = ++seq
    const client = imapClient(dovecot.port, userName(accountIndex))
    await client.connect()
    try {
      const sentAt = Date.now()
      tracker.record({ seq: mine, accountId: accountIds[accountIndex] ?? "", folder, sentAt })
      const appended = await client.append(folder, message(mine, userName(accountIndex)))
      if (appended === false) throw new Error(`APPEND to ${folder} refused`)
    } finally {
      await client.logout().catch(() => client.close())
    }
  }
  report.figure(
    "jobs not finished when the APPENDs start",
    psql(env.databaseUrl, "SELECT count(*) FROM jobs WHERE state NOT IN ('succeeded', 'failed', 'cancelled')")
  )
  const steadyStart = Date.now()
  const inFlight: Array<Promise<void>> = []
  const total = Math.round(ratePerSecond * durationSeconds)
  for (let i = 0; i < total; i++) {
    const due = steadyStart + (i * 1000) / ratePerSecond
    if (due > Date.now()) await sleep(due - Date.now())
    inFlight.push(
      appendOne(Math.floor(Math.random() * accountCount), Math.random() < 0.5 ? "INBOX" : SUBFOLDER).catch(
        (error: unknown) => {
          log(`APPEND failed: ${String(error)}`)
        }
      )
    )
  }
  await Promise.all(inFlight)
  const steady = [...tracker.sent]
  await waitUntil(() => (steady.every((sent) => sent.ruleAt !== undefined) ? true : undefined), 30_000, 200)
  const lat = (pick: (sent: Sent) => number | undefined) =>
    steady.flatMap((sent) => {
      const at = pick(sent)
      return at === undefined ? [] : [at - sent.sentAt]
    })
  const stored = lat((sent) => sent.storedAt)
  const analysed = lat((sent) => sent.analysedAt)
  const ruled = lat((sent) => sent.ruleAt)
  report.figure("APPEND -> mail.stored", statistics(stored))
  report.figure("APPEND -> mail.analysed", statistics(analysed))
  report.figure("APPEND -> rule.applied", statistics(ruled))
  report.figure("load average after steady phase", load())
  report.check("every APPEND stored", stored.length === steady.length, `${stored.length} of ${steady.length}`)
  report.check(
    "every APPEND analysed and its rule applied",
    ruled.length === steady.length && analysed.length === steady.length,
    `analysed ${analysed.length}, rule applied ${ruled.length} of ${steady.length}`
  )
  report.check(
    "one mail.analysed per message, after its mail.stored",
    tracker.analysedBeforeStored === 0 && tracker.analysedTwice === 0,
    `analysed before stored ${tracker.analysedBeforeStored}, analysed twice ${tracker.analysedTwice}`
  )
  const lagSum = (
    await Promise.all(workers.map((worker) => metricSum(worker, "watch_lag_seconds_sum")))
  ).reduce<number>((a, b) => a + (b ?? 0), 0)
  const lagCount = (
    await Promise.all(workers.map((worker) => metricSum(worker, "watch_lag_seconds_count")))
  ).reduce<number>((a, b) => a + (b ?? 0), 0)
  report.figure(
    "workers' watch_lag_seconds (heard -> synced) mean",
    lagCount > 0 ? `${((lagSum / lagCount) * 1000).toFixed(0)} ms over ${lagCount} syncs` : "none"
  )

  // 5. burst into one folder
  const burstAccount = Math.floor(Math.random() * accountCount)
  const burstClient = imapClient(dovecot.port, userName(burstAccount))
  await burstClient.connect()
  const burstStart = Date.now()
  const burst: Array<Sent> = []
  for (let i = 0; i < burstSize; i++) {
    const mine = ++seq
    const sent: Sent = { seq: mine, accountId: accountIds[burstAccount] ?? "", folder: "INBOX", sentAt: Date.now() }
    burst.push(sent)
    tracker.record(sent)
    await burstClient.append("INBOX", message(mine, userName(burstAccount)))
  }
  const appendedIn = Date.now() - burstStart
  await burstClient.logout().catch(() => burstClient.close())
  await waitUntil(() => (burst.every((sent) => sent.storedAt !== undefined) ? true : undefined), 60_000, 50)
  const burstStored = burst.filter((sent) => sent.storedAt !== undefined)
  const lastStored = Math.max(...burstStored.map((sent) => sent.storedAt ?? 0))
  report.check(
    `burst of ${burstSize} all stored`,
    burstStored.length === burstSize,
    `${burstStored.length} of ${burstSize}`
  )
  report.figure(
    `burst of ${burstSize} into one INBOX`,
    `APPENDed in ${seconds(appendedIn)}; all stored ${seconds(lastStored - burstStart)} after the first APPEND (${seconds(lastStored - burstStart - appendedIn)} after the last); load ${load()}`
  )
  await waitUntil(() => (burst.every((sent) => sent.ruleAt !== undefined) ? true : undefined), 30_000, 200)
  const burstRuled = burst.filter((sent) => sent.ruleAt !== undefined)
  report.figure(
    `burst: all analysed and rules applied`,
    burstRuled.length === burstSize
      ? seconds(Math.max(...burstRuled.map((sent) => sent.ruleAt ?? 0)) - burstStart)
      : `${burstRuled.length} of ${burstSize} within 30 s`
  )
  report.figure("stored events not matched to an APPEND", tracker.unmatched)

  // 6. takeover after SIGKILL
  const [victim, survivor] = workers
  if (victim === undefined || survivor === undefined) return
  const moving = await watching(victim)
  victim.program.child.kill("SIGKILL")
  const killedAt = (await victim.program.exited).at
  const takenOver = await waitUntil(
    async () => ((await watching(survivor)) >= accountCount ? true : undefined),
    60_000,
    250
  )
  report.check(
    "a SIGKILLed worker's accounts are watched again by the other",
    takenOver !== undefined,
    `${moving} accounts moved in ${seconds(Date.now() - killedAt)} (aim: 15 s); load ${load()}`
  )

  const dovecotLog = (() => {
    try {
      return fs.readFileSync(path.join(dovecot.root, "log", "dovecot.log"), "utf8")
    } catch {
      return ""
    }
  })()
  const warnings = dovecotLog.split("\n").filter((line) => /warning|error|fatal/i.test(line))
  report.figure(
    "Dovecot warnings/errors (inotify ones)",
    `${warnings.length} (${warnings.filter((line) => line.includes("inotify")).length})`
  )
  for (const line of warnings.slice(0, 5)) log(`dovecot: ${line}`)
  report.figure("load average at end", load())
}

await runDrill("realtime", 720, run)
