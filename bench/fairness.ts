/**
 * Two modes, each run with fair share on and with plain FIFO (JOB_FAIR_SHARE=false) in one run.
 *
 * `imap` (issue 15's benchmark): user A's initial sync of a large mailbox (real Dovecot, seeded as
 * Maildir files; the real worker as a child process: sync, analysis, embeddings, search index,
 * rules) while `others` users each get one new message per second: APPENDed to their Dovecot INBOX,
 * then a manual mail.sync submitted (as a watcher would on IDLE; the bench does not run watchers).
 * Each other user has one rule (subject contains "fresh": flag). Latency of a fresh message: from
 * its APPEND's answer ("arrived on the server") to its rule run ("analysed and rules applied",
 * rule_runs.created_at). Prints p50/p95/p99 of it and A's total (first sync submitted to A's mail
 * fully analysed and embedded, no job of A's left).
 *
 *   npx tsx bench/fairness.ts imap [aMessages=20000] [others=10] [arrivalSeconds=auto]
 *
 * arrivalSeconds: how long the others get mail (default: until A's work is done, at most 240 s).
 *
 * `ping` (the scheduling alone): user A queues a backlog of bulk debug.ping jobs (an
 * initial sync's follow-up work, through Jobs.submitMany) while ten other users each queue one
 * interactive job every second (their fresh mail). Run twice in one process, with fair share
 * (JOB_FAIR_SHARE=true) and with plain FIFO (false), on the same PostgreSQL and Redis, with the
 * worker runtime in-process at debug.ping's concurrency (50).
 *
 *   npx tsx bench/fairness.ts ping [backlog=20000] [sleepMillis=5]
 *   npx tsx bench/fairness.ts [backlog=20000] [sleepMillis=5]      (the same; the bench's first form)
 *
 * Prints the other users' wait, submit to succeeded (p50/p95/p99), A's total time (first submit to
 * the last job's end) both ways, and the CPU per job (node, Redis, PostgreSQL) to compare with
 * `npm run bench:jobs`.
 */
import { type ChildProcess, spawn } from "node:child_process"
import * as net from "node:net"
import * as os from "node:os"
import { Effect, Layer, Redacted } from "effect"
import { ImapFlow } from "imapflow"
import { AccountsLive } from "../src/accounts/AccountsLive.ts"
import { AccountStore } from "../src/accounts/AccountStore.ts"
import { AccountId } from "../src/contract/accounts/Account.ts"
import { MailSyncJob } from "../src/contract/jobs/MailSyncJob.ts"
import { startDovecot } from "../test/harness/dovecot.ts"
import { seedInbox } from "./support/mailbox.ts"
import { PingJob } from "../src/contract/jobs/PingJob.ts"
import { UserId } from "../src/contract/users/UserId.ts"
import { Jobs } from "../src/jobs/Jobs.ts"
import { JobsLive, PlatformLive } from "../src/main/layers.ts"
import { WorkerLive } from "../src/main/workerLayers.ts"
import { SystemDatabase } from "../src/platform/Database.ts"
import { cpuPerUnit, cpuSnapshot, processTreeCpu } from "./support/cpu.ts"
import { benchEnvironment } from "./support/environment.ts"

const args = process.argv.slice(2)
const mode = args[0] === "imap" ? "imap" : "ping"
const modeArgs = args[0] === "imap" || args[0] === "ping" ? args.slice(1) : args
const backlog = Number(modeArgs[0] ?? 20_000)
const sleepMillis = Number(modeArgs[1] ?? 5)

const percentile = (sorted: ReadonlyArray<number>, p: number) =>
  sorted.length === 0 ? Number.NaN : (sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0)

