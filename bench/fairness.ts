/**
 * Two modes, each run with fair share on and with plain FIFO (JOB_FAIR_SHARE=false) in one run.
 *
 * `imap` (issue 15's benchmark): user A's initial sync of a large mailbox (real Dovecot, seeded as
 * Maildir files; the real worker as a child process: sync, analysis, embeddings, search index,
 * rules) while `others` users each get one new message per second: APPENDed to their Dovecot INBOX,
 * and the worker's watchers (WATCH_ENABLED=true, WATCH_OWNERSHIP=local) take it from there as for users.
 * Each other user has one rule (subject contains "fresh": flag). Per fresh message, from its
 * APPEND's answer ("arrived on the server") to: stored (emails.created_at), analysed
 * (email_analysis.analysed_at), rules applied (rule_runs.created_at); p50/p95/p99 of each. A's total:
 * her first job (her watcher's catch-up sync, the initial sync) to her mail fully analysed and
 * embedded, no job of hers left. Also per kind and class, A's jobs apart from the others': wait
 * (created -> started) and run (started -> finished), and the worker's event-loop delay.
 *
 *   npx tsx bench/fairness.ts imap [aMessages=20000] [others=10] [arrivalSeconds=90]
 *   BENCH_BASELINE_ENV=IMAP_SESSION_IDLE_MS=0 npx tsx bench/fairness.ts imap ...   (an A/B in one run)
 *   JOB_CONCURRENCY="mail.sync=8 mail.analyze=4" BENCH_BASELINE_ENV="JOB_CONCURRENCY=" npx tsx bench/fairness.ts imap ...
 *   BENCH_FAIR_ONLY=true npx tsx bench/fairness.ts imap ...   (the fair-share run alone: tree A/Bs back to back)
 *   BENCH_ARRIVALS=spread npx tsx bench/fairness.ts imap ...   (the others' messages staggered over each second,
 *     not all at once)
 *   BENCH_WORKER_FLAGS="--cpu-prof --cpu-prof-dir=/tmp/prof" npx tsx bench/fairness.ts imap ...   (a CPU profile
 *     per worker: fair share's and FIFO's, to compare where the CPU goes)
 *
 * BENCH_BASELINE_ENV (NAME=value[,NAME=value]): the worker's setting to compare; fair share and FIFO run
 * with it first, then as configured, and both tables and ratios are printed.
 *
 * arrivalSeconds: how long the others get mail, the same in both runs (like with like: the others'
 * load does not grow with A's run, so A's totals compare the same work); `auto` = until A's work is
 * done (at most 240 s: the run that keeps A longer then also carries more of the others' mail).
 * Also printed per run: the yields (job_yields_total by kind: attempts that gave their slot to
 * interactive work and ran again from their checkpoint), apart from A's total.
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
import * as os from "node:os"
import { Effect, Layer, Redacted } from "effect"
import { ImapFlow } from "imapflow"
import { AccountsLive } from "../src/accounts/AccountsLive.ts"
import { AccountStore } from "../src/accounts/AccountStore.ts"
import { AccountId } from "../src/contract/accounts/Account.ts"
import { startDovecot } from "../test/harness/dovecot.ts"
import { seedInbox } from "./support/mailbox.ts"
import { PingJob } from "../src/contract/jobs/PingJob.ts"
import { UserId } from "../src/contract/users/UserId.ts"
import { Jobs } from "../src/jobs/Jobs.ts"
import { JobsLive, PlatformLive } from "../src/main/layers.ts"
import { WorkerLive } from "../src/main/workerLayers.ts"
import { SystemDatabase } from "../src/platform/Database.ts"
import { cpuPerUnit, cpuSnapshot, machineBusy, postgresCpuMs, processTreeCpu } from "./support/cpu.ts"
import { benchEnvironment } from "./support/environment.ts"
import { startWorkerProcess, stopWorkerProcess } from "./support/worker.ts"

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
const arrivalSeconds = modeArgs[2] === "auto" ? undefined : Number(modeArgs[2] ?? 90)
const PASS = "bench-Passw0rd"
/**
 * BENCH_ARRIVALS: `together` (default) APPENDs every other user's message of a second at the same
 * moment, a burst of `others` syncs each second (the harshest reading of "each gets mail every
 * second"); `spread` staggers them evenly over the second, as independent users' mail would come.
 */
