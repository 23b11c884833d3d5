/**
 * Memory per watched account of a real worker (issue 14's aim: under 150 KB per watched account):
 * `npm run bench:realtime-memory -- [--accounts=0,250,500,1000] [--messages=0] [--compress]
 * [--snapshots] [--settle=10]`. About 2-4 minutes at the defaults on a quiet machine.
 *
 * One worker process started as production starts it (package.json "worker": MALLOC_ARENA_MAX=2,
 * MALLOC_TRIM_THRESHOLD_=131072, --max-semi-space-size=4 --max-old-space-size=384), WATCH_ENABLED
 * with the Redis leases, plus `--inspect=127.0.0.1:0` so that the bench can force a full GC and read
 * `process.memoryUsage()` inside it (the inspector costs a constant, not per account). A throw-away
 * Dovecot with max(accounts) users (INBOX with `messages` messages, and an empty `Bench` folder), a
 * throw-away database and Redis prefix; the owner is inserted straight into the database (no API).
 *
 * The accounts appear in steps (e.g. 0, then 250, 500, 1000 in all): at each step the bench waits
 * until the worker watches them all (its watch_connections gauge) and their catch-up syncs are done,
 * lets it settle, forces a GC (twice) and samples RSS, heap used, external, arrayBuffers,
 * /proc/PID/smaps_rollup (anonymous vs file) and where the RSS is (V8 pages, malloc, files, other).
 * The figure is the least-squares slope of each over the steps, in kB per watched account.
 *
 * - `--messages=0` (default): the catch-up syncs are trivial (empty mailboxes), so the slope is what
 *   a watched account holds. `--messages=K`: each INBOX has K messages, so the catch-up syncs fetch
 *   and parse (the allocator's leftovers and the parser thread then show in the slope).
 * - `--compress`: Dovecot offers COMPRESS=DEFLATE (imap_zlib), as many providers do (Gmail, most
 *   Dovecots); the test harness's Dovecot does not by default.
 * - `--tls`: the accounts use implicit TLS (as nearly every real account does); the worker trusts the
 *   throw-away certificate through NODE_EXTRA_CA_CERTS (the default trust path, no IMAP_TLS_CA_FILE).
 * - `--snapshots`: a heap snapshot at the first and the last step with accounts; prints the
 *   constructors whose objects grew the most per account between the two (count and self size).
 *
 * Env: DRILL_POSTGRES_URL, DRILL_REDIS_URL (defaults: localhost).
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { startDovecot } from "../test/harness/dovecot.ts"
import {
  type Cleanup,
  field,
  log,
  makeDrillEnv,
  psql,
  type Report,
  request,
  runDrill,
  sleep,
  startWorker,
  waitUntil
} from "../scripts/drills/support.ts"
import { insertAccounts } from "./support/accounts.ts"
import { memoryBreakdown, memoryOf } from "./support/cpu.ts"
import { dovecotLimits } from "./support/dovecotLimits.ts"

// --- arguments ------------------------------------------------------------------------------------

const option = (name: string): string | undefined =>
  process.argv.find((arg) => arg.startsWith(`--${name}=`))?.slice(name.length + 3)

const steps = (option("accounts") ?? "0,250,500,1000").split(",").map((text) => {
  const value = Number(text)
  if (!Number.isInteger(value) || value < 0) throw new Error(`--accounts must list counts, got ${text}`)
  return value
})
for (let i = 1; i < steps.length; i++)
  if ((steps[i] ?? 0) <= (steps[i - 1] ?? 0)) throw new Error("--accounts must grow step by step")
const maxAccounts = steps.at(-1) ?? 0
const messageCount = Number(option("messages") ?? "0")
const settleSeconds = Number(option("settle") ?? "10")
const compress = process.argv.includes("--compress")
const tls = process.argv.includes("--tls")
const snapshots = process.argv.includes("--snapshots")
const IMAP_PASSWORD = "bench-imap-password"
const snapshotDirectory = path.resolve(".tmp", "bench-realtime-memory")

const load = () =>
  os
    .loadavg()
    .map((value) => value.toFixed(2))
    .join(" ")

const userName = (index: number) => `rm${index}`

// --- accounts --------------------------------------------------------------------------------------

const seedMessage = (user: string, i: number) => ({
  raw: [
    "From: Bench Sender <sender@bench.test>",
    `To: ${user}@bench.test`,
    `Subject: memory bench ${i}`,
    `Message-ID: <rm-${user}-${i}@bench.test>`,
    `Date: ${new Date(Date.now() - i * 60_000).toUTCString()}`,
    "Content-Type: text/plain; charset=utf-8",
    "",
    `Message ${i} of the real-time memory benchmark. ${"Some words to parse and index. ".repeat(20)}`,
    ""
  ].join("\r\n")
})

// --- the worker's inspector --------------------------------------------------------------------------

interface Inspector {
  readonly send: (method: string, params?: Record<string, unknown>) => Promise<unknown>
  readonly evaluate: (expression: string) => Promise<unknown>
  readonly close: () => void
}

/** A Chrome DevTools Protocol session with the worker (its `--inspect` URL from its output). */
const connectInspector = async (url: string): Promise<Inspector> => {
  const socket = new WebSocket(url)
  await new Promise<void>((resolve, reject) => {
    socket.addEventListener("open", () => resolve(), { once: true })
    socket.addEventListener("error", () => reject(new Error(`inspector ${url} refused`)), { once: true })
  })
  let next = 0
  const pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>()
  socket.addEventListener("message", (event) => {
    const message: unknown = JSON.parse(String(event.data))
    const id = field(message, "id")
    if (typeof id !== "number") return
    const waiter = pending.get(id)
    pending.delete(id)
    const error = field(message, "error")
    if (error !== undefined) waiter?.reject(new Error(JSON.stringify(error)))
    else waiter?.resolve(field(message, "result"))
  })
  const send = (method: string, params: Record<string, unknown> = {}) =>
    new Promise<unknown>((resolve, reject) => {
      const id = ++next
      pending.set(id, { resolve, reject })
      socket.send(JSON.stringify({ id, method, params }))
    })
  return {
    send,
    evaluate: async (expression) => {
      const result = await send("Runtime.evaluate", { expression, returnByValue: true })
      if (field(result, "exceptionDetails") !== undefined)
        throw new Error(`evaluate failed: ${JSON.stringify(field(result, "exceptionDetails"))}`)
      return field(result, "result", "value")
    },
    close: () => socket.close()
  }
}

