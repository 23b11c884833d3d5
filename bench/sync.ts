/**
 * Initial sync of a 10,000- and a 50,000-message mailbox (issue 17), each by the real worker (a child process running
 * `node --max-semi-space-size=4 --max-old-space-size=384 src/main/worker.ts` as in production: fetch -> parse on worker
 * threads -> store in PostgreSQL), against the raw
 * pipeline (imapflow fetch + mailparser simpleParser, no storage) on the same machine, same run.
 *
 *   npx tsx bench/sync.ts [sizes=10000,50000] [parser threads=availableParallelism] [--first-page]
 *
 * `--first-page`: per size, only the time from adding an account to its first page (stored, analysed),
 * A/B in one run: the account added as before issue 17's fix (`tick`: row, then the scheduler, whose
 * first tick the worker turns into the sync) and by `Accounts.create` (`direct`: row and first sync
 * in one transaction), BENCH_FIRST_PAGE_ROUNDS rounds (default 3) of each, alternating, each with a
 * fresh idle worker; then the medians (bench/support/firstPage.ts). No raw pipeline (the warm-up
 * fetch stays), no wait for the rest. BENCH_TRACE=1 adds the worker's spans up to the first page
 * (its OTLP export goes to a sink in this process; the spans carry the worker's own clock).
 * The IMAP timing proxy (BENCH_IMAP_TIMELINE=1, bench/support/imapTimeline.ts) is no longer used by
 * `--first-page`: it ran in this process, whose synchronous psql polls held each command and answer
 * back (~300 ms a round trip), so its times showed the order, not the cost.
 *
 * Per size: the time to the first page (the newest 200 messages of INBOX) stored and analysed, each
 * stage's finish time (stored, searchable, analysed, embedded, rules applied) and "fully processed",
 * the failed job attempts (deadlocks and other retried failures: must be 0), the worker's peak RSS
 * and its RSS once idle again (and by kind: V8 heap pages, malloc, mapped files). The worker gets production's glibc
 * malloc settings (MALLOC_ARENA_MAX=2, MALLOC_TRIM_THRESHOLD_=131072; BENCH_WORKER_MALLOC=default drops them). At the end: 50,000 against 10,000 (time and peak RSS ratios).
 *
 * Prints messages/s of both, the ratio, the worker's stage times and its peak RSS (VmHWM of the
 * worker process, parser threads included). The full-text vectors are not part of the sync (it
 * defers them, migration 0050): the bench also waits for the search.index job the sync queues and
 * prints when the mailbox became searchable by words. Then it APPENDs 250 new messages and times the
 * incremental sync that picks them up, as a periodic sync of a large mailbox would.
 */
import type { ChildProcess } from "node:child_process"
import * as os from "node:os"
import { type Duration, Effect, Layer, Redacted, Schema } from "effect"
import { simpleParser } from "mailparser"
import { AccountId } from "../src/contract/accounts/Account.ts"
import { Accounts } from "../src/accounts/Accounts.ts"
import { AccountsLive } from "../src/accounts/AccountsLive.ts"
import { VerifyThrottle } from "../src/accounts/VerifyThrottle.ts"
import { AccountStore } from "../src/accounts/AccountStore.ts"
import { JobKinds } from "../src/jobs/JobKinds.ts"
import { Jobs } from "../src/jobs/Jobs.ts"
import { JobsLive, PlatformLive } from "../src/main/layers.ts"
import { MailSyncJob } from "../src/contract/jobs/MailSyncJob.ts"
import { UserId } from "../src/contract/users/UserId.ts"
import { startDovecot } from "../test/harness/dovecot.ts"
import { generateMessages } from "../test/harness/mailgen.ts"
import { memoryBreakdown, memoryOf, pidByCommandLine, processCpu, processTreeCpu, threadCpu } from "./support/cpu.ts"
import { benchEnvironment, rate } from "./support/environment.ts"
import { type FirstPageRun, firstPageRun, spanSink, type Variant } from "./support/firstPage.ts"
import { fetchAllRaw, messageRateLine, openRawInbox, seedInbox } from "./support/mailbox.ts"
import { startWorkerProcess, stopWorkerProcess } from "./support/worker.ts"