const scenario = (fairShare: boolean) =>
  Effect.scoped(
    Effect.gen(function* () {
      const bench = yield* benchEnvironment(fairShare ? "fair_on" : "fair_off", {
        JOB_FAIR_SHARE: String(fairShare),
        JOB_PROGRESS_INTERVAL_MS: "500",
        JOB_SUBMIT_RATE_PER_MINUTE: "0"
      })
      const newUser = (n: number) =>
        UserId.make(
          bench.psql(`INSERT INTO users (email, password_hash) VALUES ('bench${n}@example.com', 'x') RETURNING id`)
        )
      const a = newUser(0)
      const others = Array.from({ length: 10 }, (_, n) => newUser(n + 1))
      const Platform = JobsLive.pipe(Layer.provideMerge(PlatformLive), Layer.provide(bench.config))
      return yield* Effect.gen(function* () {
        const jobs = yield* Jobs
        const system = yield* SystemDatabase
        const cpuBefore = cpuSnapshot(bench.redisUrl)
        const started = Date.now()
        // A's backlog, in batches as a sync queues it
        for (let offset = 0; offset < backlog; offset += 2_000) {
          yield* jobs.submitMany(
            PingJob,
            Array.from({ length: Math.min(2_000, backlog - offset) }, () => ({ sleepMillis })),
            { ownerId: a, workClass: "bulk" }
          )
        }
        // the others' fresh mail, every second, until A's backlog has drained
        const count = (where: string) =>
          Effect.map(
            system<{ readonly n: number }>`SELECT count(*)::int AS n FROM jobs WHERE ${system.unsafe(where)}`,
            (rows) => rows[0]?.n ?? 0
          )
        for (;;) {
          yield* Effect.forEach(others, (owner) => jobs.submit(PingJob, { sleepMillis }, { ownerId: owner }), {
            concurrency: "unbounded",
            discard: true
          })
          yield* Effect.sleep("1 second")
          if ((yield* count(`user_id = '${a}' AND state = 'succeeded'`)) >= backlog) break
        }
        while ((yield* count("state <> 'succeeded'")) > 0) yield* Effect.sleep("100 millis")
        const total = yield* count("true")
        const cpu = cpuPerUnit(cpuBefore, cpuSnapshot(bench.redisUrl), total, "job")
        const [span] = yield* system<{ readonly seconds: number }>`
          SELECT extract(epoch FROM max(finished_at) - ${new Date(started)}::timestamptz)::float8 AS seconds
          FROM jobs WHERE user_id = ${a}`
        const waits = (yield* system<{ readonly seconds: number }>`
          SELECT extract(epoch FROM finished_at - created_at)::float8 AS seconds
          FROM jobs WHERE user_id <> ${a} ORDER BY 1`).map((row) => row.seconds)
        return { aSeconds: span?.seconds ?? Number.NaN, waits, cpu, others: waits.length }
      }).pipe(Effect.provide(Layer.mergeAll(WorkerLive, Layer.empty).pipe(Layer.provideMerge(Platform))))
    })
  )

const pingMain = Effect.gen(function* () {
  const fair = yield* scenario(true)
  const fifo = yield* scenario(false)
  const row = (label: string, figures: typeof fair) =>
    `${label.padEnd(10)} others' wait p50 ${percentile(figures.waits, 50).toFixed(2)} s, p95 ${percentile(figures.waits, 95).toFixed(2)} s, ` +
    `p99 ${percentile(figures.waits, 99).toFixed(2)} s (${figures.others} jobs); A's total ${figures.aSeconds.toFixed(1)} s`
  console.log(`\nA: ${backlog} bulk debug.ping jobs (${sleepMillis} ms each); 10 users: 1 interactive job/s each\n`)
  console.log(row("fair share", fair))
  console.log(row("FIFO", fifo))
  console.log(`\nA's total, fair share / FIFO: ${(fair.aSeconds / fifo.aSeconds).toFixed(2)}`)
  console.log(`CPU per job, fair share: ${fair.cpu}`)
  console.log(`CPU per job, FIFO:       ${fifo.cpu}`)
})

// ---- imap mode ---------------------------------------------------------------------------------

