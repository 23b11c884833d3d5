/**
 * Shared by the drills (scripts/drills/*.ts, `npm run drill:<name>`): a throw-away database and
 * Redis prefix, the real programs as child processes, a small HTTP client, latency statistics
 * and the report every drill prints. Everything listens on loopback only.
 */
import { PgClient } from "@effect/sql-pg"
import { Effect, Layer, Redacted } from "effect"
import { spawnSync } from "node:child_process"
import { randomBytes } from "node:crypto"
import { readdirSync, readFileSync } from "node:fs"
import { Redis as IORedis } from "ioredis"
import { migrate } from "../../src/platform/Database.ts"
import { type DovecotServer, startDovecot } from "../../test/harness/dovecot.ts"
import { generateMessages } from "../../test/harness/mailgen.ts"
import { type Program, startApi, startWorker } from "../../test/ops/programs.ts"

export { freePort, type Program, startApi, startProgram, startWorker } from "../../test/ops/programs.ts"

const postgresBase = process.env["DRILL_POSTGRES_URL"] ?? "postgres://root@127.0.0.1:5432"
const defaultRedisUrl = process.env["DRILL_REDIS_URL"] ?? "redis://127.0.0.1:6379/0"

export const sleep = (millis: number) => new Promise<void>((resolve) => setTimeout(resolve, millis))

// ---------------------------------------------------------------------------------------------
// report

export interface Check {
  readonly name: string
  readonly ok: boolean
  readonly detail: string
}

/** What a drill checked and measured; printed at the end, exit code 1 when a check failed. */
export class Report {
  readonly checks: Array<Check> = []
  readonly figures: Array<readonly [string, string]> = []
  readonly started = Date.now()
  readonly drill: string
  constructor(drill: string) {
    this.drill = drill
  }

  check(name: string, ok: boolean, detail = ""): boolean {
    this.checks.push({ name, ok, detail })
    log(`${ok ? "PASS" : "FAIL"} ${name}${detail === "" ? "" : ` (${detail})`}`)
    return ok
  }

  figure(name: string, value: string | number): void {
    this.figures.push([name, typeof value === "number" ? formatNumber(value) : value])
  }

  get failed(): number {
    return this.checks.filter((check) => !check.ok).length
  }

  print(): void {
    const lines = [
      "",
      `==== drill ${this.drill}: ${this.failed === 0 ? "PASSED" : `FAILED (${this.failed} of ${this.checks.length} checks)`} in ${((Date.now() - this.started) / 1000).toFixed(1)} s ====`,
      "checks:",
      ...this.checks.map(
        (check) => `  [${check.ok ? "ok" : "FAIL"}] ${check.name}${check.detail === "" ? "" : `: ${check.detail}`}`
      ),
      "figures:",
      ...this.figures.map(([name, value]) => `  ${name}: ${value}`),
      ""
    ]
    process.stdout.write(`${lines.join("\n")}\n`)
  }
}

const formatNumber = (value: number): string =>
  Number.isInteger(value)
    ? String(value)
    : value >= 100
      ? value.toFixed(0)
      : value >= 1
        ? value.toFixed(2)
        : value.toFixed(4)

export const log = (message: string) => process.stderr.write(`[${new Date().toISOString().slice(11, 23)}] ${message}\n`)

/**
 * Runs a drill: `body` gets the report and a registry of clean-ups (run in reverse, also on
 * failure and on the deadline). Exits 0 when every check passed, 1 otherwise, 2 on a crash
 * or when the drill overran `deadlineSeconds`.
 */
