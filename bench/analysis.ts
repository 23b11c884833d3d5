/**
 * Offline analysis throughput.
 *
 *   npx tsx bench/analysis.ts [messages=10000] [runs=5] [--large | --generated]
 *
 * The labelled fixture set (test/analysis/fixtures) repeated to ~10,000
 * messages goes through, in the same process and run:
 *   baseline   lowercasing + tokenising subject and body (String#toLowerCase + a
 *              Unicode regex split): the floor any text analysis pays
 *   classify   the offline classifier as a plain function
 *   analyze    Analyzer.analyze of the offline layer, one Effect per message
 *              (what a job processor calls)
 *   embed      offline hashing embeddings (384 dims) of subject + body
 * Each is run `runs` times after a warm-up; the median is printed with
 * messages/s, the process CPU per message (less sensitive to a loaded host than wall time) and the
 * ratio to the baseline.
 */
import { Effect } from "effect"
import type { AnalysisInput } from "../src/contract/analysis/Analysis.ts"
import { classify } from "../src/analysis/offline/classifier.ts"
import { embedText } from "../src/analysis/offline/embedding.ts"
import { Analyzer } from "../src/analysis/providers/Analyzer.ts"
import { devSet } from "../test/analysis/fixtures/dev.ts"
import { holdoutSet } from "../test/analysis/fixtures/holdout.ts"
import { generatedCorpus } from "../test/analysis/offlineCorpus.ts"
import { median } from "./support/stats.ts"

const total = Number(process.argv[2] ?? 10_000)
const runs = Number(process.argv[3] ?? 5)
/** `large`: every body repeated to >= 4,000 characters (closer to real mail with quotes and footers). */
const large = process.argv.includes("--large")
/** `generated`: 500 generated messages (test/harness/mailgen.ts, parsed as the sync does) instead of the fixtures. */
const generated = process.argv.includes("--generated")

const grow = (m: AnalysisInput): AnalysisInput => {
  if (!large) return m
  let text = m.text
  while (text.length < 4_000) text += `\n\n${m.text}`
  return { ...m, text }
}

const fixtures = generated
  ? (await generatedCorpus(500, 7)).map((entry) => entry.input)
  : [...devSet, ...holdoutSet].map((m) => grow(m.input))
const messages: Array<AnalysisInput> = []
for (let i = 0; messages.length < total; i++) {
  const m = fixtures[i % fixtures.length]
  if (m !== undefined) messages.push(m)
}
const chars = messages.reduce((s, m) => s + m.subject.length + m.text.length, 0)

const SPLIT = /[^\p{L}\p{N}]+/u
let sink = 0

const baseline = () => {
  for (const m of messages) {
    sink += m.subject.toLowerCase().split(SPLIT).length
    sink += m.text.toLowerCase().split(SPLIT).length
  }
}

const classifyAll = () => {
  for (const m of messages) sink += classify(m).urgency
}

const embedAll = () => {
  for (const m of messages) sink += embedText(`${m.subject}\n${m.text}`).length
}

const analyzeAll = Effect.gen(function* () {
  const analyzer = yield* Analyzer
  for (const m of messages) sink += (yield* analyzer.analyze(m)).urgency
}).pipe(Effect.provide(Analyzer.layerOffline()))

/** Process CPU (user + system) of each timed run, by name, in ms. */
const cpu: Record<string, Array<number>> = { baseline: [], classify: [], analyze: [], embed: [] }
const cpuMillis = (since: NodeJS.CpuUsage): number => {
  const used = process.cpuUsage(since)
  return (used.user + used.system) / 1000
}

const time = (name: string, f: () => void): number => {
  const c0 = process.cpuUsage()
  const t0 = performance.now()
  f()
  const ms = performance.now() - t0
  cpu[name]?.push(cpuMillis(c0))
  return ms
}

const timeEffect = async (name: string): Promise<number> => {
  const c0 = process.cpuUsage()
  const t0 = performance.now()
  await Effect.runPromise(analyzeAll)
  const ms = performance.now() - t0
  cpu[name]?.push(cpuMillis(c0))
  return ms
}

const main = async () => {
  // warm-up (JIT)
  baseline()
  classifyAll()
  embedAll()
  await Effect.runPromise(analyzeAll)

  const results: Record<string, Array<number>> = { baseline: [], classify: [], analyze: [], embed: [] }
  for (let r = 0; r < runs; r++) {
    results.baseline?.push(time("baseline", baseline))
    results.classify?.push(time("classify", classifyAll))
    results.analyze?.push(await timeEffect("analyze"))
    results.embed?.push(time("embed", embedAll))
  }

  const baseMs = median(results.baseline ?? [])
  console.log(
    `offline analysis benchmark: ${messages.length} messages (${fixtures.length} ${generated ? "generated messages" : "fixtures"} repeated), ` +
      `${(chars / messages.length).toFixed(0)} chars/message on average, median of ${runs} runs, node ${process.version}`
  )
  console.log(
    `${"".padEnd(10)} ${"ms".padStart(9)} ${"msg/s".padStart(10)} ${"CPU ms/msg".padStart(11)} ${"vs baseline".padStart(12)}`
  )
  for (const [name, xs] of Object.entries(results)) {
    const ms = median(xs)
    const rate = (messages.length / ms) * 1000
    const ratio = name === "baseline" ? "1.00x" : `${(baseMs / ms).toFixed(3)}x`
    const cpuPerMessage = median(cpu[name] ?? []) / messages.length
    console.log(
      `${name.padEnd(10)} ${ms.toFixed(1).padStart(9)} ${rate.toFixed(0).padStart(10)} ${cpuPerMessage.toFixed(3).padStart(11)} ${ratio.padStart(12)}`
    )
  }
  const analyzeRate = (messages.length / median(results.analyze ?? [])) * 1000
  console.log(
    `\nAnalyzer.analyze (offline): ${analyzeRate.toFixed(0)} msg/s, ` +
      `${(baseMs / median(results.analyze ?? [])).toFixed(3)}x the speed of lowercase+tokenise alone ` +
      `(target 500 msg/s: ${analyzeRate >= 500 ? "met" : "NOT met"})`
  )
  if (sink === 42) console.log("")
}

main().catch((e) => {
  console.error(e)
  process.exitCode = 1
})