// --- samples -----------------------------------------------------------------------------------------

interface Sample {
  readonly accounts: number
  /** kB */
  readonly values: Record<string, number>
}

const smapsRollup = (pid: number): Record<string, number> => {
  const text = fs.readFileSync(`/proc/${pid}/smaps_rollup`, "utf8")
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(text)?.[1] ?? 0)
  return { anonymous: kb("Anonymous"), file: kb("Rss") - kb("Anonymous") }
}

const sampleWorker = async (inspector: Inspector, pid: number, accounts: number): Promise<Sample> => {
  for (let i = 0; i < 2; i++) {
    await inspector.send("HeapProfiler.collectGarbage")
    await sleep(500)
  }
  await sleep(1_000)
  const usage = JSON.parse(String(await inspector.evaluate("JSON.stringify(process.memoryUsage())")))
  const number = (key: string) => Math.round(Number(field(usage, key)) / 1024)
  const where = memoryBreakdown(pid)
  return {
    accounts,
    values: {
      rss: memoryOf(pid).current,
      ...smapsRollup(pid),
      heapUsed: number("heapUsed"),
      heapTotal: number("heapTotal"),
      external: number("external"),
      arrayBuffers: number("arrayBuffers"),
      v8Pages: where.v8Pages * 1024,
      malloc: where.malloc * 1024,
      otherAnon: where.other * 1024
    }
  }
}

/** Least-squares slope of `value` over `accounts` (kB per account). */
const slope = (samples: ReadonlyArray<Sample>, key: string): number => {
  const xs = samples.map((sample) => sample.accounts)
  const ys = samples.map((sample) => sample.values[key] ?? 0)
  const mx = xs.reduce((a, b) => a + b, 0) / xs.length
  const my = ys.reduce((a, b) => a + b, 0) / ys.length
  let num = 0
  let den = 0
  for (const [i, x] of xs.entries()) {
    num += (x - mx) * ((ys[i] ?? 0) - my)
    den += (x - mx) ** 2
  }
  return den === 0 ? 0 : num / den
}

// --- heap snapshots -----------------------------------------------------------------------------------