export const runDrill = async (
  name: string,
  deadlineSeconds: number,
  body: (report: Report, cleanup: Cleanup) => Promise<void>
): Promise<never> => {
  const report = new Report(name)
  const tasks: Array<() => Promise<unknown> | unknown> = []
  const runCleanups = async () => {
    for (const task of tasks.reverse()) {
      try {
        await task()
      } catch (error) {
        log(`clean-up failed: ${String(error)}`)
      }
    }
    tasks.length = 0
  }
  let code = 0
  const deadline = setTimeout(() => {
    report.check(`finished within its time bound of ${deadlineSeconds} s`, false)
    void runCleanups().finally(() => {
      report.print()
      process.exit(2)
    })
  }, deadlineSeconds * 1000)
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => {
      log(`${signal}: cleaning up`)
      void runCleanups().finally(() => process.exit(130))
    })
  }
  try {
    await body(report, (task) => tasks.push(task))
  } catch (error) {
    report.check("ran to the end", false, error instanceof Error ? (error.stack ?? error.message) : String(error))
    code = 2
  }
  clearTimeout(deadline)
  await runCleanups()
  report.print()
  process.exit(code !== 0 ? code : report.failed === 0 ? 0 : 1)
}

// ---------------------------------------------------------------------------------------------
// environment

export interface DrillEnv {
  readonly databaseName: string
  readonly databaseUrl: string
  readonly redisUrl: string
  readonly redisPrefix: string
  /** Environment for the api and worker programs. */
  readonly env: Record<string, string>
}

/** Runs one statement through psql as the server's superuser (outside any pool); returns its output. */
export const psql = (databaseUrl: string, statement: string): string => {
  const result = spawnSync("psql", [databaseUrl, "-v", "ON_ERROR_STOP=1", "-qAtc", statement], { encoding: "utf8" })
  if (result.status !== 0) throw new Error(`psql failed: ${result.stderr}`)
  return result.stdout.trim()
}

export const migrateDatabase = (databaseUrl: string) =>
  Effect.runPromise(
    migrate.pipe(
      Effect.provide(PgClient.layer({ url: Redacted.make(databaseUrl), maxConnections: 1 })),
      Effect.provide(Layer.empty)
    )
  )

export interface DrillEnvOptions {
  readonly postgresBase?: string
  readonly redisUrl?: string
  readonly extraEnv?: Record<string, string>
}

/**
 * A fresh, migrated database and a Redis prefix of its own. The programs get settings that make
 * faults visible within seconds (a 2 s job lock, a 1 s stalled check), cheap password hashing
 * and open registration; production keeps the documented defaults.
 */
export const makeDrillEnv = async (
  name: string,
  cleanup: Cleanup,
  options: DrillEnvOptions = {}
): Promise<DrillEnv> => {
  const base = options.postgresBase ?? postgresBase
  const suffix = `${process.pid}_${randomBytes(3).toString("hex")}`
  const databaseName = `mh_drill_${name.replace(/[^a-z0-9]/g, "_")}_${suffix}`
  psql(`${base}/postgres`, `CREATE DATABASE ${databaseName}`)
  cleanup(() => psql(`${base}/postgres`, `DROP DATABASE IF EXISTS ${databaseName} WITH (FORCE)`))
  const databaseUrl = `${base}/${databaseName}`
  await migrateDatabase(databaseUrl)
  const redisUrl = options.redisUrl ?? defaultRedisUrl
  const redisPrefix = `mhd_${suffix}`
  cleanup(() => deleteRedisKeys(redisUrl, redisPrefix))
  return {
    databaseName,
    databaseUrl,
    redisUrl,
    redisPrefix,
    env: {
      NODE_ENV: "test",
      DATABASE_URL: databaseUrl,
      REDIS_URL: redisUrl,
      REDIS_PREFIX: redisPrefix,
      SECRET_KEYS: `1:${randomBytes(32).toString("base64")}`,
      LOG_FORMAT: "json",
      LOG_LEVEL: "Info",
      JOB_LOCK_MS: "2000",
      JOB_STALLED_INTERVAL_MS: "1000",
      SHUTDOWN_GRACE_SECONDS: "10",
      ENABLE_DEBUG_JOBS: "true",
      REGISTRATION_MODE: "open",
      ARGON2_MEMORY_KIB: "8192",
      ARGON2_TIME_COST: "1",
      LOGIN_MAX_PER_ADDRESS: "100000",
      // the drills measure recovery and load with a handful of users that submit far more than a
      // person would; the per-user submit limit has its own tests (test/jobs/submitLimit.test.ts)
      JOB_SUBMIT_RATE_PER_MINUTE: "0",
      AI_PROVIDER: "offline",
      ...options.extraEnv
    }
  }
}

