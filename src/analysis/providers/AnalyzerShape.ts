import type { Effect } from "effect"
import type {
  AnalysisInput,
  AnalysisProviderError,
  EmbeddingBatch,
  ProviderAnalysis
} from "../../contract/analysis/Analysis.ts"

/**
 * What the rest of the system uses to analyse mail, whatever the provider.
 *
 * - `analyze` classifies one message. Failures are typed: `transient`
 *   (network, timeout, 429, 5xx; already retried with backoff inside the
 *   call, worth retrying later), `permanent` (4xx, configuration), or
 *   `invalid_output` (the model answered twice with something that is not an
 *   AnalysisResult). There is never a silent default result.
 * - `embed` embeds texts (in order) with the provider's embedding model.
 */
export interface AnalyzerShape {
  readonly provider: string
  readonly model: string
  readonly embeddingModel: string
  readonly analyze: (input: AnalysisInput) => Effect.Effect<ProviderAnalysis, AnalysisProviderError>
  readonly embed: (texts: ReadonlyArray<string>) => Effect.Effect<EmbeddingBatch, AnalysisProviderError>
}