const aMessages = Number(modeArgs[0] ?? 20_000)
const otherCount = Number(modeArgs[1] ?? 10)
const arrivalSeconds = modeArgs[2] === undefined ? undefined : Number(modeArgs[2])
const PASS = "bench-Passw0rd"

const freePort = () =>
  new Promise<number>((resolve) => {
    const server = net.createServer()
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      server.close(() => resolve(port))
    })
  })

/** The production worker as a child process (as bench/sync.ts starts it). */
const startWorker = async (env: Record<string, string>): Promise<ChildProcess> => {
  const port = await freePort()
  const child = spawn(process.execPath, ["--max-semi-space-size=4", "--max-old-space-size=384", "src/main/worker.ts"], {
    env: { ...process.env, ...env, LOG_FORMAT: "json", LOG_LEVEL: "Info", WORKER_METRICS_PORT: String(port) },
    stdio: ["ignore", "pipe", "pipe"]
  })
  let output = ""
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`worker did not start:\n${output}`)), 120_000)
    const onData = (chunk: Buffer) => {
      output = (output + chunk.toString("utf8")).slice(-20_000)
      if (output.includes('"message":"worker started')) {
        clearTimeout(timer)
        resolve()
      }
    }
    child.stdout?.on("data", onData)
    child.stderr?.on("data", onData)
    child.once("exit", () => reject(new Error(`worker exited:\n${output}`)))
  })
  return child
}

const stopWorker = (child: ChildProcess): Promise<void> =>
  new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve()
    const timer = setTimeout(() => child.kill("SIGKILL"), 30_000)
    child.once("exit", () => {
      clearTimeout(timer)
      resolve()
    })
    child.kill("SIGTERM")
  })

const freshMessage = (user: string, n: number, messageId: string) =>
  [
    `From: Sender ${n} <sender${n}@fresh.example>`,
    `To: ${user}@bench.invalid`,
    `Subject: fresh mail ${n} for ${user}`,
    `Message-ID: <${messageId}>`,
    `Date: ${new Date().toUTCString()}`,
    "MIME-Version: 1.0",
    "Content-Type: text/plain; charset=utf-8",
    "",
    `Hello ${user}, this is fresh message ${n}. Could you reply by Friday?`,
    ""
  ].join("\r\n")

