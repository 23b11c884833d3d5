/**
 * MIME parsing, the sync's largest CPU cost, measured apart from IMAP and PostgreSQL: the same
 * generated messages as bench/sync.ts, parsed
 *   1. by mailparser's simpleParser on this thread (the raw library),
 *   2. by our parseMessage on this thread (MailParser driven directly, HTML sanitized,
 *      attachments hashed and dropped),
 *   3. by the parser pool of the worker (worker threads, with the heap limits the worker uses),
 *   4. by the same pool without an old-generation limit, to show what that limit trades.
 *
 *   npm run bench:parser -- [messages=6000] [threads=availableParallelism]
 *
 * Prints, for each: CPU per message (every thread of this process, V8's GC helpers included),
 * messages/s and, for the pools, how much the process's peak RSS grew while they ran.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import type { ResourceLimits } from "node:worker_threads"
import { simpleParser } from "mailparser"
import { defaultMimeLimits, parseMessage } from "../src/sync/mime.ts"
import { defaultParserResourceLimits, WorkerPool } from "../src/sync/ParserPool.ts"
import { generateMessages } from "../test/harness/mailgen.ts"
import { memoryOf } from "./support/cpu.ts"
import { rate } from "./support/environment.ts"

const count = Number(process.argv[2] ?? 6_000)
const threads = Number(process.argv[3] ?? os.availableParallelism())
/** As MailSync hands them over: batches of 250, two in flight. */
const BATCH = 250

/** Starts a new peak-RSS window (Linux: writing 5 to clear_refs resets VmHWM). */
const resetPeak = (): void => fs.writeFileSync("/proc/self/clear_refs", "5")

interface Figures {
  readonly cpuPerMessage: number
  readonly perSecond: number
}

/** Runs `parseAll` once to warm up, then once measured. */
const measure = async (parseAll: () => Promise<void>): Promise<Figures> => {
  await parseAll()
  const cpuStart = process.cpuUsage()
  const start = performance.now()
  await parseAll()
  const cpu = process.cpuUsage(cpuStart)
  return { cpuPerMessage: (cpu.user + cpu.system) / 1000 / count, perSecond: rate(count, performance.now() - start) }
}

const row = (label: string, figures: Figures, extra = ""): void =>
  console.log(
    `${label.padEnd(58)} ${figures.cpuPerMessage.toFixed(3)} ms CPU/msg  ${String(figures.perSecond).padStart(6)} msg/s${extra}`
  )

const main = async () => {
  const generating = performance.now()
  const sources = generateMessages(count, { seed: 20_250_101 }).map((message) => Buffer.from(message.raw))
  const bytes = sources.reduce((sum, source) => sum + source.length, 0)
  console.log(
    `parser: ${count} messages, ${(bytes / 1e6).toFixed(1)} MB, generated in ${((performance.now() - generating) / 1000).toFixed(1)} s; ${os.availableParallelism()} cores, node ${process.version}`
  )

  const raw = await measure(async () => {
    for (const source of sources) await simpleParser(source)
  })
  row("raw: simpleParser, this thread", raw)
  const ours = await measure(async () => {
    for (const source of sources) await parseMessage(source)
  })
  row("parseMessage, this thread", ours, `  (${(ours.cpuPerMessage / raw.cpuPerMessage).toFixed(2)}x raw CPU)`)

  const pool = async (label: string, limits: ResourceLimits) => {
    const workers = new WorkerPool(threads, defaultMimeLimits, undefined, limits)
    try {
      const before = memoryOf(process.pid).current
      resetPeak()
      const figures = await measure(async () => {
        for (let start = 0; start < sources.length; start += 2 * BATCH) {
          await Promise.all([
            workers.parse(sources.slice(start, start + BATCH), 16),
            workers.parse(sources.slice(start + BATCH, start + 2 * BATCH), 16)
          ])
        }
      })
      row(
        label,
        figures,
        `  (${(figures.cpuPerMessage / raw.cpuPerMessage).toFixed(2)}x raw CPU, ${(figures.perSecond / raw.perSecond).toFixed(2)}x raw rate; peak RSS +${Math.round((memoryOf(process.pid).peak - before) / 1024)} MB)`
      )
    } finally {
      await workers.close()
    }
  }
  await pool(
    `pool of ${threads} threads, worker's limits (old ${defaultParserResourceLimits.maxOldGenerationSizeMb} MB)`,
    defaultParserResourceLimits
  )
  await pool(`pool of ${threads} threads, no old-generation limit`, {
    maxYoungGenerationSizeMb: defaultParserResourceLimits.maxYoungGenerationSizeMb ?? 8
  })
}

main().catch((error: unknown) => {
  console.error(error)
  process.exitCode = 1
})
