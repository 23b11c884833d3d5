/**
 * Fair share at the jobs level (issue 15): user A queues a backlog of bulk debug.ping jobs (an
 * initial sync's follow-up work, through Jobs.submitMany) while ten other users each queue one
 * interactive job every second (their fresh mail). Run twice in one process, with fair share
 * (JOB_FAIR_SHARE=true) and with plain FIFO (false), on the same PostgreSQL and Redis, with the
 * worker runtime in-process at debug.ping's concurrency (50).
 *
 *   npx tsx bench/fairness.ts [backlog=20000] [sleepMillis=5]
 *
 * Prints the other users' wait, submit to succeeded (p50/p95/p99), A's total time (first submit to
 * the last job's end) both ways, and the CPU per job (node, Redis, PostgreSQL) to compare with
 * `npm run bench:jobs`. The full IMAP scenario of the issue (a 20,000-message sync with analysis)
 * is not run here: this measures the scheduling, which is what fair share changes.
 */
import { Effect, Layer } from "effect"
import { PingJob } from "../src/contract/jobs/PingJob.ts"
import { UserId } from "../src/contract/users/UserId.ts"
import { Jobs } from "../src/jobs/Jobs.ts"
import { JobsLive, PlatformLive } from "../src/main/layers.ts"
import { WorkerLive } from "../src/main/workerLayers.ts"
import { SystemDatabase } from "../src/platform/Database.ts"
import { cpuPerUnit, cpuSnapshot } from "./support/cpu.ts"
import { benchEnvironment } from "./support/environment.ts"

const backlog = Number(process.argv[2] ?? 20_000)
const sleepMillis = Number(process.argv[3] ?? 5)

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

const main = Effect.gen(function* () {
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

Effect.runPromise(main).then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error)
    process.exit(1)
  }
)
