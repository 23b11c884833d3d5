import { Config, Context, Effect, Layer } from "effect"
import { boundedInt } from "../platform/Config.ts"

/**
 * How the `mail.analyze` and `mail.embed` jobs work through a user's mail.
 *
 * | variable                 | default | meaning                                                        |
 * |--------------------------|---------|----------------------------------------------------------------|
 * | ANALYSIS_BATCH_SIZE      | 50      | messages read, analysed and written per batch (1-1000)         |
 * | ANALYSIS_CONCURRENCY     | 4       | provider calls in flight per job (1-64)                         |
 * | EMBEDDING_BATCH_SIZE     | 64      | texts per embedding request and write (1-512)                  |
 * | EMBEDDING_TEXT_MAX_CHARS | 8000    | characters of subject + body that are embedded (100-100000)    |
 */
export interface MailProcessingConfigShape {
  readonly analysisBatchSize: number
  readonly analysisConcurrency: number
  readonly embeddingBatchSize: number
  readonly embeddingTextMaxChars: number
}

export const defaultMailProcessingConfig: MailProcessingConfigShape = {
  analysisBatchSize: 50,
  analysisConcurrency: 4,
  embeddingBatchSize: 64,
  embeddingTextMaxChars: 8_000
}

export const mailProcessingConfig = Effect.gen(function* () {
  return yield* Config.all({
    analysisBatchSize: boundedInt("ANALYSIS_BATCH_SIZE", 1, 1_000, defaultMailProcessingConfig.analysisBatchSize),
    analysisConcurrency: boundedInt("ANALYSIS_CONCURRENCY", 1, 64, defaultMailProcessingConfig.analysisConcurrency),
    embeddingBatchSize: boundedInt("EMBEDDING_BATCH_SIZE", 1, 512, defaultMailProcessingConfig.embeddingBatchSize),
    embeddingTextMaxChars: boundedInt(
      "EMBEDDING_TEXT_MAX_CHARS",
      100,
      100_000,
      defaultMailProcessingConfig.embeddingTextMaxChars
    )
  })
})

export class MailProcessingConfig extends Context.Service<MailProcessingConfig, MailProcessingConfigShape>()(
  "mail-helper/MailProcessingConfig"
) {
  static readonly layer = Layer.effect(MailProcessingConfig, mailProcessingConfig)
}
