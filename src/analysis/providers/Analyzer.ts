import { Context, Effect, Layer } from "effect"
import { EmbeddingModel, LanguageModel } from "effect/ai"
import type { HttpClient } from "effect/http"
import {
  AnalysisConfig,
  defaultOfflineConfig,
  type OfflineConfig,
  type OpenAiCompatibleConfig
} from "./AnalysisConfig.ts"
import type { AnalyzerShape } from "./AnalyzerShape.ts"
import { makeOfflineAnalyzer, makeOfflineEmbeddingModel } from "./offline.ts"
import { makeOpenAiAnalyzer, makeOpenAiEmbeddingModel, makeOpenAiLanguageModel } from "./openAiCompatible.ts"

export type { AnalyzerShape } from "./AnalyzerShape.ts"

export class Analyzer extends Context.Service<Analyzer, AnalyzerShape>()("mail-helper/Analyzer") {
  /** The built-in offline provider (default). */
  static readonly layerOffline = (config: OfflineConfig = defaultOfflineConfig): Layer.Layer<Analyzer> =>
    Layer.succeed(Analyzer, makeOfflineAnalyzer(config))

  /** An OpenAI-compatible HTTP provider (OpenAI, Ollama, vLLM, LM Studio, Mistral). */
  static readonly layerOpenAiCompatible = (
    config: OpenAiCompatibleConfig
  ): Layer.Layer<Analyzer, never, HttpClient.HttpClient> => Layer.effect(Analyzer, makeOpenAiAnalyzer(config))

  /** Chosen by AnalysisConfig (AI_PROVIDER); needs an HttpClient even when offline is chosen. */
  static readonly layer: Layer.Layer<Analyzer, never, AnalysisConfig | HttpClient.HttpClient> = Layer.unwrap(
    Effect.gen(function* () {
      const config = yield* AnalysisConfig
      return config.provider === "openai"
        ? Analyzer.layerOpenAiCompatible(config.openai)
        : Analyzer.layerOffline(config.offline)
    })
  )
}

/** `effect/ai` LanguageModel over an OpenAI-compatible /chat/completions endpoint. */
export const openAiLanguageModelLayer = (
  config: OpenAiCompatibleConfig
): Layer.Layer<LanguageModel.LanguageModel, never, HttpClient.HttpClient> =>
  Layer.effect(LanguageModel.LanguageModel, makeOpenAiLanguageModel(config))

/** `effect/ai` EmbeddingModel over an OpenAI-compatible /embeddings endpoint. */
export const openAiEmbeddingModelLayer = (
  config: OpenAiCompatibleConfig
): Layer.Layer<EmbeddingModel.EmbeddingModel, never, HttpClient.HttpClient> =>
  Layer.effect(EmbeddingModel.EmbeddingModel, makeOpenAiEmbeddingModel(config))

/** `effect/ai` EmbeddingModel backed by the offline hashing embeddings. */
export const offlineEmbeddingModelLayer = (
  config: OfflineConfig = defaultOfflineConfig
): Layer.Layer<EmbeddingModel.EmbeddingModel> =>
  Layer.effect(EmbeddingModel.EmbeddingModel, makeOfflineEmbeddingModel(config))