const imapScenario = (fairShare: boolean) =>
  Effect.scoped(
    Effect.gen(function* () {
      const label = fairShare ? "fair_on" : "fair_off"
      const bench = yield* benchEnvironment(`imap_${label}`, {
        JOB_FAIR_SHARE: String(fairShare),
        JOB_SUBMIT_RATE_PER_MINUTE: "0"
      })
      const otherNames = Array.from({ length: otherCount }, (_, n) => `other${n + 1}`)
      const server = yield* Effect.acquireRelease(
        Effect.promise(() =>
          startDovecot({ users: [{ user: "alice", pass: PASS }, ...otherNames.map((user) => ({ user, pass: PASS }))] })
        ),
        (s) => Effect.promise(() => s.stop())
      )
      yield* Effect.promise(() => seedInbox(server, "alice", aMessages))
      const platform = AccountsLive.pipe(
        Layer.provideMerge(JobsLive),
        Layer.provideMerge(PlatformLive),
        Layer.provide(bench.config)
      )
      return yield* Effect.gen(function* () {
        const accounts = yield* AccountStore
        const jobs = yield* Jobs
        const addUser = (name: string) =>
          Effect.gen(function* () {
            const owner = UserId.make(crypto.randomUUID())
            bench.psql(`INSERT INTO users (id, email, password_hash) VALUES ('${owner}', '${name}@bench.invalid', '!')`)
            const account = yield* accounts.insert(owner, {
              id: AccountId.make(crypto.randomUUID()),
              label: name,
              host: server.host,
              port: server.port,
              security: "none",
              username: name,
              password: Redacted.make(PASS),
              syncIntervalMinutes: null
            })
            return { name, owner, accountId: account.id }
          })
        const a = yield* addUser("alice")
        const others = yield* Effect.forEach(otherNames, addUser)
        for (const other of others) {
          bench.psql(
            `INSERT INTO rules (user_id, name, priority, match, conditions, actions) VALUES ('${other.owner}', 'fresh', 100, 'all', ` +
              `'[{"field":"subject","op":"contains","value":"fresh"}]', '[{"type":"flag"}]')`
          )
        }
        // the others' first (empty) syncs, before the clock starts: their mailboxes are known
        for (const other of others) {
          yield* jobs.submit(MailSyncJob, { accountId: other.accountId }, { ownerId: other.owner })
        }
        const worker = yield* Effect.acquireRelease(
          Effect.promise(() => startWorker(bench.env)),
          (child) => Effect.promise(() => stopWorker(child))
        )
        const workerPid = worker.pid ?? 0
        const cpuStart = processTreeCpu(workerPid)
        while (
          Number(bench.psql(`SELECT count(*) FROM jobs WHERE state NOT IN ('succeeded', 'failed', 'cancelled')`)) > 0
        ) {
          yield* Effect.sleep("200 millis")
        }

        // A's initial sync: the clock starts
        const started = Date.now()
        yield* jobs.submit(MailSyncJob, { accountId: a.accountId }, { ownerId: a.owner })
        const aLeft = () =>
          Number(
            bench.psql(
              `SELECT (SELECT count(*) FROM jobs WHERE user_id = '${a.owner}' AND state NOT IN ('succeeded', 'failed', 'cancelled'))
                + (SELECT count(*) FROM emails WHERE user_id = '${a.owner}' AND canonical
                     AND (analysis_state = 'pending' OR embedding_state = 'pending'))`
            )
          )
        const aStored = () => Number(bench.psql(`SELECT count(*) FROM emails WHERE user_id = '${a.owner}'`))

        // the others' mail: one message per user per second, APPEND then a manual sync
        const clients = yield* Effect.forEach(others, (other) =>
          Effect.acquireRelease(
            Effect.promise(async () => {
              const client = new ImapFlow({
                host: server.host,
                port: server.port,
                secure: false,
                auth: { user: other.name, pass: PASS },
                logger: false
              })
              await client.connect()
              return client
            }),
            (client) => Effect.promise(() => client.logout().catch(() => undefined))
          )
        )
        const arrivals: Array<{ readonly owner: string; readonly messageId: string; readonly arrived: number }> = []
        let aDoneAt: number | null = null
        const deadline = started + (arrivalSeconds ?? 240) * 1000
        for (let tick = 0; ; tick++) {
          const tickStart = Date.now()
          yield* Effect.forEach(
            others,
            (other, index) =>
              Effect.gen(function* () {
                const client = clients[index]
                if (client === undefined) return
                const messageId = `${other.name}.${tick}.${label}@fresh.example`
                yield* Effect.promise(() => client.append("INBOX", freshMessage(other.name, tick, messageId)))
                arrivals.push({ owner: other.owner, messageId, arrived: Date.now() })
                yield* jobs.submit(MailSyncJob, { accountId: other.accountId }, { ownerId: other.owner })
              }),
            { concurrency: "unbounded", discard: true }
          )
          if (aDoneAt === null && aStored() >= aMessages && aLeft() === 0) aDoneAt = Date.now()
          const now = Date.now()
          if (arrivalSeconds === undefined ? aDoneAt !== null || now > deadline : now > deadline) break
          yield* Effect.sleep(Math.max(0, 1000 - (now - tickStart)))
        }
        // a sync submitted while the account's sync runs is de-duplicated into it and may miss the newest
        // message (the next tick's sync takes it): once the others' syncs have ended, one last sync per
        // user takes what the last tick left
        const othersSyncing = () =>
          Number(
            bench.psql(
              `SELECT count(*) FROM jobs WHERE kind = 'mail.sync' AND user_id <> '${a.owner}' AND state NOT IN ('succeeded', 'failed', 'cancelled')`
            )
          )
        while (othersSyncing() > 0) yield* Effect.sleep("100 millis")
        yield* Effect.forEach(
          others,
          (other) => jobs.submit(MailSyncJob, { accountId: other.accountId }, { ownerId: other.owner }),
          { discard: true }
        )
        // the last arrivals' rules, and A's work if the arrivals stopped first (bounded: 10 minutes)
        const drainDeadline = Date.now() + 600_000
        while (Date.now() < drainDeadline) {
          if (aDoneAt === null && aStored() >= aMessages && aLeft() === 0) aDoneAt = Date.now()
          const open = Number(
            bench.psql(
              `SELECT count(*) FROM jobs WHERE user_id <> '${a.owner}' AND state NOT IN ('succeeded', 'failed', 'cancelled')`
            )
          )
          if (aDoneAt !== null && open === 0) break
          yield* Effect.sleep("250 millis")
        }
        const workerCpuMs = processTreeCpu(workerPid) - cpuStart
        const ran = new Map(
          bench
            .psql(
              `SELECT e.message_id || '|' || (extract(epoch FROM min(r.created_at)) * 1000)::bigint
               FROM rule_runs r JOIN emails e ON e.id = r.email_id
               WHERE r.user_id <> '${a.owner}' GROUP BY e.message_id`
            )
            .split("\n")
            .filter((row) => row.includes("|"))
            .map((row) => {
              const [id, at] = row.split("|")
              return [(id ?? "").replace(/[<>]/g, ""), Number(at)] as const
            })
        )
        const latencies = arrivals
          .map((arrival) => {
            const at = ran.get(arrival.messageId)
            return at === undefined ? Number.NaN : (at - arrival.arrived) / 1000
          })
          .filter((seconds) => Number.isFinite(seconds))
          .sort((x, y) => x - y)
        const failed = bench.psql(`SELECT count(*) FROM jobs WHERE state = 'failed'`)
        return {
          latencies,
          arrivals: arrivals.length,
          aSeconds: aDoneAt === null ? Number.NaN : (aDoneAt - started) / 1000,
          aStored: aStored(),
          failed,
          workerCpuMs
        }
      }).pipe(Effect.provide(platform))
    })
  )