const positional = process.argv.slice(2).filter((arg) => !arg.startsWith("--"))
/** Only the first page of each size (see the header). */
const firstPageOnly = process.argv.includes("--first-page")
/** BENCH_SKIP_RAW=1: no raw fetch + parse pass (minutes on a loaded machine); the ratios to it are then meaningless. */
const skipRaw = firstPageOnly || process.env["BENCH_SKIP_RAW"] !== undefined
const sizes = (positional[0] ?? "10000,50000").split(",").map(Number)
/** The first screen: the newest messages of INBOX the sync stores (and queues for analysis) first. */
const FIRST_PAGE = 200
const threads = Number(positional[1] ?? os.availableParallelism())
/** New messages for the incremental sync after the initial one. */
const INCREMENTAL = 250
const userFor = (size: number) => `bench${size}`
const PASS = "bench-Passw0rd"

const line = messageRateLine(52)

/** CPU time of the PostgreSQL backends serving a database (they live as long as the pool's connections). */
const backendCpu = (psql: (query: string) => string, database: string): Map<number, number> =>
  new Map(
    psql(`SELECT pid FROM pg_stat_activity WHERE datname = '${database}' AND pid <> pg_backend_pid()`)
      .split("\n")
      .filter((line) => line.trim() !== "")
      .map((line) => [Number(line), processCpu(Number(line))] as const)
  )

const startWorker = async (env: Record<string, string>): Promise<ChildProcess> => {
  // as production runs it (Dockerfile, docker-compose.yml, deploy/): Node's own type stripping, the
  // young-generation flag (bench/support/worker.ts); BENCH_WORKER_FLAGS adds more (e.g. --max-old-space-size=160)
  const worker = await startWorkerProcess({
    env: {
      ...env,
      MIME_PARSER_THREADS: String(threads),
      // glibc malloc as production sets it (Dockerfile ENV, deploy/, npm run worker);
      // BENCH_WORKER_MALLOC=default leaves glibc's defaults, for an A/B
      ...(process.env["BENCH_WORKER_MALLOC"] === "default"
        ? {}
        : { MALLOC_ARENA_MAX: "2", MALLOC_TRIM_THRESHOLD_: "131072" })
    },
    flags: (process.env["BENCH_WORKER_FLAGS"] ?? "").split(" ").filter(Boolean),
    startTimeoutMs: 180_000
  })
  // BENCH_WORKER_LOG=text: echo the worker's log lines that contain it (e.g. "malloc_trim": when the idle trim ran)
  const echo = process.env["BENCH_WORKER_LOG"]
  if (echo !== undefined && echo !== "") {
    let partial = ""
    worker.child.stdout?.on("data", (chunk: Buffer) => {
      const lines = (partial + chunk.toString("utf8")).split("\n")
      partial = lines.pop() ?? ""
      for (const logLine of lines) if (logLine.includes(echo)) console.log(`  worker log: ${logLine}`)
    })
  }
  return worker.child
}

/** Graceful stop (SIGTERM), SIGKILL after 30 s (at once with `--first-page`: the sync is still running). */
const stopWorker = (child: ChildProcess): Promise<void> =>
  stopWorkerProcess(
    child,
    firstPageOnly && !(process.env["BENCH_WORKER_FLAGS"] ?? "").includes("--cpu-prof") ? 0 : 30_000
  )

const JobRow = Schema.Struct({ state: Schema.String, result: Schema.NullOr(Schema.Unknown) })

/** What one size's run measured, for the comparison at the end. */
interface SizeResult {
  readonly size: number
  readonly syncRate: number
  readonly rawRate: number
  readonly fullyProcessedMs: number
  readonly peakMb: number
  readonly idleAfterMb: number
  readonly idleBeforeMb: number
  readonly failedAttempts: number
}