/** Objects of a heap snapshot by constructor (other node types by type): count and self size (bytes). */
const snapshotByConstructor = (file: string): Map<string, { count: number; size: number }> => {
  const snapshot: unknown = JSON.parse(fs.readFileSync(file, "utf8"))
  const fields = field(snapshot, "snapshot", "meta", "node_fields")
  const types = field(snapshot, "snapshot", "meta", "node_types", 0)
  const nodes = field(snapshot, "nodes")
  const strings = field(snapshot, "strings")
  if (!Array.isArray(fields) || !Array.isArray(types) || !Array.isArray(nodes) || !Array.isArray(strings))
    throw new Error(`${file} is not a heap snapshot`)
  const width = fields.length
  const typeAt = fields.indexOf("type")
  const nameAt = fields.indexOf("name")
  const sizeAt = fields.indexOf("self_size")
  const out = new Map<string, { count: number; size: number }>()
  for (let i = 0; i < nodes.length; i += width) {
    const type = String(types[Number(nodes[i + typeAt])])
    const name = String(strings[Number(nodes[i + nameAt])])
    const key = type === "object" || type === "native" ? name : type === "hidden" ? `(hidden) ${name}` : `(${type})`
    const entry = out.get(key) ?? { count: 0, size: 0 }
    entry.count++
    entry.size += Number(nodes[i + sizeAt])
    out.set(key, entry)
  }
  return out
}

const writeSnapshot = async (inspector: Inspector, accounts: number): Promise<string> => {
  fs.mkdirSync(snapshotDirectory, { recursive: true })
  const file = path.join(snapshotDirectory, `worker-${accounts}.heapsnapshot`)
  await inspector.evaluate(`process.getBuiltinModule("node:v8").writeHeapSnapshot(${JSON.stringify(file)})`)
  return file
}

// --- the run ------------------------------------------------------------------------------------------

/** The sum of a metric's series on the worker's /metrics (0 when it does not answer). */
const metricSum = async (metricsPort: number, name: string): Promise<number> => {
  const reply = await request(`http://127.0.0.1:${metricsPort}`, "GET", "/metrics", { timeoutMillis: 5_000 })
  if (reply.status !== 200) return 0
  let sum = 0
  for (const line of reply.text.split("\n")) {
    const match = /^([A-Za-z_:][\w:]*?)(\{[^}]*\})? (\S+)$/.exec(line)
    if (match?.[1]?.endsWith(name) && match[3] !== undefined) sum += Number(match[3])
  }
  return sum
}