export const deleteRedisKeys = async (redisUrl: string, prefix: string) => {
  const redis = new IORedis(redisUrl, { maxRetriesPerRequest: 1, lazyConnect: true, connectTimeout: 2_000 })
  redis.on("error", () => {})
  try {
    await redis.connect()
    let cursor = "0"
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 1000)
      cursor = next
      if (keys.length > 0) await redis.unlink(...keys)
    } while (cursor !== "0")
  } catch (error) {
    log(`redis clean-up of ${prefix}: ${String(error)}`)
  } finally {
    redis.disconnect()
  }
}

// ---------------------------------------------------------------------------------------------
// programs

export type Cleanup = (task: () => Promise<unknown> | unknown) => void

/** The API and `workers` worker programs (named worker-1, worker-2, ...), stopped on clean-up. */
export const startApiAndWorkers = async (env: DrillEnv, cleanup: Cleanup, workers = 2) => {
  const { program: api, base } = await startApi(env.env)
  cleanup(() => api.stop())
  const started = await Promise.all(
    Array.from({ length: workers }, (_, i) => startWorker(env.env, { name: `worker-${i + 1}` }))
  )
  for (const { program } of started) cleanup(() => program.stop())
  return { api, base, workers: started }
}

/** Checks that the API and every worker are still running. */
export const checkSurvived = (
  report: Report,
  api: Program,
  workers: ReadonlyArray<{ readonly program: Program }>
): boolean =>
  report.check(
    "api and workers survived",
    api.running() && workers.every(({ program }) => program.running()),
    workers.map(({ program }) => `${program.name} ${program.running() ? "up" : "exited"}`).join(", ")
  )

// ---------------------------------------------------------------------------------------------
// IMAP

/** The IMAP login of the drills' mailbox. */
export const imapUser = { user: "drill", pass: "drill-imap-password" } as const

/** A throw-away Dovecot (stopped on clean-up) whose user `drill` holds `messages` generated messages in INBOX. */
export const seededDovecot = async (
  cleanup: Cleanup,
  messages: number,
  generate: { readonly seed: number; readonly domain: string }
): Promise<DovecotServer> => {
  const dovecot = await startDovecot({ users: [imapUser] })
  cleanup(() => dovecot.stop())
  log(`seeding ${messages} messages into Dovecot on ${dovecot.host}:${dovecot.port}`)
  await dovecot.seedMaildir(
    imapUser.user,
    "INBOX",
    generateMessages(messages, generate).map((message) => ({ raw: message.raw }))
  )
  return dovecot
}

/** Adds the Dovecot mailbox as an account of `user` (no periodic sync); returns the account id. */
export const addDrillAccount = async (base: string, user: DrillUser, dovecot: DovecotServer): Promise<string> => {
  const account = await request(base, "POST", "/api/v1/accounts", {
    json: {
      label: "drill",
      host: dovecot.host,
      port: dovecot.port,
      security: "none",
      username: imapUser.user,
      password: imapUser.pass,
      syncIntervalMinutes: null
    },
    headers: user.headers
  })
  if (account.status !== 201) throw new Error(`account: ${account.status} ${account.text}`)
  return String(field(account.body, "id"))
}

/**
 * Checks that the drill database holds every message of the server's INBOX exactly once (one row
 * per mailbox, UID validity and UID). Returns the number of messages on the server.
 */
export const checkStoredOnce = async (
  report: Report,
  name: string,
  dovecot: DovecotServer,
  databaseUrl: string
): Promise<number> => {
  const onServer = (await dovecot.mailboxStatus(imapUser.user, "INBOX")).messages
  const stored = psql(
    databaseUrl,
    "SELECT count(*) || '|' || count(DISTINCT (e.mailbox_id, e.uid_validity, e.uid)) FROM emails e JOIN mailboxes m ON m.id = e.mailbox_id WHERE m.path = 'INBOX'"
  ).split("|")
  report.check(
    name,
    Number(stored[0]) === onServer && Number(stored[1]) === onServer,
    `server ${onServer}, stored ${stored[0]}, distinct UIDs ${stored[1]}`
  )
  return onServer
}

