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
 * | MAIL_CLAIM_SECONDS       | 900     | how long a job's claim on a batch holds (1-3600, see below)     |
 * | MAIL_PENDING_SWEEP_SECONDS | 300   | how often a worker looks for pending mail no job takes (1-86400) |
 *
 * MAIL_CLAIM_SECONDS: a batch is claimed when it is read and the claim is cleared when its outcomes
 * are written, so it must outlast one batch's provider calls: at the defaults (50 messages, 4 in
 * flight, AI_TIMEOUT_MS 30 s, 2 retries) a batch whose every call times out takes ~13 x 3 x 30 s
 * = ~20 min, a healthy one seconds. 15 minutes covers all but that worst case (then another job
 * may take the rest again: at least once, never lost). A claim names the job that holds it: when
 * a job's process died (SIGKILL, a lost worker), the job's next attempt (BullMQ retries the stalled
 * job under the same record) takes its batch back at once; another job of the owner waits this
 * long before it takes that mail. It stays below the kinds' hard time limit (1 hour), past which
 * an attempt is gone anyway.
 */
export interface MailProcessingConfigShape {
  readonly analysisBatchSize: number
  readonly analysisConcurrency: number
  readonly embeddingBatchSize: number
  readonly embeddingTextMaxChars: number
  /** How long a claim on a read batch holds, in seconds. */
  readonly claimSeconds: number
  /** How often each worker's sweep looks for pending mail that no job takes (PendingMailSweep.ts), in seconds. */
  readonly pendingSweepSeconds: number
}

export const defaultMailProcessingConfig: MailProcessingConfigShape = {
  analysisBatchSize: 50,
  analysisConcurrency: 4,
  embeddingBatchSize: 64,
  embeddingTextMaxChars: 8_000,
  claimSeconds: 900,
  pendingSweepSeconds: 300
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
    ),
    claimSeconds: boundedInt("MAIL_CLAIM_SECONDS", 1, 3_600, defaultMailProcessingConfig.claimSeconds),
    pendingSweepSeconds: boundedInt(
      "MAIL_PENDING_SWEEP_SECONDS",
      1,
      86_400,
      defaultMailProcessingConfig.pendingSweepSeconds
    )
  })
})

export class MailProcessingConfig extends Context.Service<MailProcessingConfig, MailProcessingConfigShape>()(
  "mail-helper/MailProcessingConfig"
) {
  static readonly layer = Layer.effect(MailProcessingConfig, mailProcessingConfig)
}
