/**
 * `npm run demo`: the whole path on one machine, nothing left behind.
 *
 * Starts a throw-away Dovecot seeded with a realistic mailbox (German and English, threads,
 * INBOX / Sent / Archive), creates a throw-away database and migrates it, starts the API and the
 * worker in this process, registers a demo user through the real auth API, adds the account
 * (its login is verified), syncs it, waits for the analysis, and prints what was stored.
 *
 * Needs PostgreSQL and Redis (DATABASE_URL's server, REDIS_URL) and Dovecot
 * (`apt-get install -y dovecot-imapd`). `npm run demo -- --keep` keeps the database.
 * It ends by printing the web app's URL and the demo user's sign-in, and in a terminal keeps
 * running for the browser until Ctrl-C (`--exit` ends right after the tour).
 */
import { spawnSync } from "node:child_process"
import { existsSync } from "node:fs"
import * as net from "node:net"
import { PgClient } from "@effect/sql-pg"
import { ConfigProvider, Effect, Layer, Redacted, References } from "effect"
import { SqlClient } from "effect/sql"
import { Redis as IORedis } from "ioredis"
import { MaintenanceLive } from "../src/jobs/Maintenance.ts"
import { ApiProgram } from "../src/main/api.ts"
import { JobsLive, PlatformLive } from "../src/main/layers.ts"
import { WorkerLive } from "../src/main/workerLayers.ts"
import { AppConfig } from "../src/platform/Config.ts"
import { migrateAsOwner } from "../src/platform/Database.ts"
import { startDovecot } from "../test/harness/dovecot.ts"
import { makeMailgen } from "../test/harness/mailgen.ts"

const keep = process.argv.includes("--keep")
/** Keep the API and worker running for the browser until Ctrl-C; `--exit` (or no terminal) ends after the tour. */
const serve = !process.argv.includes("--exit") && process.stdout.isTTY === true && process.env["CI"] !== "true"
const DEMO_USER = "demo"
const DEMO_IMAP_PASSWORD = "demo-imap-Passw0rd"
const say = (text = "") => console.log(text)

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = net.createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      server.close(() => resolve(port))
    })
  })

const dovecotVersion = (): string | null => {
  const result = spawnSync("dovecot", ["--version"], { encoding: "utf8" })
  return result.status === 0 ? result.stdout.trim() : null
}

/** The PostgreSQL server of DATABASE_URL (or the development default), without a database name. */
const serverUrl = (): string => {
  const url = new URL(process.env["DATABASE_URL"] ?? "postgres://root@127.0.0.1:5432/mail_helper")
  url.pathname = ""
  return url.toString().replace(/\/$/, "")
}

/** One statement on the server's maintenance database (CREATE/DROP DATABASE cannot run in a transaction). */
const adminStatement = (statement: string) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    yield* sql.unsafe(statement)
  }).pipe(Effect.provide(PgClient.layer({ url: Redacted.make(`${serverUrl()}/postgres`), maxConnections: 1 })))

interface Response {
  readonly status: number
  readonly body: unknown
  readonly text: string
  readonly headers: Headers
}

const http = (
  base: string,
  method: string,
  path: string,
  options: { json?: unknown; headers?: Record<string, string> } = {}
) =>
  Effect.promise(async (): Promise<Response> => {
    const response = await fetch(`${base}${path}`, {
      method,
      headers: { ...(options.json === undefined ? {} : { "content-type": "application/json" }), ...options.headers },
      ...(options.json === undefined ? {} : { body: JSON.stringify(options.json) })
    })
    const text = await response.text()
    let body: unknown
    try {
      body = JSON.parse(text)
    } catch {
      body = undefined
    }
    return { status: response.status, body, text, headers: response.headers }
  })

const get = (value: unknown, ...path: ReadonlyArray<string | number>): unknown => {
  let current = value
  for (const key of path) {
    if (typeof current !== "object" || current === null) return undefined
    current = Object.getOwnPropertyDescriptor(current, String(key))?.value
  }
  return current
}
const items = (value: unknown): Array<unknown> => {
  const list = get(value, "items")
  return Array.isArray(list) ? list : []
}

const expect = (response: Response, status: number, what: string) =>
  response.status === status
    ? Effect.void
    : Effect.die(new Error(`${what}: HTTP ${response.status} ${response.text.slice(0, 500)}`))