// ---------------------------------------------------------------------------------------------
// HTTP

export interface Reply {
  readonly status: number
  readonly body: unknown
  readonly text: string
  readonly millis: number
  readonly headers: Headers
}

/** One request; a network error or timeout is status 0. */
export const request = async (
  base: string,
  method: string,
  path: string,
  options: { json?: unknown; headers?: Record<string, string>; timeoutMillis?: number } = {}
): Promise<Reply> => {
  const headers: Record<string, string> = { ...options.headers }
  let body: string | undefined
  if (options.json !== undefined) {
    headers["content-type"] = "application/json"
    body = JSON.stringify(options.json)
  }
  const started = performance.now()
  try {
    const response = await fetch(`${base}${path}`, {
      method,
      headers,
      signal: AbortSignal.timeout(options.timeoutMillis ?? 15_000),
      ...(body === undefined ? {} : { body })
    })
    const text = await response.text()
    let parsed: unknown
    try {
      parsed = JSON.parse(text)
    } catch {
      parsed = undefined
    }
    return {
      status: response.status,
      body: parsed,
      text,
      millis: performance.now() - started,
      headers: response.headers
    }
  } catch (error) {
    return {
      status: 0,
      body: undefined,
      text: String(error),
      millis: performance.now() - started,
      headers: new Headers()
    }
  }
}

/** Reads a nested field of a JSON body; undefined when any step is missing. */
export const field = (value: unknown, ...path: ReadonlyArray<string | number>): unknown => {
  let current: unknown = value
  for (const key of path) {
    if (typeof current !== "object" || current === null) return undefined
    const descriptor = Object.getOwnPropertyDescriptor(current, String(key))
    current = descriptor?.value
  }
  return current
}

export const items = (body: unknown): ReadonlyArray<unknown> => {
  const list = field(body, "items")
  return Array.isArray(list) ? list : []
}

export interface DrillUser {
  readonly email: string
  readonly token: string
  readonly headers: Record<string, string>
}

/** Registers a user and signs them in: their session cookie (`name=value`). */
export const registerAndSignIn = async (base: string, email: string, password: string): Promise<string> => {
  const registered = await request(base, "POST", "/api/v1/auth/register", { json: { email, password } })
  if (registered.status !== 201) throw new Error(`register ${email}: ${registered.status} ${registered.text}`)
  const signedIn = await request(base, "POST", "/api/v1/auth/login", { json: { email, password } })
  if (signedIn.status !== 200) throw new Error(`login ${email}: ${signedIn.status} ${signedIn.text}`)
  return (signedIn.headers.getSetCookie()[0] ?? "").split(";")[0] ?? ""
}

/** Registers, signs in and makes a bearer token. */
export const signUp = async (base: string, name: string): Promise<DrillUser> => {
  const email = `${name}.${randomBytes(4).toString("hex")}@drill.example`
  const password = `drill ${randomBytes(12).toString("base64url")}`
  const cookie = await registerAndSignIn(base, email, password)
  const origin = new URL(base).origin
  const created = await request(base, "POST", "/api/v1/auth/tokens", {
    json: { name: "drill" },
    headers: { cookie, origin }
  })
  if (created.status !== 201) throw new Error(`token ${email}: ${created.status} ${created.text}`)
  const token = String(field(created.body, "token"))
  return { email, token, headers: { authorization: `Bearer ${token}` } }
}

/** Polls until `done` returns a value or the time is up (then undefined). */
export const waitUntil = async <A>(
  done: () => Promise<A | undefined> | A | undefined,
  timeoutMillis: number,
  intervalMillis = 100
): Promise<A | undefined> => {
  const until = Date.now() + timeoutMillis
  while (Date.now() < until) {
    const value = await done()
    if (value !== undefined) return value
    await sleep(intervalMillis)
  }
  return undefined
}

