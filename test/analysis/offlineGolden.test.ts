import { createHash } from "node:crypto"
import { readFileSync, writeFileSync } from "node:fs"
import { assert, describe, it } from "@effect/vitest"
import { explain } from "../../src/analysis/offline/classifier.ts"
import { embedText } from "../../src/analysis/offline/embedding.ts"
import { contentLines, sentencesOf, summarySentences } from "../../src/analysis/offline/summary.ts"
import { type CorpusEntry, fixtureCorpus, generatedCorpus } from "./offlineCorpus.ts"

/**
 * The offline classifier's full output (`explain`: result, scores, signals, sender and link
 * profiles, deadline) and its embeddings (same tokeniser) over a fixed corpus must stay what it was: performance work on it must not
 * change a single value. The digests in fixtures/offlineGolden.json were taken before that work;
 * a deliberate change of the classifier regenerates them with UPDATE_OFFLINE_GOLDEN=1.
 */

const GOLDEN = new URL("./fixtures/offlineGolden.json", import.meta.url)
/** Budgets: the default and a small one (cuts in the middle of bodies). */
const BUDGETS = [20_000, 600] as const

const hash = (value: unknown): string => createHash("sha256").update(JSON.stringify(value)).digest("hex").slice(0, 16)

const digest = (entry: CorpusEntry, textBudget: number): string => hash(explain(entry.input, { textBudget }))

/** The offline embedding of the same text (it shares the tokeniser). */
const embeddingDigest = (entry: CorpusEntry, textBudget: number): string =>
  hash(embedText(`${entry.input.subject}\n${entry.input.text}`, 384, textBudget))

/** What the summary chose from before it read lines lazily: every content line, then the first 40 sentences. */
const eagerSummarySentences = (text: string, textBudget: number): Array<string> =>
  contentLines(text, textBudget)
    .flatMap((line) => sentencesOf(line))
    .slice(0, 40)

describe("offline classifier output", () => {
  it("summarises from the same sentences as reading every content line", { timeout: 120_000 }, async () => {
    const corpus = [...fixtureCorpus(), ...(await generatedCorpus(100, 17))]
    for (const entry of corpus)
      for (const budget of BUDGETS)
        assert.deepStrictEqual(
          summarySentences(entry.input.text, budget),
          eagerSummarySentences(entry.input.text, budget),
          `${entry.name} @${budget}`
        )
  })

  it("is unchanged over the fixture and generated corpus", { timeout: 120_000 }, async () => {
    const corpus = [...fixtureCorpus(), ...(await generatedCorpus(300, 17))]
    const actual: Record<string, string> = {}
    for (const entry of corpus)
      for (const budget of BUDGETS) {
        actual[`${entry.name} @${budget}`] = digest(entry, budget)
        actual[`${entry.name} embedding @${budget}`] = embeddingDigest(entry, budget)
      }
    if (process.env.UPDATE_OFFLINE_GOLDEN === "1") writeFileSync(GOLDEN, `${JSON.stringify(actual, null, 1)}\n`)
    const expected: unknown = JSON.parse(readFileSync(GOLDEN, "utf8"))
    assert.deepStrictEqual(actual, expected)
  })
})
