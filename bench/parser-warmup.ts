/**
 * The CPU a fresh parser thread spends on its first 200 messages (the first page of an account's first
 * sync) after the pool's warm-up, against the earlier warm-up (one tiny message), alternating in one run:
 *
 *   npx tsx bench/parser-warmup.ts [pairs=3]
 *
 * CPU time, not wall time: the machine is shared. The warm-up's own CPU is printed too (spent at start).
 */
import { WorkerPool } from "../src/sync/ParserPool.ts"
import { defaultMimeLimits } from "../src/sync/mime.ts"
import { generateMessages } from "../test/harness/mailgen.ts"

const pairs = Number(process.argv[2] ?? 3)
const messages = generateMessages(200, { seed: 3 }).map((message) => new TextEncoder().encode(message.raw))
const cpu = () => {
  const usage = process.cpuUsage()
  return (usage.user + usage.system) / 1000
}
const tiny = new TextEncoder().encode("Subject: warm-up\r\n\r\n.\r\n")

for (let pair = 0; pair < pairs; pair++) {
  for (const variant of ["one tiny message", "warmUpMessages"] as const) {
    const pool = new WorkerPool(1, defaultMimeLimits, undefined, undefined, 60_000, 1)
    let start = cpu()
    if (variant === "warmUpMessages") await pool.warmUp()
    else {
      pool.startWarmThreads()
      await pool.parse([tiny], 1)
    }
    const warm = cpu() - start
    start = cpu()
    await pool.parse(messages, 16)
    console.log(
      `warm-up ${variant.padEnd(16)}: warm-up ${warm.toFixed(0)} ms CPU, then the first 200 messages ${(cpu() - start).toFixed(0)} ms CPU`
    )
    await pool.close()
  }
}