/** Job states straight from the database (owner connection; RLS does not apply to the superuser). */
export const jobStates = (databaseUrl: string, ids: ReadonlyArray<string>): Map<string, string> => {
  const states = new Map<string, string>()
  for (let i = 0; i < ids.length; i += 500) {
    const chunk = ids.slice(i, i + 500)
    if (chunk.length === 0) continue
    const rows = psql(
      databaseUrl,
      `SELECT id || ' ' || state FROM jobs WHERE id IN (${chunk.map((id) => `'${id.replace(/[^0-9a-f-]/g, "")}'`).join(",")})`
    )
    for (const row of rows.split("\n")) {
      const [id, state] = row.split(" ")
      if (id !== undefined && state !== undefined && id !== "") states.set(id, state)
    }
  }
  return states
}

export const terminalStates: ReadonlySet<string> = new Set(["succeeded", "failed", "cancelled"])

/**
 * Waits until every job of `ids` has a record in a terminal state. `settled` is undefined when the
 * time ran out; `states` are the states then (as far as recorded).
 */
export const settleJobs = async (
  databaseUrl: string,
  ids: ReadonlyArray<string>,
  timeoutMillis: number,
  intervalMillis: number
) => {
  // a de-duplicated kind (a sync per account, analysis per user) answers repeated requests with the same job
  const unique = [...new Set(ids)]
  const settled = await waitUntil(
    () => {
      const states = jobStates(databaseUrl, unique)
      return states.size === unique.length && [...states.values()].every((state) => terminalStates.has(state))
        ? states
        : undefined
    },
    timeoutMillis,
    intervalMillis
  )
  return { settled, states: settled ?? jobStates(databaseUrl, unique) }
}

// ---------------------------------------------------------------------------------------------
// load during a fault

/** One request of a fault drill's load: when it was sent and answered, its status, job id and error tag. */
export interface Attempt {
  readonly start: number
  readonly end: number
  readonly status: number
  readonly jobId: string | undefined
  readonly tag: string | undefined
}

/** One readiness probe: when, its status, and what the body said of the dependency under test. */
export interface Probe {
  readonly at: number
  readonly status: number
  readonly dependency: unknown
}

export interface FaultLoadOptions {
  readonly base: string
  readonly user: DrillUser
  /** Concurrent enqueuers (POST /api/v1/debug/ping); two readers and one readiness prober run beside them. */
  readonly clients: number
  readonly ping: { readonly sleepMillis: number; readonly steps: number }
  /** The readiness check to record (`checks.<name>` of /health/ready). */
  readonly dependency: string
  readonly timeoutMillis: number
  readonly readyTimeoutMillis: number
  /** Pauses (ms) of an enqueuer after an accepted and a refused enqueue, and of a reader after a read. */
  readonly pauses: { readonly accepted: number; readonly refused: number; readonly read: number }
}

/**
 * Steady load while a dependency fails: enqueuers, readers and a readiness prober record every
 * answer until `stop` (which waits for the requests in flight).
 */
