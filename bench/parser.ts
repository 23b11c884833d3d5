/**
 * MIME parsing, the sync's largest CPU cost, measured apart from IMAP and PostgreSQL: the same
 * generated messages as bench/sync.ts, parsed with both MIME libraries the sync can use
 * (MAIL_PARSER=postal-mime|mailparser), in the same run:
 *   1. by the raw libraries on this thread (mailparser's simpleParser, PostalMime.parse),
 *   2. by our parseMessage on this thread, with each library (HTML sanitized, attachments hashed
 *      and their content dropped),
 *   3. by the parser pool of the worker, with each library (worker threads, with the heap limits
 *      the worker uses),
 *   4. by the pool of the default library without an old-generation limit, to show what that
 *      limit trades.
 *
 *   npm run bench:parser -- [messages=6000] [threads=availableParallelism]
 *
 * Prints, for each: CPU per message (every thread of this process, V8's GC helpers included),
 * messages/s and, for the pools, how much the process's peak RSS grew while they ran; last, the
 * pool figures of postal-mime against mailparser.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import type { ResourceLimits } from "node:worker_threads"
import { simpleParser } from "mailparser"
import PostalMime from "postal-mime"
import { defaultMimeLimits, type MimeParserName, mimeParserNames, parseMessage } from "../src/sync/mime.ts"
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
    `${label.padEnd(64)} ${figures.cpuPerMessage.toFixed(3)} ms CPU/msg  ${String(figures.perSecond).padStart(6)} msg/s${extra}`
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
  row("raw: mailparser simpleParser, this thread", raw)
  const rawPostal = await measure(async () => {
    for (const source of sources) await PostalMime.parse(source)
  })
  row(
    "raw: PostalMime.parse, this thread",
    rawPostal,
    `  (${(rawPostal.cpuPerMessage / raw.cpuPerMessage).toFixed(2)}x simpleParser CPU)`
  )
  for (const parser of mimeParserNames) {
    const ours = await measure(async () => {
      for (const source of sources) await parseMessage(source, { ...defaultMimeLimits, parser })
    })
    row(
      `parseMessage (${parser}), this thread`,
      ours,
      `  (${(ours.cpuPerMessage / raw.cpuPerMessage).toFixed(2)}x simpleParser CPU)`
    )
  }

  const pool = async (label: string, parser: MimeParserName, limits: ResourceLimits): Promise<Figures> => {
    const workers = new WorkerPool(threads, { ...defaultMimeLimits, parser }, undefined, limits)
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
        `  (${(figures.cpuPerMessage / raw.cpuPerMessage).toFixed(2)}x simpleParser CPU, ${(figures.perSecond / raw.perSecond).toFixed(2)}x its rate; peak RSS +${Math.round((memoryOf(process.pid).peak - before) / 1024)} MB)`
      )
      return figures
    } finally {
      await workers.close()
    }
  }
  // unmeasured: the process's one-time growth (threads, allocator arenas) would otherwise be
  // charged to whichever library's pool runs first (+47 against +31 MB in either order)
  const warmUp = new WorkerPool(threads, defaultMimeLimits, undefined, defaultParserResourceLimits)
  for (let start = 0; start < sources.length; start += BATCH)
    await warmUp.parse(sources.slice(start, start + BATCH), 16)
  await warmUp.close()

  const pooled = new Map<MimeParserName, Figures>()
  for (const parser of mimeParserNames) {
    pooled.set(
      parser,
      await pool(
        `pool (${parser}), ${threads} threads, worker's limits (old ${defaultParserResourceLimits.maxOldGenerationSizeMb} MB)`,
        parser,
        defaultParserResourceLimits
      )
    )
  }
  await pool(
    `pool (${defaultMimeLimits.parser}), ${threads} threads, no old-generation limit`,
    defaultMimeLimits.parser,
    {
      maxYoungGenerationSizeMb: defaultParserResourceLimits.maxYoungGenerationSizeMb ?? 8
    }
  )
  const postal = pooled.get("postal-mime")
  const mailparser = pooled.get("mailparser")
  if (postal !== undefined && mailparser !== undefined) {
    console.log(
      `pool, postal-mime against mailparser: ${postal.perSecond} against ${mailparser.perSecond} msg/s (${(postal.perSecond / mailparser.perSecond).toFixed(2)}x), ` +
        `${postal.cpuPerMessage.toFixed(3)} against ${mailparser.cpuPerMessage.toFixed(3)} ms CPU/msg (${(postal.cpuPerMessage / mailparser.cpuPerMessage).toFixed(2)}x); default ${defaultMimeLimits.parser}`
    )
  }
}

main().catch((error: unknown) => {
  console.error(error)
  process.exitCode = 1
})