const spreadArrivals = process.env["BENCH_ARRIVALS"] === "spread"
/** BENCH_WORKERS: worker processes (default 1; the first runs the watchers). */
const extraWorkerCount = Number(process.env["BENCH_WORKERS"] ?? 1) - 1

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

const imapScenario = (fairShare: boolean, extraEnv: Record<string, string> = {}, variant = "") =>
  Effect.scoped(
    Effect.gen(function* () {
      const label = `${fairShare ? "fair_on" : "fair_off"}${variant}`
      const bench = yield* benchEnvironment(`imap_${label}`, {
        JOB_FAIR_SHARE: String(fairShare),
        JOB_SUBMIT_RATE_PER_MINUTE: "0",
        ...extraEnv
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
        // the worker with watchers (WATCH_OWNERSHIP=local: this one worker watches every account): the
        // others' mail reaches the worker as it reaches users, through IDLE/NOTIFY and the watchers'
        // targeted syncs (src/watch/: a change a de-duplicated submit did not queue is asked for
        // again, so no message waits for a later one). A's initial sync is her watcher's first
        // catch-up sync: A's clock starts with her first job.
        const worker = yield* Effect.acquireRelease(
          Effect.promise(() =>
            startWorkerProcess({ env: { ...bench.env, WATCH_ENABLED: "true", WATCH_OWNERSHIP: "local" } })
          ),
          (w) => Effect.promise(() => stopWorkerProcess(w.child))
        )
        // BENCH_WORKERS=n: n-1 more worker processes beside it, without watchers (more event loops
        // for the same jobs; their CPU counts in the worker's)
        const extraWorkers = yield* Effect.forEach(
          Array.from({ length: Math.max(0, extraWorkerCount) }, (_, n) => n),
          () =>
            Effect.acquireRelease(
              Effect.promise(() => startWorkerProcess({ env: { ...bench.env, WATCH_ENABLED: "false" } })),
              (w) => Effect.promise(() => stopWorkerProcess(w.child))
            )
        )
        const workerPids = [worker, ...extraWorkers].map((w) => w.child.pid ?? 0)
        const workersCpu = () => workerPids.reduce((sum, pid) => sum + processTreeCpu(pid), 0)
        const cpuStart = workersCpu()
        const machineStart = { busy: machineBusy(), postgres: postgresCpuMs(), at: Date.now() }
        const metric = (name: string) =>
          Effect.promise(async () => {
            const reply = await fetch(`http://127.0.0.1:${worker.metricsPort}/metrics`).catch(() => null)
            if (reply === null || !reply.ok) return Number.NaN
            let sum = 0
            for (const line of (await reply.text()).split("\n")) {
              const match = /^([A-Za-z_:][\w:]*?)(\{[^}]*\})? (\S+)$/.exec(line)
              if (match?.[1] === name && match[3] !== undefined) sum += Number(match[3])
            }
            return sum
          })
        const othersOpen = () =>
          Number(
            bench.psql(
              `SELECT count(*) FROM jobs WHERE user_id <> '${a.owner}' AND state NOT IN ('succeeded', 'failed', 'cancelled')`
            )
          )
        // every account watched and the others' first (empty) syncs done: their mailboxes are known
        const readyDeadline = Date.now() + 120_000
        while (Date.now() < readyDeadline) {
          if ((yield* metric("watch_connections")) >= otherCount + 1 && othersOpen() === 0) break
          yield* Effect.sleep("200 millis")
        }
        // PostgreSQL transactions of the run (the worker's round trips: each user-scoped statement is one),
        // from here to the end of the drain
        const xacts = () =>
          Number(
            bench.psql("SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()")
          )
        const xactStart = xacts()
        const started = Number(
          bench.psql(
            `SELECT coalesce((extract(epoch FROM min(created_at)) * 1000)::bigint, 0) FROM jobs WHERE user_id = '${a.owner}'`
          )
        )
        const aLeft = () =>
          Number(
            bench.psql(
              `SELECT (SELECT count(*) FROM jobs WHERE user_id = '${a.owner}' AND state NOT IN ('succeeded', 'failed', 'cancelled'))
                + (SELECT count(*) FROM emails WHERE user_id = '${a.owner}' AND canonical
                     AND (analysis_state = 'pending' OR embedding_state = 'pending'))`
            )
          )
        const aStored = () => Number(bench.psql(`SELECT count(*) FROM emails WHERE user_id = '${a.owner}'`))

        // the others' mail: one message per user per second, APPENDed; the watchers do the rest
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
              // a socket timeout on a loaded machine (load 35) is an 'error' event: without a listener it
              // ended the bench; the APPEND that needed the connection fails and says so instead
              client.on("error", (error: Error) => console.error(`${other.name}'s APPEND connection: ${error.message}`))
              await client.connect()
              return client
            }),
            (client) => Effect.promise(() => client.logout().catch(() => undefined))
          )
        )
        const arrivals: Array<{ readonly owner: string; readonly messageId: string; readonly arrived: number }> = []
        const lags: Array<number> = []
        let aDoneAt: number | null = null
        const ticksFrom = Date.now()
        const deadline = ticksFrom + (arrivalSeconds ?? 240) * 1000
        for (let tick = 0; ; tick++) {
          const tickStart = Date.now()
          yield* Effect.forEach(
            others,
            (other, index) =>
              Effect.gen(function* () {
                const client = clients[index]
                if (client === undefined) return
                // BENCH_ARRIVALS=spread: user i's message comes i/others of the second later
                if (spreadArrivals) yield* Effect.sleep(Math.floor((index * 1000) / others.length))
                const messageId = `${other.name}.${tick}.${label}@fresh.example`
                const appended = yield* Effect.promise(() =>
                  client.append("INBOX", freshMessage(other.name, tick, messageId)).then(
                    () => true,
                    (error: unknown) => {
                      console.error(`${other.name}'s APPEND failed: ${String(error)}`)
                      return false
                    }
                  )
                )
                if (appended) arrivals.push({ owner: other.owner, messageId, arrived: Date.now() })
              }),
            { concurrency: "unbounded", discard: true }
          )
          // the worker's event-loop delay (p99 over its last 5 s)
          if (tick % 5 === 0) lags.push(yield* metric("nodejs_eventloop_lag_seconds"))
          if (aDoneAt === null && aStored() >= aMessages && aLeft() === 0) aDoneAt = Date.now()
          const now = Date.now()
          if (arrivalSeconds === undefined ? aDoneAt !== null || now > deadline : now > deadline) break
          yield* Effect.sleep(Math.max(0, 1000 - (now - tickStart)))
        }
        const ruled = () =>
          Number(
            bench.psql(
              `SELECT count(DISTINCT e.message_id) FROM rule_runs r JOIN emails e ON e.id = r.email_id WHERE r.user_id <> '${a.owner}'`
            )
          )
        // the last arrivals' rules, and A's work if the arrivals stopped first (bounded: 10 minutes)
        const drainDeadline = Date.now() + 600_000
        while (Date.now() < drainDeadline) {
          if (aDoneAt === null && aStored() >= aMessages && aLeft() === 0) aDoneAt = Date.now()
          if (aDoneAt !== null && (ruled() >= arrivals.length || othersOpen() === 0)) break
          yield* Effect.sleep("250 millis")
        }
        const workerCpuMs = workersCpu() - cpuStart
        const machineEnd = machineBusy()
        // the whole machine over the same span (every process: quiet runs only), and PostgreSQL's part
        const machine = {
          busyMs: machineEnd.ms - machineStart.busy.ms,
          postgresMs: postgresCpuMs() - machineStart.postgres,
          capacityMs: (Date.now() - machineStart.at) * machineEnd.cores
        }
        // the other backends' counters reach pg_stat_database within a second (PostgreSQL 15)
        yield* Effect.sleep("1500 millis")
        const transactions = xacts() - xactStart
        // the yields (attempts that gave their slot to interactive work and ran again), by kind
        const yields = yield* Effect.promise(async () => {
          const reply = await fetch(`http://127.0.0.1:${worker.metricsPort}/metrics`).catch(() => null)
          if (reply === null || !reply.ok) return "unknown"
          const found: Array<string> = []
          for (const line of (await reply.text()).split("\n")) {
            const match = /^job_yields_total\{[^}]*kind="([^"]+)"[^}]*\} (\S+)$/.exec(line)
            if (match !== null) found.push(`${match[1]} ${match[2]}`)
          }
          return found.length === 0 ? "none" : found.join(", ")
        })
        // per message: first stored, analysed, first rule run (epoch ms; empty when it never got there)
        const stagesOf = new Map(
          bench
            .psql(
              `SELECT e.message_id || '|' || coalesce((extract(epoch FROM min(e.created_at)) * 1000)::bigint::text, '')
                 || '|' || coalesce((extract(epoch FROM min(an.analysed_at)) * 1000)::bigint::text, '')
                 || '|' || coalesce((extract(epoch FROM min(r.created_at)) * 1000)::bigint::text, '')
               FROM emails e LEFT JOIN email_analysis an ON an.email_id = e.id LEFT JOIN rule_runs r ON r.email_id = e.id
               WHERE e.user_id <> '${a.owner}' GROUP BY e.message_id`
            )
            .split("\n")
            .filter((row) => row.includes("|"))
            .map((row) => {
              const [id, stored, analysed, rules] = row.split("|")
              const at = (text: string | undefined) => (text === undefined || text === "" ? Number.NaN : Number(text))
              return [(id ?? "").replace(/[<>]/g, ""), { stored: at(stored), analysed: at(analysed), rules: at(rules) }]
            })
        )
        const stage = (pick: (s: { stored: number; analysed: number; rules: number }) => number) =>
          arrivals
            .map((arrival) => {
              const found = stagesOf.get(arrival.messageId)
              return found === undefined ? Number.NaN : (pick(found) - arrival.arrived) / 1000
            })
            .filter((seconds) => Number.isFinite(seconds))
            .sort((x, y) => x - y)
        // where the time goes: each kind's wait (created -> started, the last attempt's start) and run
        // (started -> finished), A's jobs apart from the others', by class, from the clock's start on
        const jobTimings = bench.psql(
          `SELECT CASE WHEN user_id = '${a.owner}' THEN 'A' ELSE 'others' END || '|' || kind || '|' || coalesce(work_class, '-')
             || '|' || count(*)
             || '|' || round(percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM started_at - created_at))::numeric, 2)
             || '|' || round(percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM started_at - created_at))::numeric, 2)
             || '|' || round(percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM finished_at - started_at))::numeric, 2)
             || '|' || round(percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM finished_at - started_at))::numeric, 2)
             || '|' || round(max(extract(epoch FROM finished_at - started_at))::numeric, 2)
           FROM jobs WHERE started_at IS NOT NULL AND finished_at IS NOT NULL AND created_at >= to_timestamp(${started} / 1000.0)
           GROUP BY user_id = '${a.owner}', kind, work_class ORDER BY 1`
        )
        // the others' jobs per kind (all of them, from the clock's start) and their syncs by what they found:
        // new mail, only flag changes (the echo of their own rules' UID STORE, heard by the watcher), nothing
        const othersJobs = bench.psql(
          `SELECT kind || '|' || count(*) FROM jobs WHERE user_id <> '${a.owner}'
             AND created_at >= to_timestamp(${started} / 1000.0) GROUP BY kind ORDER BY kind`
        )
        const othersSyncs = bench.psql(
          `SELECT count(*) FILTER (WHERE (result->>'newMessages')::int > 0) || '|'
             || count(*) FILTER (WHERE (result->>'newMessages')::int = 0 AND (result->>'flagUpdates')::int > 0) || '|'
             || count(*) FILTER (WHERE (result->>'newMessages')::int = 0 AND (result->>'flagUpdates')::int = 0)
           FROM jobs WHERE user_id <> '${a.owner}' AND kind = 'mail.sync' AND state = 'succeeded'
             AND created_at >= to_timestamp(${started} / 1000.0)`
        )
        const failed = bench.psql(`SELECT count(*) FROM jobs WHERE state = 'failed'`)
        return {
          stored: stage((s) => s.stored),
          analysed: stage((s) => s.analysed),
          latencies: stage((s) => s.rules),
          arrivals: arrivals.length,
          aSeconds: aDoneAt === null ? Number.NaN : (aDoneAt - started) / 1000,
          aStored: aStored(),
          failed,
          workerCpuMs,
          transactions,
          machine,
          yields,
          lags: lags.filter((lag) => Number.isFinite(lag)).sort((x, y) => x - y),
          jobTimings,
          othersJobs,
          othersSyncs
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
  console.log(
    `imap: A ${aMessages} messages, ${otherCount} other users with 1 message/s each ` +
      (arrivalSeconds === undefined
        ? "until A's work is done (the runs' arrivals differ)"
        : `for ${arrivalSeconds} s in both runs (the same load beside A)`) +
      (spreadArrivals ? ", spread over each second" : ", all at once each second") +
      `; load ${load()}`
  )
  // the A/B of a setting (BENCH_BASELINE_ENV, e.g. IMAP_SESSION_IDLE_MS=0): fair share and FIFO with it
  // first, then as configured, in one run
  const baselineEnv = Object.fromEntries(
    (process.env["BENCH_BASELINE_ENV"] ?? "")
      .split(",")
      // NAME=value at the first "=": a value may hold "=" itself (JOB_CONCURRENCY=mail.sync=4)
      .map((pair) => {
        const at = pair.indexOf("=")
        return at <= 0 ? [] : [pair.slice(0, at).trim(), pair.slice(at + 1).trim()]
      })
      .flatMap(([name, value]) => (name === undefined || value === undefined ? [] : [[name, value]]))
  )
  const baselineLabel = Object.entries(baselineEnv)
    .map(([name, value]) => `${name}=${value}`)
    .join(" ")
  const baseline =
    baselineLabel === ""
      ? null
      : yield* Effect.gen(function* () {
          const fair = yield* imapScenario(true, baselineEnv, "_baseline")
          console.log(`load after fair share (${baselineLabel}): ${load()}`)
          const fifo = yield* imapScenario(false, baselineEnv, "_baseline")
          console.log(`load after FIFO (${baselineLabel}): ${load()}`)
          return { fair, fifo }
        })
  // BENCH_FAIR_ONLY=true: the fair-share run alone (an A/B of two trees back to back, twice as often)
  const fairOnly = process.env["BENCH_FAIR_ONLY"] === "true"
  const fair = yield* imapScenario(true)
  console.log(`load after fair share: ${load()}`)
  const fifo = fairOnly ? fair : yield* imapScenario(false)
  if (!fairOnly) console.log(`load after FIFO: ${load()}`)
  const spread = (values: ReadonlyArray<number>) =>
    `p50 ${percentile(values, 50).toFixed(2)} s, p95 ${percentile(values, 95).toFixed(2)} s, p99 ${percentile(values, 99).toFixed(2)} s`
  // the others' jobs per fresh message (arrivals), by kind, and their syncs by what they found
  const othersPerMessage = (figures: typeof fair) => {
    const perKind = figures.othersJobs
      .split("\n")
      .filter((line) => line.includes("|"))
      .map((line) => line.split("|"))
    const total = perKind.reduce((sum, [, n]) => sum + Number(n), 0)
    const per = (n: number) => (n / Math.max(1, figures.arrivals)).toFixed(2)
    const [withNew, flagsOnly, nothing] = figures.othersSyncs.split("|")
    return (
      `  others' jobs per fresh message: ${per(total)} (${perKind.map(([kind, n]) => `${kind} ${per(Number(n))}`).join(", ")}); ` +
      `worker CPU per fresh message ${(figures.workerCpuMs / Math.max(1, figures.arrivals)).toFixed(0)} ms, ` +
      `machine CPU ${(figures.machine.busyMs / Math.max(1, figures.arrivals)).toFixed(0)} ms (A's work included: run with a small A for the others' own cost); ` +
      `PostgreSQL transactions per fresh message ${(figures.transactions / Math.max(1, figures.arrivals)).toFixed(1)} (A's included); ` +
      `their syncs: ${withNew} stored new mail, ${flagsOnly} only flag changes, ${nothing} nothing new (the echo of their rules' own flag, or a re-ask)`
    )
  }
  const rows = (label: string, figures: typeof fair) => [
    `${label}: A's total ${figures.aSeconds.toFixed(1)} s (${figures.aStored} stored); failed jobs ${figures.failed}; ` +
      `worker CPU ${(figures.workerCpuMs / 1000).toFixed(1)} s; machine CPU ${(figures.machine.busyMs / 1000).toFixed(1)} s ` +
      `(${((100 * figures.machine.busyMs) / Math.max(1, figures.machine.capacityMs)).toFixed(0)} % of its cores; ` +
      `PostgreSQL ${(figures.machine.postgresMs / 1000).toFixed(1)} s, all processes: a quiet machine's figure); worker event-loop delay (p99 per 5 s) ` +
      `median ${percentile(figures.lags, 50).toFixed(3)} s, max ${(figures.lags.at(-1) ?? Number.NaN).toFixed(3)} s`,
    `  yields (slot given to interactive work, run again from the checkpoint): ${figures.yields}`,
    `  others' arrival -> stored:        ${spread(figures.stored)} (${figures.stored.length} of ${figures.arrivals})`,
    `  others' arrival -> analysed:      ${spread(figures.analysed)} (${figures.analysed.length})`,
    `  others' arrival -> rules applied: ${spread(figures.latencies)} (${figures.latencies.length})`,
    othersPerMessage(figures),
    "  jobs (who|kind|class|count|wait p50|wait p95|run p50|run p95|run max, seconds):",
    ...figures.jobTimings
      .split("\n")
      .filter((line) => line.includes("|"))
      .map((line) => `    ${line}`)
  ]
  console.log("")
  if (baseline !== null) {
    for (const line of [
      ...rows(`fair share (${baselineLabel})`, baseline.fair),
      ...rows(`FIFO (${baselineLabel})`, baseline.fifo)
    ])
      console.log(line)
  }
  for (const line of [...rows("fair share", fair), ...(fairOnly ? [] : rows("FIFO", fifo))]) console.log(line)
  if (fairOnly) return
  if (baseline !== null) {
    console.log(
      `\n${baselineLabel}: A's total, fair share / FIFO: ${(baseline.fair.aSeconds / baseline.fifo.aSeconds).toFixed(2)}; ` +
        `others' arrival -> rules applied p95 with fair share ${percentile(baseline.fair.latencies, 95).toFixed(2)} s; ` +
        `worker CPU fair ${(baseline.fair.workerCpuMs / 1000).toFixed(1)} s, FIFO ${(baseline.fifo.workerCpuMs / 1000).toFixed(1)} s`
    )
  }
  console.log(
    `${baseline === null ? "\n" : ""}as configured: A's total, fair share / FIFO: ${(fair.aSeconds / fifo.aSeconds).toFixed(2)}; ` +
      `others' arrival -> rules applied p95 with fair share ${percentile(fair.latencies, 95).toFixed(2)} s; ` +
      `worker CPU fair ${(fair.workerCpuMs / 1000).toFixed(1)} s, FIFO ${(fifo.workerCpuMs / 1000).toFixed(1)} s`
  )
})

const program: Effect.Effect<void, unknown> = mode === "imap" ? imapMain : pingMain

Effect.runPromise(program).then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error)
    process.exit(1)
  }
)