const run = async (report: Report, cleanup: Cleanup) => {
  report.figure(
    "arguments",
    `accounts ${steps.join(", ")}; messages per INBOX ${messageCount}; COMPRESS offered ${compress}; TLS ${tls}; settle ${settleSeconds} s`
  )
  report.figure("load average at start", load())

  const users = Array.from({ length: maxAccounts }, (_, i) => ({ user: userName(i), pass: IMAP_PASSWORD }))
  const zlib = compress ? "\nprotocol imap {\n  mail_plugins = $mail_plugins imap_zlib\n}\n" : ""
  const dovecot = await startDovecot({ users, extraConfig: dovecotLimits(maxAccounts) + zlib, tls })
  cleanup(() => dovecot.stop())
  const tlsPort = "tlsPort" in dovecot && typeof dovecot.tlsPort === "number" ? dovecot.tlsPort : undefined
  for (const { user } of users) {
    await dovecot.seedMaildir(user, "Bench", [])
    await dovecot.seedMaildir(
      user,
      "INBOX",
      Array.from({ length: messageCount }, (_, i) => seedMessage(user, i))
    )
  }
  log(`Dovecot on ${dovecot.port} with ${maxAccounts} users`)

  const env = await makeDrillEnv("rtmemory", cleanup, {
    extraEnv: {
      WATCH_ENABLED: "true",
      WATCH_OWNERSHIP: "leases",
      WATCH_MAX_CONNECTIONS_PER_HOST: String(maxAccounts + 100),
      WATCH_ACCOUNTS_REFRESH_MS: "2000",
      JOB_LOCK_MS: "30000",
      JOB_STALLED_INTERVAL_MS: "30000",
      IMAP_VERIFY_MAX_PER_WINDOW: "100000",
      LOG_LEVEL: "Warn"
    }
  })
  // the worker as package.json's "worker" script starts it, plus the inspector
  const { program: worker, metricsPort } = await startWorker(
    {
      ...env.env,
      MALLOC_ARENA_MAX: "2",
      MALLOC_TRIM_THRESHOLD_: "131072",
      ...(tls ? { NODE_EXTRA_CA_CERTS: path.join(dovecot.root, "cert.pem") } : {})
    },
    {
      name: "worker",
      nodeArgs: ["--max-semi-space-size=4", "--max-old-space-size=384", "--inspect=127.0.0.1:0"],
      // a loaded machine takes longer than the tests' 45 s to start a worker
      timeoutMillis: 180_000
    }
  )
  cleanup(() => worker.stop("SIGKILL"))
  const url = /Debugger listening on (ws:\/\/\S+)/.exec(worker.output())?.[1]
  if (url === undefined) throw new Error("the worker did not say where its inspector listens")
  const inspector = await connectInspector(url)
  cleanup(() => inspector.close())
  await inspector.send("HeapProfiler.enable")

  // the owner straight into the database (no API: it only costs start-up time and CPU here)
  const owner = psql(
    env.databaseUrl,
    "INSERT INTO users (email, password_hash) VALUES ('rtmemory@bench.test', 'not-a-hash') RETURNING id"
  )

  const samples: Array<Sample> = []
  const snapshotFiles: Array<{ accounts: number; file: string }> = []
  let present = 0
  for (const target of steps) {
    const startedAt = Date.now()
    insertAccounts({
      databaseUrl: env.databaseUrl,
      secretKeys: env.env["SECRET_KEYS"] ?? "",
      owner,
      host: tls ? "localhost" : dovecot.host,
      port: tlsPort ?? dovecot.port,
      security: tls ? "tls" : "none",
      userPrefix: "rm",
      password: IMAP_PASSWORD,
      from: present,
      to: target
    })
    present = target
    const watched = await waitUntil(
      async () => ((await metricSum(metricsPort, "watch_connections")) >= target ? true : undefined),
      180_000,
      500
    )
    const drained = await waitUntil(
      () =>
        psql(env.databaseUrl, "SELECT count(*) FROM jobs WHERE state NOT IN ('succeeded', 'failed', 'cancelled')") ===
        "0"
          ? true
          : undefined,
      180_000,
      1_000
    )
    const syncs = psql(
      env.databaseUrl,
      "SELECT count(*) || ' (' || count(*) FILTER (WHERE state <> 'succeeded') || ' not succeeded)' FROM jobs WHERE kind = 'mail.sync'"
    )
    report.check(
      `${target} accounts watched, catch-up syncs done`,
      watched !== undefined && drained !== undefined,
      `after ${((Date.now() - startedAt) / 1000).toFixed(1)} s; mail.sync jobs so far ${syncs}; load ${load()}`
    )
    await sleep(settleSeconds * 1000)
    const sample = await sampleWorker(inspector, worker.pid, target)
    samples.push(sample)
    report.figure(
      `worker at ${target} accounts (kB, after GC)`,
      Object.entries(sample.values)
        .map(([key, value]) => `${key} ${value}`)
        .join(", ")
    )
    if (snapshots && target > 0 && (snapshotFiles.length === 0 || target === maxAccounts))
      snapshotFiles.push({ accounts: target, file: await writeSnapshot(inspector, target) })
  }

  const keys = Object.keys(samples[0]?.values ?? {})
  report.figure(
    `slope over ${steps.join(", ")} accounts (kB per watched account)`,
    keys.map((key) => `${key} ${slope(samples, key).toFixed(1)}`).join(", ")
  )
  report.figure(
    "RSS per watched account vs the aim (150 kB)",
    `${slope(samples, "rss").toFixed(1)} kB (${slope(samples, "rss") < 150 ? "met" : "not met"}); load ${load()}`
  )
  const [first, last] = [snapshotFiles[0], snapshotFiles.at(-1)]
  if (first !== undefined && last !== undefined && last.accounts > first.accounts) {
    const before = snapshotByConstructor(first.file)
    const after = snapshotByConstructor(last.file)
    const accounts = last.accounts - first.accounts
    const grown = [...after.entries()]
      .map(([key, { count, size }]) => ({
        key,
        count: (count - (before.get(key)?.count ?? 0)) / accounts,
        size: (size - (before.get(key)?.size ?? 0)) / accounts
      }))
      .sort((a, b) => b.size - a.size)
      .slice(0, 25)
    report.figure(
      `heap growth per account, ${first.accounts} -> ${last.accounts} (by constructor: objects, bytes self size)`,
      grown.map((row) => `${row.key} ${row.count.toFixed(1)} / ${Math.round(row.size)} B`).join("; ")
    )
    for (const { file } of snapshotFiles) fs.rmSync(file, { force: true })
  }
}

await runDrill("realtime-memory", 900, run)
