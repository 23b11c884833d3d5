import { Effect } from "effect"
import { EmbeddingModel } from "effect/ai"
import type { AnalysisInput } from "../../contract/analysis/Analysis.ts"
import { classify } from "../offline/classifier.ts"
import { embedText, offlineEmbeddingModelName } from "../offline/embedding.ts"
import { defaultOfflineConfig, type OfflineConfig } from "./AnalysisConfig.ts"
import type { AnalyzerShape } from "./AnalyzerShape.ts"

/**
 * The built-in provider: the deterministic classifier and hashing embeddings,
 * in-process, no network. It cannot fail with a provider error; a bug inside
 * it is a defect.
 */

export const OFFLINE_PROVIDER = "offline"
export const OFFLINE_MODEL = "offline-rules-v1"

export const makeOfflineAnalyzer = (config: OfflineConfig = defaultOfflineConfig): AnalyzerShape => {
  const embeddingModel = offlineEmbeddingModelName(config.embeddingDimension)
  const options = { textBudget: config.textBudget }
  return {
    provider: OFFLINE_PROVIDER,
    model: OFFLINE_MODEL,
    embeddingModel,
    analyze: (input: AnalysisInput) =>
      Effect.sync(() => ({ ...classify(input, options), provider: OFFLINE_PROVIDER, model: OFFLINE_MODEL })),
    embed: (texts: ReadonlyArray<string>) =>
      Effect.sync(() => ({
        model: embeddingModel,
        dimension: config.embeddingDimension,
        vectors: texts.map((t) => embedText(t, config.embeddingDimension, config.textBudget))
      }))
  }
}

/** The offline embeddings as an `effect/ai` EmbeddingModel (for code written against that interface). */
export const makeOfflineEmbeddingModel = (config: OfflineConfig = defaultOfflineConfig) =>
  EmbeddingModel.make({
    embedMany: ({ inputs }) =>
      Effect.sync(() => ({
        results: inputs.map((t) => embedText(t, config.embeddingDimension, config.textBudget)),
        usage: { inputTokens: undefined }
      }))
  })
