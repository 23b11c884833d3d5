/**
 * Initial sync of a 10,000-message mailbox by the real worker (a child process running
 * `node --max-semi-space-size=4 --max-old-space-size=384 src/main/worker.ts` as in production: fetch -> parse on worker
 * threads -> store in PostgreSQL), against the raw
 * pipeline (imapflow fetch + mailparser simpleParser, no storage) on the same machine, same run.
 *
 *   npx tsx bench/sync.ts [messages=10000] [parser threads=availableParallelism]
 *
 * Prints messages/s of both, the ratio, the worker's stage times and its peak RSS (VmHWM of the
 * worker process, parser threads included). The full-text vectors are not part of the sync (it
 * defers them, migration 0050): the bench also waits for the search.index job the sync queues and
 * prints when the mailbox became searchable by words. Then it APPENDs 250 new messages and times the
 * incremental sync that picks them up, as a periodic sync of a large mailbox would.
 */
import { type ChildProcess, spawn } from "node:child_process"
import * as net from "node:net"
import * as os from "node:os"
import { type Duration, Effect, Layer, Redacted, Schema } from "effect"
import { simpleParser } from "mailparser"
import { AccountId } from "../src/contract/accounts/Account.ts"
import { AccountsCoreLive } from "../src/accounts/AccountsCoreLive.ts"
import { AccountStore } from "../src/accounts/AccountStore.ts"
import { Jobs } from "../src/jobs/Jobs.ts"
import { JobsLive, PlatformLive } from "../src/main/layers.ts"
import { MailSyncJob } from "../src/contract/jobs/MailSyncJob.ts"
import { UserId } from "../src/contract/users/UserId.ts"
import { startDovecot } from "../test/harness/dovecot.ts"
import { generateMessages } from "../test/harness/mailgen.ts"
import { memoryOf, pidByCommandLine, processCpu, processTreeCpu, threadCpu } from "./support/cpu.ts"
import { benchEnvironment, rate } from "./support/environment.ts"
import { fetchAllRaw, messageRateLine, openRawInbox, seedInbox } from "./support/mailbox.ts"

const count = Number(process.argv[2] ?? 10_000)
const threads = Number(process.argv[3] ?? os.availableParallelism())
/** New messages for the incremental sync after the initial one. */
const INCREMENTAL = 250
const USER = "bench"
const PASS = "bench-Passw0rd"

const line = messageRateLine(52)

const freePort = () =>
  new Promise<number>((resolve) => {
    const server = net.createServer()
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      server.close(() => resolve(port))
    })
  })

/** CPU time of the PostgreSQL backends serving a database (they live as long as the pool's connections). */
const backendCpu = (psql: (query: string) => string, database: string): Map<number, number> =>
  new Map(
    psql(`SELECT pid FROM pg_stat_activity WHERE datname = '${database}' AND pid <> pg_backend_pid()`)
      .split("\n")
      .filter((line) => line.trim() !== "")
      .map((line) => [Number(line), processCpu(Number(line))] as const)
  )