const loadAverage = () =>
  os
    .loadavg()
    .map((n) => n.toFixed(2))
    .join(" ")

const main = Effect.gen(function* () {
  console.log(
    `sync: ${sizes.join(" and ")} messages, ${os.availableParallelism()} cores, parser pool of ${threads} threads, node ${process.version}`
  )
  console.log(`load average at start: ${loadAverage()}`)
  const bench = yield* benchEnvironment("sync")
  const server = yield* Effect.acquireRelease(
    Effect.promise(() => startDovecot({ users: sizes.map((size) => ({ user: userFor(size), pass: PASS })) })),
    (s) => Effect.promise(() => s.stop())
  )
  // Dovecot's CPU is part of what a sync costs the machine
  const dovecotPid = pidByCommandLine(`${server.root}/dovecot.conf`)
  const dovecotCpuNow = () => (dovecotPid === undefined ? Number.NaN : processTreeCpu(dovecotPid))
  const platform = Accounts.layer.pipe(
    Layer.provide(VerifyThrottle.layer),
    Layer.provideMerge(AccountsLive),
    Layer.provideMerge(JobsLive),
    Layer.provideMerge(PlatformLive),
    Layer.provide(bench.config)
  )
  const results: Array<SizeResult> = []
  for (const count of sizes) {
    console.log(`\n==== ${count} messages (load average ${loadAverage()})`)
    const result = yield* runSize(count, bench, server, dovecotCpuNow).pipe(Effect.provide(platform))
    if (result !== null) results.push(result)
  }
  if (firstPageOnly) {
    printFirstPageSummary(firstPageResults)
    console.log(`load average at end: ${loadAverage()}`)
    return
  }
  console.log("\n==== summary")
  for (const r of results) {
    console.log(
      `${String(r.size).padStart(6)}: sync ${r.syncRate} msg/s (raw fetch+parse bound ${r.rawRate} msg/s, ratio ${(r.syncRate / r.rawRate).toFixed(2)}), ` +
        `fully processed ${(r.fullyProcessedMs / 1000).toFixed(1)} s (${rate(r.size, r.fullyProcessedMs)} msg/s), ` +
        `worker RSS idle ${r.idleBeforeMb} MB, peak ${r.peakMb} MB, idle after ${r.idleAfterMb} MB, failed job attempts ${r.failedAttempts}`
    )
  }
  const small = results[0]
  const large = results.at(-1)
  if (small !== undefined && large !== undefined && large !== small) {
    console.log(
      `${large.size} / ${small.size}: ${(large.size / small.size).toFixed(1)}x the mail, fully processed in ${(large.fullyProcessedMs / small.fullyProcessedMs).toFixed(2)}x the time, peak RSS ${((large.peakMb / small.peakMb - 1) * 100).toFixed(1)} % higher`
    )
  }
  console.log(`load average at end: ${loadAverage()}`)
})

