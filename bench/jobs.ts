/**
 * Job throughput: debug.ping no-op jobs through the whole stack (Jobs.submit:
 * schema check, durable record, BullMQ add; worker runtime: record to running,
 * processor, record to succeeded, events) versus raw BullMQ no-op jobs, at the
 * same worker concurrency, in one run on the same Redis.
 *
 *   npx tsx bench/jobs.ts [jobs=20000] [concurrency=50]
 *
 * 20,000 by default: with 5,000 the run is over in about two seconds and mostly measures
 * how fast V8 warms up, not the steady state.
 *
 * Prints enqueue and processing rates for both and the ratios.
 */
import { Queue, Worker } from "bullmq"
import { Effect, Layer } from "effect"
import { Redis as IORedis } from "ioredis"
import { PingJob } from "../src/contract/jobs/PingJob.ts"
import { Jobs } from "../src/jobs/Jobs.ts"
import { JobsLive, PlatformLive } from "../src/main/layers.ts"
import { WorkerLive } from "../src/main/workerLayers.ts"
import { SystemDatabase } from "../src/platform/Database.ts"
import { UserId } from "../src/contract/users/UserId.ts"
import { cpuPerUnit, cpuSnapshot } from "./support/cpu.ts"
import { benchEnvironment, rate } from "./support/environment.ts"

const total = Number(process.argv[2] ?? 20_000)
const concurrency = Number(process.argv[3] ?? 50)

const raw = (redisUrl: string, prefix: string) =>
  Effect.promise(async () => {
    const connection = new IORedis(redisUrl, { maxRetriesPerRequest: null })
    const queue = new Queue("raw-noop", { connection, prefix })
    await queue.pause()
    const enqueueStart = performance.now()
    // the same shape as ours: one add per job, 50 in flight
    let next = 0
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < total) {
          const i = next++
          await queue.add("noop", { i }, { removeOnComplete: { age: 3600, count: 1000 } })
        }
      })
    )
    const enqueueMillis = performance.now() - enqueueStart
    let done = 0
    const worker = new Worker("raw-noop", async () => ({ pong: true }), { connection, prefix, concurrency })
    const finished = new Promise<void>((resolve) => {
      worker.on("completed", () => {
        done++
        if (done === total) resolve()
      })
    })
    const processStart = performance.now()
    const cpuBefore = cpuSnapshot(redisUrl)
    await queue.resume()
    await finished
    const processMillis = performance.now() - processStart
    const cpu = cpuPerUnit(cpuBefore, cpuSnapshot(redisUrl), total, "job")
    await worker.close()
    await queue.close()
    connection.disconnect()
    return { enqueueMillis, processMillis, cpu }
  })

const ours = Effect.gen(function* () {
  const bench = yield* benchEnvironment("jobs", {
    JOB_PROGRESS_INTERVAL_MS: "500"
  })
  const owner = UserId.make(
    bench.psql("INSERT INTO users (email, password_hash) VALUES ('bench@example.com', 'x') RETURNING id")
  )
  const Platform = JobsLive.pipe(Layer.provideMerge(PlatformLive), Layer.provide(bench.config))
  const rawFigures = yield* raw(bench.redisUrl, bench.redisPrefix)

  const enqueueMillis = yield* Effect.gen(function* () {
    const jobs = yield* Jobs
    const queue = yield* jobs.queue(PingJob.name)
    yield* Effect.promise(() => queue.pause())
    const started = performance.now()
    yield* Effect.forEach(
      Array.from({ length: total }, (_, i) => i),
      () => jobs.submit(PingJob, {}, { ownerId: owner }),
      { concurrency, discard: true }
    )
    return performance.now() - started
  }).pipe(Effect.provide(Platform))

  const processing = yield* Effect.gen(function* () {
    const jobs = yield* Jobs
    const queue = yield* jobs.queue(PingJob.name)
    const started = performance.now()
    const cpuBefore = cpuSnapshot(bench.redisUrl)
    yield* Effect.promise(() => queue.resume())
    // poll with the async client: a blocking psql call would stall the worker under test
    const system = yield* SystemDatabase
    for (;;) {
      const [row] = yield* system<{ readonly n: number }>`SELECT count(*)::int AS n FROM jobs WHERE state = 'succeeded'`
      if ((row?.n ?? 0) >= total) break
      yield* Effect.sleep("50 millis")
    }
    return {
      millis: performance.now() - started,
      cpu: cpuPerUnit(cpuBefore, cpuSnapshot(bench.redisUrl), total, "job")
    }
  }).pipe(Effect.provide(Layer.mergeAll(WorkerLive, Layer.empty).pipe(Layer.provideMerge(Platform))))

  const line = (label: string, count: number, millis: number) =>
    `${label.padEnd(46)} ${String(rate(count, millis)).padStart(7)} jobs/s  (${Math.round(millis)} ms)`
  console.log(`\n${total} no-op jobs, worker concurrency ${concurrency}, one process, 2 cores\n`)
  console.log(line("raw BullMQ: queue.add, 50 in flight", total, rawFigures.enqueueMillis))
  console.log(line("ours: Jobs.submit (record + add), 50 in flight", total, enqueueMillis))
  console.log(line("raw BullMQ: worker, no-op processor", total, rawFigures.processMillis))
  const processMillis = processing.millis
  console.log(line("ours: worker runtime, debug.ping", total, processMillis))
  console.log(`\nwhile processing, raw:  ${rawFigures.cpu}`)
  console.log(`while processing, ours: ${processing.cpu}`)
  console.log(
    `\nratio ours/raw: enqueue ${(rawFigures.enqueueMillis / enqueueMillis).toFixed(2)}, ` +
      `processing ${(rawFigures.processMillis / processMillis).toFixed(2)}, ` +
      `end to end ${((rawFigures.enqueueMillis + rawFigures.processMillis) / (enqueueMillis + processMillis)).toFixed(2)}`
  )
})

Effect.runPromise(Effect.scoped(ours)).then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error)
    process.exit(1)
  }
)