export const startFaultLoad = (options: FaultLoadOptions) => {
  const { base, user } = options
  const enqueues: Array<Attempt> = []
  const reads: Array<Attempt> = []
  const readiness: Array<Probe> = []
  let running = true
  const enqueuer = async () => {
    while (running) {
      const start = Date.now()
      const reply = await request(base, "POST", "/api/v1/debug/ping", {
        json: options.ping,
        headers: user.headers,
        timeoutMillis: options.timeoutMillis
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
      await sleep(reply.status === 202 ? options.pauses.accepted : options.pauses.refused)
    }
  }
  const reader = async () => {
    while (running) {
      const start = Date.now()
      const reply = await request(base, "GET", "/api/v1/jobs?limit=5", {
        headers: user.headers,
        timeoutMillis: options.timeoutMillis
      })
      reads.push({ start, end: Date.now(), status: reply.status, jobId: undefined, tag: undefined })
      await sleep(options.pauses.read)
    }
  }
  const prober = async () => {
    while (running) {
      const reply = await request(base, "GET", "/health/ready", { timeoutMillis: options.readyTimeoutMillis })
      readiness.push({
        at: Date.now(),
        status: reply.status,
        dependency: field(reply.body, "checks", options.dependency)
      })
      await sleep(200)
    }
  }
  const load = Promise.all([...Array.from({ length: options.clients }, enqueuer), reader(), reader(), prober()])
  return {
    enqueues,
    reads,
    readiness,
    stop: async () => {
      running = false
      await load
    }
  }
}

// ---------------------------------------------------------------------------------------------
// statistics

/** Latencies per request kind, with percentiles. */
export class Latencies {
  private readonly byKind = new Map<string, { millis: Array<number>; errors: number; statuses: Map<number, number> }>()

  record(kind: string, millis: number, status: number, ok: boolean): void {
    let entry = this.byKind.get(kind)
    if (entry === undefined) {
      entry = { millis: [], errors: 0, statuses: new Map() }
      this.byKind.set(kind, entry)
    }
    entry.millis.push(millis)
    if (!ok) entry.errors++
    entry.statuses.set(status, (entry.statuses.get(status) ?? 0) + 1)
  }

  kinds(): ReadonlyArray<string> {
    return [...this.byKind.keys()].sort()
  }

  summary(kind: string) {
    const entry = this.byKind.get(kind)
    const sorted = [...(entry?.millis ?? [])].sort((a, b) => a - b)
    return {
      count: sorted.length,
      errors: entry?.errors ?? 0,
      p50: percentile(sorted, 0.5),
      p95: percentile(sorted, 0.95),
      p99: percentile(sorted, 0.99),
      max: sorted[sorted.length - 1] ?? 0,
      statuses: [...(entry?.statuses ?? new Map<number, number>())].sort(([a], [b]) => a - b)
    }
  }

  total() {
    let count = 0
    let errors = 0
    for (const kind of this.kinds()) {
      const summary = this.summary(kind)
      count += summary.count
      errors += summary.errors
    }
    return { count, errors }
  }
}

export const percentile = (sorted: ReadonlyArray<number>, q: number): number => {
  if (sorted.length === 0) return 0
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))
  return sorted[index] ?? 0
}

export const envNumber = (name: string, fallback: number): number => {
  const value = Number(process.env[name])
  return Number.isFinite(value) && value > 0 ? value : fallback
}

export const countBy = <A>(values: ReadonlyArray<A>): Map<A, number> => {
  const counts = new Map<A, number>()
  for (const value of values) counts.set(value, (counts.get(value) ?? 0) + 1)
  return counts
}

/** `202×10, 503×3` */
export const formatCounts = <A>(counts: Map<A, number>): string =>
  [...counts].map(([key, count]) => `${String(key)}×${count}`).join(", ") || "none"

/** CPU seconds (user + system) a process has used so far, from /proc (Linux); undefined elsewhere. */
export const cpuSeconds = (pid: number): number | undefined => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
    const ticks = Number(fields[11]) + Number(fields[12])
    return ticks / 100
  } catch {
    return undefined
  }
}

/** Busy and total CPU time of the whole machine, from /proc/stat (Linux). */
export const machineCpu = (): { busy: number; total: number } | undefined => {
  try {
    const line = readFileSync("/proc/stat", "utf8").split("\n")[0] ?? ""
    const values = line.trim().split(/\s+/).slice(1).map(Number)
    const total = values.reduce((sum, value) => sum + value, 0)
    const idle = (values[3] ?? 0) + (values[4] ?? 0)
    return { busy: total - idle, total }
  } catch {
    return undefined
  }
}

/** CPU seconds used so far by all processes of each command name (postgres, redis-server, imap, ...), from /proc. */
export const cpuByCommand = (exclude: ReadonlySet<number> = new Set()): Map<string, number> => {
  const totals = new Map<string, number>()
  let entries: Array<string> = []
  try {
    entries = readdirSync("/proc").filter((entry) => /^\d+$/.test(entry))
  } catch {
    return totals
  }
  for (const entry of entries) {
    if (exclude.has(Number(entry))) continue
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8")
      const raw = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"))
      // Node 24 names its main thread, and so its process, "MainThread"
      const command = raw === "MainThread" || raw.startsWith("node") || raw.startsWith("npm ") ? "node/npm" : raw
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
      const seconds = (Number(fields[11]) + Number(fields[12])) / 100
      totals.set(command, (totals.get(command) ?? 0) + seconds)
    } catch {
      // the process has ended
    }
  }
  return totals
}