const startWorker = async (env: Record<string, string>): Promise<ChildProcess> => {
  const port = await freePort()
  // as production runs it (Dockerfile, docker-compose.yml, deploy/): Node's own type stripping, the
  // young-generation flag; BENCH_WORKER_FLAGS adds more (e.g. --max-old-space-size=160)
  const flags = [
    "--max-semi-space-size=4",
    "--max-old-space-size=384",
    ...(process.env["BENCH_WORKER_FLAGS"] ?? "").split(" ").filter(Boolean)
  ]
  const child = spawn(process.execPath, [...flags, "src/main/worker.ts"], {
    env: {
      ...process.env,
      ...env,
      LOG_FORMAT: "json",
      LOG_LEVEL: "Info",
      WORKER_METRICS_PORT: String(port),
      MIME_PARSER_THREADS: String(threads)
    },
    stdio: ["ignore", "pipe", "pipe"]
  })
  let output = ""
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`worker did not start:\n${output}`)), 60_000)
    const onData = (chunk: Buffer) => {
      output += chunk.toString("utf8")
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

/** Graceful stop (SIGTERM), SIGKILL after 30 s. */
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

const JobRow = Schema.Struct({ state: Schema.String, result: Schema.NullOr(Schema.Unknown) })

const main = Effect.gen(function* () {
  console.log(
    `sync: ${count} messages, ${os.availableParallelism()} cores, parser pool of ${threads} threads, node ${process.version}`
  )
  console.log(
    `load average at start: ${os
      .loadavg()
      .map((n) => n.toFixed(2))
      .join(" ")}`
  )
  const bench = yield* benchEnvironment("sync")
  const server = yield* Effect.acquireRelease(
    Effect.promise(() => startDovecot({ users: [{ user: USER, pass: PASS }] })),
    (s) => Effect.promise(() => s.stop())
  )

  line("seed Maildir files", count, yield* Effect.promise(() => seedInbox(server, USER, count)))

  // Dovecot's CPU is part of what a sync costs the machine
  const dovecotPid = pidByCommandLine(`${server.root}/dovecot.conf`)
  const dovecotCpuNow = () => (dovecotPid === undefined ? Number.NaN : processTreeCpu(dovecotPid))

  // ---- raw pipeline: imapflow fetch + simpleParser, nothing stored
  const raw = yield* Effect.promise(async () => {
    const { client, close } = await openRawInbox(server, USER, PASS)
    try {
      // the first FETCH makes Dovecot index and cache every file: not part of either figure
      let start = performance.now()
      let n = 0
      for await (const message of client.fetch("1:*", { uid: true, source: true }, { uid: true })) {
        if (message.source !== undefined) n++
      }
      line("(warm-up: Dovecot indexes the Maildir)", n, performance.now() - start)
      start = performance.now()
      const cpuStart = process.cpuUsage()
      const dovecotStart = dovecotCpuNow()
      let parsed = 0
      for await (const message of fetchAllRaw(client)) {
        if (message.source === undefined) continue
        await simpleParser(message.source)
        parsed++
      }
      const cpu = process.cpuUsage(cpuStart)
      return {
        parsed,
        ms: performance.now() - start,
        cpuMs: (cpu.user + cpu.system) / 1000,
        dovecotMs: dovecotCpuNow() - dovecotStart
      }
    } finally {
      await close()
    }
  })
  line("raw: imapflow fetch + simpleParser (1 core, no storage)", raw.parsed, raw.ms)
  console.log(
    `  CPU per message: ${(raw.cpuMs / raw.parsed).toFixed(2)} ms in this process (about ${Math.round((1000 * raw.parsed) / raw.cpuMs)} msg/s on one idle core), Dovecot ${(raw.dovecotMs / raw.parsed).toFixed(2)} ms`
  )

  // ---- the real worker
  const platform = Layer.mergeAll(AccountsCoreLive).pipe(
    Layer.provideMerge(JobsLive),
    Layer.provideMerge(PlatformLive),
    Layer.provide(bench.config)
  )
  const runWorker = (label: string) =>
    Effect.gen(function* () {
      const owner = UserId.make(crypto.randomUUID())
      bench.psql(`INSERT INTO users (id, email, password_hash) VALUES ('${owner}', '${owner}@bench.invalid', '!')`)
      const accounts = yield* AccountStore
      const jobs = yield* Jobs
      const account = yield* accounts.insert(owner, {
        id: AccountId.make(crypto.randomUUID()),
        label: "bench",
        host: server.host,
        port: server.port,
        security: "none",
        username: USER,
        password: Redacted.make(PASS),
        syncIntervalMinutes: null
      })
      const worker = yield* Effect.acquireRelease(
        Effect.promise(() => startWorker(bench.env)),
        // SIGTERM first: a worker started with --cpu-prof or --heap-prof (BENCH_WORKER_FLAGS) writes its profiles on exit
        (child) => Effect.promise(() => stopWorker(child))
      )
      const pid = worker.pid ?? 0
      const idle = memoryOf(pid)
      const database = bench.databaseUrl.split("/").at(-1) ?? ""
      /** PostgreSQL CPU (ms) of the database's backends since `before`. */
      const pgCpuSince = (before: Map<number, number>) => {
        let total = 0
        for (const [backend, cpu] of backendCpu(bench.psql, database)) total += cpu - (before.get(backend) ?? 0)
        return total
      }
      /** Polls a job's record until it succeeded; dies if it failed or was cancelled. */
      const untilSucceeded = (jobId: string, what: string, every: Duration.Input) =>
        Effect.gen(function* () {
          for (;;) {
            const state = bench.psql(`SELECT state FROM jobs WHERE id = '${jobId}'`)
            if (state === "succeeded") return
            if (state === "failed" || state === "cancelled") return yield* Effect.die(new Error(`${what} ${state}`))
            yield* Effect.sleep(every)
          }
        })
      const workerCpuBefore = processCpu(pid)
      const threadsBefore = threadCpu(pid)
      const pgCpuBefore = backendCpu(bench.psql, database)
      const dovecotCpuBefore = dovecotCpuNow()
      const started = performance.now()
      const submitted = yield* jobs.submit(MailSyncJob, { accountId: account.id }, { ownerId: owner })
      let peakSampled = idle.current
      const timeline: Array<string> = []
      for (;;) {
        yield* Effect.sleep("100 millis")
        const now = memoryOf(pid).current
        peakSampled = Math.max(peakSampled, now)
        if (process.env["BENCH_RSS_TIMELINE"] !== undefined) {
          timeline.push(
            `${((performance.now() - started) / 1000).toFixed(1)}s ${Math.round(now / 1024)}MB ${bench.psql(`SELECT coalesce(progress->>'done', '-') FROM jobs WHERE id = '${submitted.jobId}'`)}`
          )
        }
        const [row] = yield* Schema.decodeUnknownEffect(Schema.Array(JobRow))(
          JSON.parse(
            bench.psql(
              `SELECT coalesce(json_agg(json_build_object('state', state, 'result', result)), '[]') FROM jobs WHERE id = '${submitted.jobId}'`
            )
          )
        )
        if (row === undefined) continue
        if (row.state === "failed" || row.state === "cancelled") {
          return yield* Effect.die(
            new Error(
              `sync ${row.state}: ${bench.psql(`SELECT error_message FROM jobs WHERE id = '${submitted.jobId}'`)}`
            )
          )
        }
        if (row.state === "succeeded") {
          const wall = performance.now() - started
          const memory = memoryOf(pid)
          const workerCpu = processCpu(pid) - workerCpuBefore
          const pgCpu = pgCpuSince(pgCpuBefore)
          // the session's imap process has ended (LOGOUT) and been reaped: it is in the master's cutime
          yield* Effect.sleep("200 millis")
          const dovecotCpu = dovecotCpuNow() - dovecotCpuBefore
          const result = yield* Schema.decodeUnknownEffect(MailSyncJob.result)(row.result)
          const stored = Number(bench.psql(`SELECT count(*) FROM emails WHERE account_id = '${account.id}'`))
          if (stored !== count) return yield* Effect.die(new Error(`stored ${stored}, expected ${count}`))
          if (timeline.length > 0) console.log(`  RSS timeline: ${timeline.join(", ")}`)
          line(`${label}: sync job, submit to succeeded`, stored, wall)
          line(`${label}: sync job, its own duration`, stored, result.durationMillis)
          console.log(
            `  stages (busy time, overlapping): fetch ${(result.stageMillis.fetch / 1000).toFixed(2)} s, parse ${(result.stageMillis.parse / 1000).toFixed(2)} s, store ${(result.stageMillis.store / 1000).toFixed(2)} s`
          )
          console.log(
            `  worker RSS: idle ${Math.round(idle.current / 1024)} MB, peak ${Math.round(memory.peak / 1024)} MB (VmHWM; sampled max ${Math.round(peakSampled / 1024)} MB)`
          )
          const perMessage = (ms: number) => (ms / stored).toFixed(2)
          const threads = [...threadCpu(pid)]
            .map(([name, cpu]) => [name, cpu - (threadsBefore.get(name) ?? 0)] as const)
            .filter(([, cpu]) => cpu / stored >= 0.05)
            .sort((a, b) => b[1] - a[1])
          console.log(
            `  worker threads, CPU ms per message: ${threads.map(([name, cpu]) => `${name.replace(/#\d+$/, "")} ${perMessage(cpu)}`).join(", ")}`
          )
          console.log(
            `  CPU per message: worker process ${perMessage(workerCpu)} ms (main thread + parser threads), PostgreSQL ${perMessage(pgCpu)} ms, Dovecot ${perMessage(dovecotCpu)} ms; ` +
              `on an idle machine with ${os.availableParallelism()} cores that bounds the sync at about ${Math.round((os.availableParallelism() * 1000 * stored) / (workerCpu + pgCpu + dovecotCpu))} msg/s`
          )
          // the full-text vectors the sync deferred: the search.index job it queued fills them
          const indexJobId = bench.psql(`SELECT id FROM jobs WHERE kind = 'search.index' AND user_id = '${owner}'`)
          yield* untilSucceeded(indexJobId, "search.index", "100 millis")
          const searchable = performance.now() - started
          const indexMillis = Number(
            bench.psql(
              `SELECT round(extract(epoch FROM finished_at - started_at) * 1000) FROM jobs WHERE id = '${indexJobId}'`
            )
          )
          line(`${label}: searchable by words (sync + search.index)`, stored, searchable)
          console.log(
            `  search.index: ${(indexMillis / 1000).toFixed(2)} s for ${stored} messages (${rate(stored, indexMillis)} msg/s), ` +
              `sharing the machine with mail.analyze and mail.embed, which the sync queued too; worker peak RSS by then ${Math.round(memoryOf(pid).peak / 1024)} MB`
          )
          // ---- a periodic sync's case: a few hundred new messages in the now large mailbox, once the
          // analysis and embedding of the initial mailbox are done (they would share the figures)
          const settling = performance.now()
          while (
            bench.psql(
              `SELECT count(*) FROM jobs WHERE user_id = '${owner}' AND state IN ('queued', 'running', 'retrying')`
            ) !== "0"
          ) {
            yield* Effect.sleep("200 millis")
          }
          console.log(
            `  (analysis and embedding of the initial mailbox done ${((performance.now() - settling) / 1000).toFixed(1)} s after it became searchable)`
          )
          const fresh = generateMessages(INCREMENTAL, { seed: 7, domain: "incremental.test" })
          yield* Effect.promise(async () => {
            const { client, close } = await openRawInbox(server, USER, PASS)
            try {
              for (const message of fresh) await client.append("INBOX", message.raw)
            } finally {
              await close()
            }
          })
          const pgBeforeIncremental = backendCpu(bench.psql, database)
          const incrementalStarted = performance.now()
          const incremental = yield* jobs.submit(MailSyncJob, { accountId: account.id }, { ownerId: owner })
          yield* untilSucceeded(incremental.jobId, "incremental sync", "20 millis")
          const incrementalWall = performance.now() - incrementalStarted
          const pgIncremental = pgCpuSince(pgBeforeIncremental)
          line(`${label}: incremental sync, ${INCREMENTAL} new into ${stored}`, INCREMENTAL, incrementalWall)
          console.log(
            `  PostgreSQL CPU per new message: ${(pgIncremental / INCREMENTAL).toFixed(2)} ms (every backend of the database)`
          )
          return { wall, own: result.durationMillis, peakMb: memory.peak / 1024, accountId: account.id }
        }
      }
    }).pipe(Effect.scoped)

  const full = yield* runWorker("worker").pipe(Effect.provide(platform))
  console.log(
    `ratio worker / raw: ${(rate(count, full.own) / rate(raw.parsed, raw.ms)).toFixed(2)} (job duration), ${(rate(count, full.wall) / rate(raw.parsed, raw.ms)).toFixed(2)} (submit to done)`
  )

  console.log(
    `load average at end: ${os
      .loadavg()
      .map((n) => n.toFixed(2))
      .join(" ")}`
  )
})

Effect.runPromise(Effect.scoped(main)).catch((error: unknown) => {
  console.error(error)
  process.exitCode = 1
})