const runSize = (
  count: number,
  bench: Effect.Success<ReturnType<typeof benchEnvironment>>,
  server: Effect.Success<ReturnType<typeof startDovecotEffect>>,
  dovecotCpuNow: () => number
) =>
  Effect.gen(function* () {
    const USER = userFor(count)
    line("seed Maildir files", count, yield* Effect.promise(() => seedInbox(server, USER, count)))

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
        if (skipRaw) return { parsed: 0, ms: 0, cpuMs: 0, dovecotMs: 0 }
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
    if (firstPageOnly) {
      yield* firstPageRounds(count, bench, server)
      return null
    }
    if (!skipRaw) line("raw: imapflow fetch + simpleParser (1 core, no storage)", raw.parsed, raw.ms)
    if (!skipRaw)
      console.log(
        `  CPU per message: ${(raw.cpuMs / raw.parsed).toFixed(2)} ms in this process (about ${Math.round((1000 * raw.parsed) / raw.cpuMs)} msg/s on one idle core), Dovecot ${(raw.dovecotMs / raw.parsed).toFixed(2)} ms`
      )

    // ---- the real worker
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
    const idleParts = memoryBreakdown(pid)
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
    // the database's clock at the submit (per job kind: first start, last finish)
    const databaseStart = Number(bench.psql("SELECT round(extract(epoch FROM clock_timestamp()) * 1000)"))
    const started = performance.now()
    const since = () => performance.now() - started
    const submitted = yield* jobs.submit(MailSyncJob, { accountId: account.id }, { ownerId: owner })
    // the statements PostgreSQL is running (with what they wait for) at each poll, sync and follow-ups
    const activeStatements = new Map<string, number>()
    let statementSamples = 0
    const sampleStatements = () => {
      statementSamples++
      for (const statement of bench
        .psql(
          `SELECT coalesce(wait_event_type || ':' || wait_event, 'cpu') || ' ' || regexp_replace(left(query, 100), '\\s+', ' ', 'g') FROM pg_stat_activity WHERE datname = '${database}' AND state = 'active' AND pid <> pg_backend_pid()`
        )
        .split("\n")
        .filter((s) => s !== "")) {
        activeStatements.set(statement, (activeStatements.get(statement) ?? 0) + 1)
      }
    }
    let peakSampled = idle.current
    const timeline: Array<string> = []
    // the first screen: the newest FIRST_PAGE messages of INBOX (the highest UIDs), stored and analysed
    const firstPage = Math.min(FIRST_PAGE, count)
    let firstStored: number | null = null
    let firstAnalysed: number | null = null
    const watchFirstPage = () => {
      if (firstAnalysed !== null) return
      // a fresh Maildir numbers its messages 1..count: the newest are the highest UIDs
      const [stored, analysed] = bench
        .psql(
          `SELECT count(*), count(*) FILTER (WHERE e.analysis_state <> 'pending')
           FROM mailboxes m JOIN emails e ON e.mailbox_id = m.id AND e.uid > ${count - firstPage}
           WHERE m.account_id = '${account.id}' AND m.path = 'INBOX'`
        )
        .split("|")
        .map(Number)
      if (firstStored === null && stored === firstPage) firstStored = since()
      if (firstStored !== null && analysed === firstPage) firstAnalysed = since()
    }
    for (;;) {
      yield* Effect.sleep(firstAnalysed === null ? "20 millis" : "100 millis")
      watchFirstPage()
      sampleStatements()
      const now = memoryOf(pid).current
      peakSampled = Math.max(peakSampled, now)
      if (process.env["BENCH_RSS_TIMELINE"] !== undefined) {
        timeline.push(
          `${(since() / 1000).toFixed(1)}s ${Math.round(now / 1024)}MB ${bench.psql(`SELECT coalesce(progress->>'done', '-') FROM jobs WHERE id = '${submitted.jobId}'`)}`
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
      if (row.state !== "succeeded") continue
      const wall = since()
      const workerCpu = processCpu(pid) - workerCpuBefore
      const pgCpu = pgCpuSince(pgCpuBefore)
      // the session's imap process has ended (LOGOUT) and been reaped: it is in the master's cutime
      yield* Effect.sleep("200 millis")
      const dovecotCpu = dovecotCpuNow() - dovecotCpuBefore
      const result = yield* Schema.decodeUnknownEffect(MailSyncJob.result)(row.result)
      const stored = Number(bench.psql(`SELECT count(*) FROM emails WHERE account_id = '${account.id}'`))
      if (stored !== count) return yield* Effect.die(new Error(`stored ${stored}, expected ${count}`))
      if (timeline.length > 0) console.log(`  RSS timeline: ${timeline.join(", ")}`)
      line(`worker: sync job, submit to succeeded`, stored, wall)
      line(`worker: sync job, its own duration`, stored, result.durationMillis)
      console.log(
        `  stages (busy time, overlapping): fetch ${(result.stageMillis.fetch / 1000).toFixed(2)} s, parse ${(result.stageMillis.parse / 1000).toFixed(2)} s, store ${(result.stageMillis.store / 1000).toFixed(2)} s`
      )
      const perMessage = (ms: number) => (ms / stored).toFixed(2)
      const threadTimes = [...threadCpu(pid)]
        .map(([name, cpu]) => [name, cpu - (threadsBefore.get(name) ?? 0)] as const)
        .filter(([, cpu]) => cpu / stored >= 0.05)
        .sort((a, b) => b[1] - a[1])
      console.log(
        `  worker threads, CPU ms per message (sync, and the analysis/embedding/index work that overlapped it): ${threadTimes.map(([name, cpu]) => `${name.replace(/#\d+$/, "")} ${perMessage(cpu)}`).join(", ")}`
      )
      console.log(
        `  CPU per message: worker process ${perMessage(workerCpu)} ms (main thread + parser threads), PostgreSQL ${perMessage(pgCpu)} ms, Dovecot ${perMessage(dovecotCpu)} ms; ` +
          `on an idle machine with ${os.availableParallelism()} cores that bounds the sync at about ${Math.round((os.availableParallelism() * 1000 * stored) / (workerCpu + pgCpu + dovecotCpu))} msg/s`
      )

      // ---- the pipeline behind the sync: each stage's finish time, "fully processed" = the last
      // probes of the pending-work partial indexes (a count over the whole mailbox every poll would
      // be a load of its own)
      const pending = (condition: string) =>
        `(SELECT count(*) FROM (SELECT 1 FROM emails WHERE user_id = '${owner}' AND ${condition} LIMIT 1) p)`
      const stageQuery = `SELECT
          ${pending("search_vector IS NULL")},
          ${pending("canonical AND analysis_state = 'pending'")},
          ${pending("canonical AND embedding_state = 'pending'")},
          (SELECT count(*) FROM jobs WHERE user_id = '${owner}' AND kind = 'rules.apply' AND state IN ('queued', 'running', 'retrying')),
          (SELECT count(*) FROM jobs WHERE user_id = '${owner}' AND state IN ('queued', 'running', 'retrying'))`
      const finished: Record<string, number> = { stored: wall }
      // after the sync: CPU of the worker's threads and of PostgreSQL while only follow-up work runs
      // (analysis, embeddings, rules), and the statements PostgreSQL was running at each poll
      const afterSyncThreads = threadCpu(pid)
      const afterSyncWorker = processCpu(pid)
      const afterSyncPg = backendCpu(bench.psql, database)
      // BENCH_FOLLOWUP_TIMELINE: every ~5 s after the sync, messages analysed and embedded so far and the
      // CPU the worker's main thread and PostgreSQL spent in that interval (a share of one core)
      const followUpTimeline: Array<string> = []
      const mainThreadCpu = () => {
        let total = 0
        for (const [name, cpu] of threadCpu(pid))
          if (name.startsWith("MainThread") || name.startsWith("node")) total += cpu
        return total
      }
      let tick = { at: since(), main: mainThreadCpu(), pg: pgCpuSince(afterSyncPg) }
      const doneCounts = () =>
        bench.psql(
          `SELECT count(*) FILTER (WHERE analysis_state <> 'pending'), count(*) FILTER (WHERE embedding_state <> 'pending') FROM emails WHERE user_id = '${owner}' AND canonical`
        )
      if (process.env["BENCH_FOLLOWUP_TIMELINE"] !== undefined)
        followUpTimeline.push(`${(tick.at / 1000).toFixed(1)}s ${doneCounts()}`)
      for (;;) {
        sampleStatements()
        if (process.env["BENCH_FOLLOWUP_TIMELINE"] !== undefined && since() - tick.at >= 5000) {
          const next = { at: since(), main: mainThreadCpu(), pg: pgCpuSince(afterSyncPg) }
          const interval = next.at - tick.at
          followUpTimeline.push(
            `${(next.at / 1000).toFixed(1)}s ${doneCounts()} main ${Math.round((100 * (next.main - tick.main)) / interval)}% pg ${Math.round((100 * (next.pg - tick.pg)) / interval)}%`
          )
          tick = next
        }
        watchFirstPage()
        peakSampled = Math.max(peakSampled, memoryOf(pid).current)
        const [unindexed, unanalysed, unembedded, rulesActive, active] = bench.psql(stageQuery).split("|").map(Number)
        const at = since()
        const mark = (stage: string, done: boolean) => {
          if (done) finished[stage] ??= at
          else delete finished[stage]
        }
        mark("searchable", unindexed === 0)
        mark("analysed", unanalysed === 0)
        mark("embedded", unembedded === 0)
        mark("rules applied", unanalysed === 0 && rulesActive === 0)
        if (active === 0 && unindexed === 0 && unanalysed === 0 && unembedded === 0) break
        yield* Effect.sleep("250 millis")
      }
      const fullyProcessed = Math.max(...Object.values(finished))
      const followUpThreads = [...threadCpu(pid)]
        .map(([name, cpu]) => [name, cpu - (afterSyncThreads.get(name) ?? 0)] as const)
        .filter(([, cpu]) => cpu / stored >= 0.05)
        .sort((a, b) => b[1] - a[1])
      console.log(
        `  after the sync (${((fullyProcessed - wall) / 1000).toFixed(1)} s of follow-up work), CPU ms per message: worker ${perMessage(processCpu(pid) - afterSyncWorker)} (${followUpThreads.map(([name, cpu]) => `${name.replace(/#\d+$/, "")} ${perMessage(cpu)}`).join(", ")}), PostgreSQL ${perMessage(pgCpuSince(afterSyncPg))}`
      )
      // per job kind: jobs, their messages (from the result), busy (started -> finished) and waiting (created -> started)
      if (followUpTimeline.length > 0)
        console.log(`  follow-up timeline (t analysed|embedded, CPU share of one core): ${followUpTimeline.join(", ")}`)
      console.log(
        "  per job kind (ms after the submit; busy = sum of started->finished, wait = sum of created->started):"
      )
      for (const row of bench
        .psql(
          `SELECT kind, count(*), coalesce(sum(coalesce((result->>'analysed')::int, 0) + coalesce((result->>'failed')::int, 0) + coalesce((result->>'embedded')::int, 0)), 0),
             round(sum(extract(epoch FROM finished_at - started_at)) * 1000), round(sum(extract(epoch FROM started_at - created_at)) * 1000),
             round(extract(epoch FROM min(started_at)) * 1000 - ${databaseStart}), round(extract(epoch FROM max(finished_at)) * 1000 - ${databaseStart}),
             max(attempts)
           FROM jobs WHERE user_id = '${owner}' GROUP BY kind ORDER BY kind`
        )
        .split("\n")
        .filter((l) => l !== "")) {
        const [kind, n, messages, busy, wait, first, last, attempts] = row.split("|")
        console.log(
          `    ${kind}: ${n} jobs, ${messages} messages (result), busy ${(Number(busy) / 1000).toFixed(1)} s, waiting ${(Number(wait) / 1000).toFixed(1)} s, first start ${first} ms, last finish ${last} ms, max attempts ${attempts}`
        )
      }
      console.log(
        `  PostgreSQL statements active at ${statementSamples} polls (sync and follow-ups; count, wait event, statement):`
      )
      for (const [statement, n] of [...activeStatements].sort((a, b) => b[1] - a[1]).slice(0, 16)) {
        console.log(`    ${n} ${statement}`)
      }
      if (firstStored !== null) line(`first page (newest ${firstPage}): stored and listed`, firstPage, firstStored)
      else console.log("  first page: not observed")
      if (firstAnalysed !== null) line(`first page (newest ${firstPage}): analysed`, firstPage, firstAnalysed)
      for (const [stage, at] of Object.entries(finished).sort((a, b) => a[1] - b[1])) {
        line(`finished: ${stage}`, stored, at)
      }
      line("fully processed (stored, searchable, analysed, embedded, rules applied)", stored, fullyProcessed)
      const indexJob = bench.psql(
        `SELECT coalesce(round(sum(extract(epoch FROM finished_at - started_at) * 1000)), 0) FROM jobs WHERE kind = 'search.index' AND user_id = '${owner}'`
      )
      console.log(`  search.index busy ${(Number(indexJob) / 1000).toFixed(2)} s in all (its jobs overlapped the sync)`)
      // every attempt that did not succeed (a deadlock, a timeout...) was retried: there must be none
      const failedAttempts = Number(
        bench.psql(
          `SELECT coalesce(sum(attempts), 0) - count(*) FILTER (WHERE state = 'succeeded') FROM jobs WHERE user_id = '${owner}'`
        )
      )
      const failures = bench.psql(
        `SELECT string_agg(DISTINCT kind || ': ' || coalesce(error_message, '?'), '; ') FROM jobs WHERE user_id = '${owner}' AND attempts > 1`
      )
      console.log(`  failed job attempts during the run: ${failedAttempts}${failures === "" ? "" : ` (${failures})`}`)
      const peak = memoryOf(pid).peak
      // idle again: what the worker keeps once the sync and its follow-ups are done (V8 gives memory
      // back to the system some seconds into idleness, its memory reducer: 5 s and 30 s)
      console.log(`  everything finished at ${new Date().toISOString()}`)
      yield* Effect.sleep("5 seconds")
      const idleAfter5 = memoryOf(pid).current
      yield* Effect.sleep("25 seconds")
      const idleAfter = memoryOf(pid).current
      const idleAfterParts = memoryBreakdown(pid)
      const parts = (p: ReturnType<typeof memoryBreakdown>) =>
        `V8 pages ${p.v8Pages}, malloc ${p.malloc}, files ${p.files}, other ${p.other}`
      console.log(
        `  worker RSS: idle ${Math.round(idle.current / 1024)} MB, peak ${Math.round(peak / 1024)} MB (VmHWM; sampled max ${Math.round(peakSampled / 1024)} MB), idle again ${Math.round(idleAfter5 / 1024)} MB 5 s and ${Math.round(idleAfter / 1024)} MB 30 s after everything finished`
      )
      console.log(
        `  worker RSS by kind (MB): idle before: ${parts(idleParts)}; idle 30 s after: ${parts(idleAfterParts)}`
      )

      // ---- a periodic sync's case: a few hundred new messages in the now large mailbox
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
      line(`worker: incremental sync, ${INCREMENTAL} new into ${stored}`, INCREMENTAL, incrementalWall)
      console.log(
        `  PostgreSQL CPU per new message: ${(pgIncremental / INCREMENTAL).toFixed(2)} ms (every backend of the database)`
      )
      const syncRate = rate(count, result.durationMillis)
      const rawRate = rate(raw.parsed, raw.ms)
      console.log(
        `ratio worker / raw: ${(syncRate / rawRate).toFixed(2)} (job duration), ${(rate(count, wall) / rawRate).toFixed(2)} (submit to done)`
      )
      return {
        size: count,
        syncRate,
        rawRate,
        fullyProcessedMs: fullyProcessed,
        peakMb: Math.round(peak / 1024),
        idleAfterMb: Math.round(idleAfter / 1024),
        idleBeforeMb: Math.round(idle.current / 1024),
        failedAttempts
      } satisfies SizeResult
    }
  }).pipe(Effect.scoped)

/** `--first-page`: rounds of each variant per size (bench/support/firstPage.ts), for the summary at the end. */
const firstPageResults: Array<{ readonly size: number; readonly run: FirstPageRun }> = []
const ROUNDS = Number(process.env["BENCH_FIRST_PAGE_ROUNDS"] ?? "3")

const firstPageRounds = (
  count: number,
  bench: Effect.Success<ReturnType<typeof benchEnvironment>>,
  server: Effect.Success<ReturnType<typeof startDovecotEffect>>
) =>
  Effect.gen(function* () {
    // BENCH_TRACE=1: the worker's spans (OTLP/HTTP JSON) to a sink in this process
    const sink = process.env["BENCH_TRACE"] === "1" ? yield* spanSink() : null
    const env = {
      ...bench.env,
      ...(sink === null
        ? {}
        : { OTEL_EXPORTER_OTLP_ENDPOINT: sink.url, OTEL_LOGS_EXPORTER: "none", OTEL_BSP_SCHEDULE_DELAY: "100" })
    }
    for (let round = 1; round <= ROUNDS; round++) {
      const order: ReadonlyArray<Variant> = round % 2 === 1 ? ["tick", "direct"] : ["direct", "tick"]
      for (const variant of order) {
        const run = yield* Effect.scoped(
          Effect.gen(function* () {
            const worker = yield* Effect.acquireRelease(
              Effect.promise(() => startWorker(env)),
              (child) => Effect.promise(() => stopWorker(child))
            )
            return yield* firstPageRun({
              variant,
              worker,
              server,
              user: userFor(count),
              pass: PASS,
              count,
              firstPage: Math.min(FIRST_PAGE, count),
              psql: bench.psql,
              spans: sink?.spans ?? null
            })
          })
        )
        // the killed worker's jobs (the sync, its follow-ups) would be handed to the next worker once
        // their locks expire and compete with the next account: every queue of the bench is emptied
        const jobs = yield* Jobs
        for (const kind of (yield* JobKinds).all) {
          const queue = yield* Effect.orDie(jobs.queue(kind.name))
          yield* Effect.promise(() => queue.obliterate({ force: true }))
        }
        firstPageResults.push({ size: count, run })
        const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`
        console.log(
          `  round ${round} ${variant.padEnd(6)}: create answered ${s(run.created)}, first page stored ${s(run.stored)} (${s(run.stored - run.created)} after the answer), analysed ${s(run.analysed)} (${s(run.analysed - run.created)}); worker CPU ${Math.round(run.workerCpuStored)} / ${Math.round(run.workerCpuAnalysed)} ms (load ${loadAverage()})`
        )
        console.log(
          `    ms after the create's start: ${run.breakdown.map(([what, ms]) => `${what} ${ms ?? "-"}`).join(", ")}`
        )
        for (const span of run.spans) console.log(`    ${span}`)
      }
    }
  })

const median = (values: ReadonlyArray<number>) => {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? (sorted[middle] ?? 0) : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2
}

const printFirstPageSummary = (results: ReadonlyArray<{ readonly size: number; readonly run: FirstPageRun }>) => {
  console.log("\n==== first page, medians (s after the create's start; after its answer in brackets; worker CPU ms)")
  for (const size of [...new Set(results.map((r) => r.size))]) {
    for (const variant of ["tick", "direct"] as const) {
      const runs = results.filter((r) => r.size === size && r.run.variant === variant).map((r) => r.run)
      if (runs.length === 0) continue
      const s = (f: (run: FirstPageRun) => number) => (median(runs.map(f)) / 1000).toFixed(2)
      console.log(
        `${String(size).padStart(6)} ${variant.padEnd(6)} (${runs.length} runs): create ${s((r) => r.created)}, stored ${s((r) => r.stored)} (${s((r) => r.stored - r.created)}), analysed ${s((r) => r.analysed)} (${s((r) => r.analysed - r.created)}); worker CPU to stored ${Math.round(median(runs.map((r) => r.workerCpuStored)))}, to analysed ${Math.round(median(runs.map((r) => r.workerCpuAnalysed)))}`
      )
    }
  }
}

const startDovecotEffect = (users: Parameters<typeof startDovecot>[0]) => Effect.promise(() => startDovecot(users))

Effect.runPromise(Effect.scoped(main)).catch((error: unknown) => {
  console.error(error)
  process.exitCode = 1
})