const imapMain = Effect.gen(function* () {
  const load = () =>
    os
      .loadavg()
      .map((n) => n.toFixed(2))
      .join(" ")
  console.log(`imap: A ${aMessages} messages, ${otherCount} other users with 1 message/s each; load ${load()}`)
  const fair = yield* imapScenario(true)
  console.log(`load after fair share: ${load()}`)
  const fifo = yield* imapScenario(false)
  console.log(`load after FIFO: ${load()}`)
  const row = (label: string, figures: typeof fair) =>
    `${label.padEnd(10)} others' arrival -> rules applied: p50 ${percentile(figures.latencies, 50).toFixed(2)} s, ` +
    `p95 ${percentile(figures.latencies, 95).toFixed(2)} s, p99 ${percentile(figures.latencies, 99).toFixed(2)} s ` +
    `(${figures.latencies.length} of ${figures.arrivals} messages ruled); A's total ${figures.aSeconds.toFixed(1)} s ` +
    `(${figures.aStored} stored); failed jobs ${figures.failed}; worker CPU ${(figures.workerCpuMs / 1000).toFixed(1)} s`
  console.log("")
  console.log(row("fair share", fair))
  console.log(row("FIFO", fifo))
  console.log(`\nA's total, fair share / FIFO: ${(fair.aSeconds / fifo.aSeconds).toFixed(2)}`)
})

const program: Effect.Effect<void, unknown> = mode === "imap" ? imapMain : pingMain

Effect.runPromise(program).then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error)
    process.exit(1)
  }
)