/** Polls a job until it ends; prints each new phase. */
const follow = (base: string, auth: Record<string, string>, jobId: string, label: string) =>
  Effect.gen(function* () {
    let lastPhase = ""
    const started = Date.now()
    for (;;) {
      const job = (yield* http(base, "GET", `/api/v1/jobs/${jobId}`, { headers: auth })).body
      const state = String(get(job, "state"))
      const phase = String(get(job, "progress", "phase") ?? "")
      const line = `${state}${phase === "" ? "" : ` / ${phase}`}`
      if (line !== lastPhase) {
        const done = get(job, "progress", "done")
        const total = get(job, "progress", "total")
        const message = get(job, "progress", "message")
        say(
          `    ${label}: ${line}${typeof done === "number" && typeof total === "number" ? ` ${done}/${total}` : ""}${typeof message === "string" ? ` (${message})` : ""}`
        )
        lastPhase = line
      }
      if (["succeeded", "failed", "cancelled"].includes(state)) return { job, seconds: (Date.now() - started) / 1000 }
      yield* Effect.sleep("200 millis")
    }
  })

const demo = Effect.gen(function* () {
  say("mail-helper demo")
  const version = dovecotVersion()
  if (version === null) {
    say("  Dovecot is not installed, and the demo needs a real IMAP server to sync from.")
    say("  Install it (Debian/Ubuntu: apt-get install -y dovecot-imapd) and run `npm run demo` again.")
    process.exitCode = 1
    return
  }

  // ---- a realistic mailbox on a throw-away Dovecot
  const dovecot = yield* Effect.acquireRelease(
    Effect.promise(() => startDovecot({ users: [{ user: DEMO_USER, pass: DEMO_IMAP_PASSWORD }] })),
    (server) => Effect.promise(() => server.stop())
  )
  const gen = makeMailgen({ seed: 4_242, domain: "demo.example", replyRatio: 0.4 })
  const messages = gen.take(320)
  const inbox = messages.filter((_, i) => i % 5 !== 0 && i % 7 !== 3)
  const sent = messages.filter((_, i) => i % 5 === 0)
  const archive = messages.filter((_, i) => i % 5 !== 0 && i % 7 === 3)
  yield* Effect.promise(async () => {
    await dovecot.seedMaildir(
      DEMO_USER,
      "INBOX",
      inbox.map((m, i) => ({
        raw: m.raw,
        internalDate: m.date,
        flags: [...(i < inbox.length * 0.6 ? ["\\Seen"] : []), ...(i % 17 === 0 ? ["\\Flagged"] : [])]
      }))
    )
    await dovecot.seedMaildir(
      DEMO_USER,
      "Sent",
      sent.map((m) => ({ raw: m.raw, internalDate: m.date, flags: ["\\Seen"] }))
    )
    await dovecot.seedMaildir(
      DEMO_USER,
      "Archive",
      archive.map((m) => ({ raw: m.raw, internalDate: m.date, flags: ["\\Seen"] }))
    )
  })
  say(
    `  ${version.split(" ")[0] === undefined ? "Dovecot" : `Dovecot ${version.split(" ")[0]}`} on ${dovecot.host}:${dovecot.port}, user "${DEMO_USER}"`
  )
  say(
    `  seeded ${messages.length} messages (German and English, threads): INBOX ${inbox.length}, Sent ${sent.length}, Archive ${archive.length}`
  )

  // ---- a throw-away database and Redis prefix
  const database = `mail_helper_demo_${process.pid}`
  const redisPrefix = `mhdemo_${process.pid}`
  const redisUrl = process.env["REDIS_URL"] ?? "redis://127.0.0.1:6379/0"
  yield* Effect.acquireRelease(adminStatement(`CREATE DATABASE ${database}`), () =>
    keep
      ? Effect.sync(() => say(`  kept database ${database} (--keep)`))
      : adminStatement(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`).pipe(Effect.ignore)
  )
  yield* Effect.addFinalizer(() =>
    Effect.promise(async () => {
      const redis = new IORedis(redisUrl, { maxRetriesPerRequest: 1 })
      try {
        let cursor = "0"
        do {
          const [next, keys] = await redis.scan(cursor, "MATCH", `${redisPrefix}:*`, "COUNT", 1000)
          cursor = next
          if (keys.length > 0) await redis.unlink(...keys)
        } while (cursor !== "0")
      } finally {
        redis.disconnect()
      }
    }).pipe(Effect.ignore)
  )
  const port = yield* Effect.promise(freePort)
  const base = `http://127.0.0.1:${port}`
  const env: Record<string, string> = {
    ...Object.fromEntries(
      Object.entries(process.env).filter((entry): entry is [string, string] => entry[1] !== undefined)
    ),
    DATABASE_URL: `${serverUrl()}/${database}`,
    REDIS_URL: redisUrl,
    REDIS_PREFIX: redisPrefix,
    HOST: "127.0.0.1",
    PORT: String(port),
    PUBLIC_ORIGIN: base,
    REGISTRATION_MODE: "open",
    LOG_LEVEL: process.env["LOG_LEVEL"] ?? "Warn",
    LOG_FORMAT: "pretty",
    // the demo's Dovecot listens on 127.0.0.1, which the production policy refuses
    IMAP_DESTINATION_POLICY: "any"
  }
  const config = ConfigProvider.layer(ConfigProvider.fromUnknown(env))
  yield* migrateAsOwner.pipe(Effect.provide(AppConfig.layer), Effect.provide(config))
  say(`  database ${database} created and migrated`)

  // ---- API and worker in this process
  const app = Layer.mergeAll(
    ApiProgram,
    Layer.mergeAll(WorkerLive, MaintenanceLive).pipe(Layer.provide(JobsLive))
  ).pipe(Layer.provideMerge(PlatformLive), Layer.provide(config))
  yield* Layer.build(app)
  say(`  API and worker running: ${base} (OpenAPI: ${base}/openapi.json, docs: ${base}/docs)`)
  say()

  // ---- a user, through the real auth API
  const email = "demo@example.org"
  const password = "demo correct horse battery"
  yield* expect(yield* http(base, "POST", "/api/v1/auth/register", { json: { email, password } }), 201, "register")
  const login = yield* http(base, "POST", "/api/v1/auth/login", { json: { email, password } })
  yield* expect(login, 200, "login")
  const cookie =
    login.headers
      .getSetCookie()
      .map((c) => c.split(";")[0] ?? "")
      .find((c) => c.includes("mh_session")) ?? ""
  const token = yield* http(base, "POST", "/api/v1/auth/tokens", {
    json: { name: "demo" },
    headers: { cookie, origin: base }
  })
  yield* expect(token, 201, "create token")
  const auth = { authorization: `Bearer ${String(get(token.body, "token"))}` }
  say(`1. registered ${email} (POST /auth/register, /auth/login, /auth/tokens)`)

  // ---- the account: its login is verified before it is stored
  const created = yield* http(base, "POST", "/api/v1/accounts", {
    headers: auth,
    json: {
      label: "Demo mailbox",
      host: dovecot.host,
      port: dovecot.port,
      security: "none",
      username: DEMO_USER,
      password: DEMO_IMAP_PASSWORD,
      syncIntervalMinutes: 15
    }
  })
  yield* expect(created, 201, "add account")
  const accountId = String(get(created.body, "id"))
  say(
    `2. added account "Demo mailbox" (POST /accounts: login verified, password stored encrypted, synced every 15 min)`
  )
  const wrong = yield* http(base, "POST", "/api/v1/accounts", {
    headers: auth,
    json: {
      label: "typo",
      host: dovecot.host,
      port: dovecot.port,
      security: "none",
      username: DEMO_USER,
      password: "typo"
    }
  })
  say(
    `   (a wrong password is refused: HTTP ${wrong.status} ${String(get(wrong.body, "reason"))}: ${String(get(wrong.body, "message"))})`
  )

  // ---- sync
  const sync = yield* http(base, "POST", `/api/v1/accounts/${accountId}/sync`, { headers: auth })
  yield* expect(sync, 202, "sync")
  const jobId = String(get(sync.body, "jobId"))
  say(`3. sync: POST /accounts/:id/sync -> 202 job ${jobId}`)
  const synced = yield* follow(base, auth, jobId, "mail.sync")
  if (get(synced.job, "state") !== "succeeded") {
    return yield* Effect.die(
      new Error(`the sync ended ${String(get(synced.job, "state"))}: ${JSON.stringify(get(synced.job, "error"))}`)
    )
  }
  const result = get(synced.job, "result")
  say(
    `   ${String(get(result, "newMessages"))} messages stored from ${String(get(result, "mailboxes"))} mailboxes in ${(Number(get(result, "durationMillis")) / 1000).toFixed(1)} s`
  )

  // ---- analysis, when the installation has it
  const analysisJobs = yield* http(base, "GET", "/api/v1/jobs?kind=mail.analyze&limit=5", { headers: auth })
  const analysis = items(analysisJobs.body)[0]
  if (analysis !== undefined) {
    say("4. analysis of the new mail (queued by the sync):")
    const analysed = yield* follow(base, auth, String(get(analysis, "id")), "mail.analyze")
    say(`   ${JSON.stringify(get(analysed.job, "result"))}`)
  } else {
    say("4. (no analysis jobs in this installation)")
  }

  // ---- what was stored
  say()
  const mailboxes = yield* http(base, "GET", `/api/v1/accounts/${accountId}/mailboxes`, { headers: auth })
  say("Stored per mailbox (GET /accounts/:id/mailboxes):")
  for (const mailbox of items(mailboxes.body)) {
    say(
      `  ${String(get(mailbox, "path")).padEnd(10)} ${String(get(mailbox, "specialUse") ?? "").padEnd(8)} ${String(get(mailbox, "messageCount")).padStart(4)} messages, ${String(get(mailbox, "unreadCount")).padStart(3)} unread`
    )
  }

  const top = yield* http(base, "GET", "/api/v1/emails?sort=score&limit=8", { headers: auth })
  if (top.status !== 200) {
    say(`(GET /emails answered ${top.status}: the emails API is not mounted in this build)`)
    return
  }
  say()
  say("Top priorities (GET /emails?sort=score):")
  for (const email of items(top.body)) {
    say(
      `  ${String(get(email, "score") ?? "-").padStart(2)} ${String(get(email, "band") ?? "").padEnd(6)} ${String(get(email, "category") ?? "").padEnd(12)} ${String(get(email, "subject")).slice(0, 48).padEnd(48)}  ${String(get(email, "from", "name") ?? get(email, "from", "address"))}`
    )
  }

  const recent = yield* http(base, "GET", "/api/v1/emails?limit=100", { headers: auth })
  const threads = new Map<string, Array<unknown>>()
  for (const email of items(recent.body)) {
    const thread = String(get(email, "threadId"))
    threads.set(thread, [...(threads.get(thread) ?? []), email])
  }
  say()
  say("A few threads (GET /emails?threadId=...):")
  for (const [thread] of [...threads].sort((a, b) => b[1].length - a[1].length).slice(0, 3)) {
    const members = items(
      (yield* http(base, "GET", `/api/v1/emails?threadId=${encodeURIComponent(thread)}&limit=100`, { headers: auth }))
        .body
    )
    const first = members.at(-1)
    say(`  "${String(get(first, "subject"))}": ${members.length} messages`)
    for (const member of [...members].reverse().slice(0, 5)) {
      say(
        `     ${String(get(member, "date")).slice(0, 16)}  ${String(get(member, "from", "name") ?? get(member, "from", "address")).padEnd(16)} ${String(get(member, "subject")).slice(0, 50)}`
      )
    }
  }

  // ---- search: words (German and English stemming) once search.index has run, and meaning
  const indexJobs = yield* http(base, "GET", "/api/v1/jobs?kind=search.index&limit=5", { headers: auth })
  const indexJob = items(indexJobs.body)[0]
  if (indexJob !== undefined) {
    say()
    say("5. full-text index of the new mail (search.index, queued by the sync):")
    yield* follow(base, auth, String(get(indexJob, "id")), "search.index")
    for (const [query, mode] of [
      ["Rechnungen", "fulltext"],
      ["server access", "hybrid"]
    ] as const) {
      const found = yield* http(base, "GET", `/api/v1/search?q=${encodeURIComponent(query)}&mode=${mode}&limit=3`, {
        headers: auth
      })
      if (found.status !== 200) continue
      say(`   GET /search?q=${query}&mode=${mode}:`)
      for (const hit of items(found.body)) {
        say(
          `     ${Number(get(hit, "score")).toFixed(3)}  ${String(get(hit, "email", "subject"))
            .slice(0, 50)
            .padEnd(50)}  ${String(get(hit, "snippet") ?? "")
            .replace(/<\/?mark>/g, "*")
            .replace(/\s+/g, " ")
            .slice(0, 60)}`
        )
      }
    }
  }
  say()
  if (!existsSync(new URL("../dist/web/index.html", import.meta.url))) {
    say("The web app is not built: run `npm run build:web` first to use it in the browser.")
  }
  say(`Web app: ${base}/`)
  say(`Sign in as ${email} with the password "${password}".`)
  if (serve) {
    say(
      `Running until Ctrl-C; then the demo database, queues and Dovecot are removed${keep ? " (except the kept database)." : "."}`
    )
    yield* untilStopped
  }
  say(`Done; the demo database, queues and Dovecot are removed on exit${keep ? " (except the kept database)." : "."}`)
})

/** Resolves on Ctrl-C (or SIGTERM), so the scope's finalizers remove what the demo created. */
const untilStopped = Effect.callback<void>((resume) => {
  const stop = () => resume(Effect.void)
  process.once("SIGINT", stop)
  process.once("SIGTERM", stop)
  return Effect.sync(() => {
    process.off("SIGINT", stop)
    process.off("SIGTERM", stop)
  })
})

const logLevel = (process.env["LOG_LEVEL"] ?? "warn").toLowerCase()
const minimum =
  (["trace", "debug", "info", "warn", "error", "fatal", "none"] as const).find((level) => level === logLevel) ?? "warn"
const levelName = {
  trace: "Trace",
  debug: "Debug",
  info: "Info",
  warn: "Warn",
  error: "Error",
  fatal: "Fatal",
  none: "None"
} as const

Effect.runPromise(Effect.scoped(demo).pipe(Effect.provideService(References.MinimumLogLevel, levelName[minimum]))).then(
  () => process.exit(process.exitCode ?? 0),
  (error: unknown) => {
    console.error(error)
    process.exit(1)
  }
)
