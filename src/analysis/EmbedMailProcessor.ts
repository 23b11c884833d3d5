import { Effect } from "effect"
import { currentOwner, yieldToInteractive } from "../jobs/CurrentJob.ts"
import { EmbedMailJob, type EmbedMailPayload } from "../contract/jobs/EmbedMailJob.ts"
import { CurrentJob } from "../jobs/CurrentJob.ts"
import type { JobError } from "../contract/jobs/JobKind.ts"
import { makeProcessor } from "../jobs/JobProcessor.ts"
import { databaseTrouble } from "../jobs/DatabaseTrouble.ts"
import type { AnalysisProviderError } from "../contract/analysis/Analysis.ts"
import { runBatchPipeline } from "./batchPipeline.ts"
import { MailProcessingConfig } from "./MailProcessingConfig.ts"
import {
  type EmbeddingCandidate,
  type EmbeddingMode,
  type EmbeddingOutcome,
  ProcessingStore
} from "./ProcessingStore.ts"
import { Analyzer } from "./providers/Analyzer.ts"
import { TokenUsageRecorder } from "./providers/TokenUsage.ts"
import { budgetGate, TokenBudget, tokenUsageRecorderFor } from "./TokenBudget.ts"
import { isConfigurationError, providerRejected, providerUnavailable } from "./providerFailures.ts"

type BatchResult = {
  readonly outcomes: ReadonlyArray<EmbeddingOutcome>
  readonly model: string | undefined
  readonly stop: AnalysisProviderError | undefined
}

const NOTHING_TO_EMBED = "nothing to embed: the message has no subject, sender name or text"

export const EmbedMailProcessor = makeProcessor(
  EmbedMailJob,
  Effect.gen(function* () {
    const analyzer = yield* Analyzer
    const store = yield* ProcessingStore
    const config = yield* MailProcessingConfig
    const budget = yield* TokenBudget
    // the budget counts what an OpenAI-compatible provider reports; the offline one uses no tokens
    const budgeted = analyzer.provider !== "offline"

    /** One request for the batch; when the provider refuses it, one by one to find the message at fault. */
    const embedBatch = (items: ReadonlyArray<EmbeddingCandidate>): Effect.Effect<BatchResult> =>
      Effect.gen(function* () {
        const empty = items.filter((item) => item.text.trim().length === 0)
        const texts = items.filter((item) => item.text.trim().length > 0)
        const outcomes: Array<EmbeddingOutcome> = empty.map((item) => ({
          _tag: "failed",
          id: item.id,
          reason: NOTHING_TO_EMBED
        }))
        if (texts.length === 0) return { outcomes, model: undefined, stop: undefined }
        const whole = yield* Effect.result(analyzer.embed(texts.map((item) => item.text)))
        if (whole._tag === "Success" && whole.success.vectors.length === texts.length) {
          texts.forEach((item, i) => {
            outcomes.push({ _tag: "embedded", id: item.id, vector: whole.success.vectors[i] ?? [] })
          })
          return { outcomes, model: whole.success.model, stop: undefined }
        }
        if (whole._tag === "Failure" && (whole.failure.reason === "transient" || isConfigurationError(whole.failure))) {
          const reason = whole.failure.message
          for (const item of texts) outcomes.push({ _tag: "deferred", id: item.id, reason })
          return { outcomes, model: undefined, stop: whole.failure }
        }
        let model: string | undefined
        for (const [index, item] of texts.entries()) {
          const one = yield* Effect.result(analyzer.embed([item.text]))
          if (one._tag === "Success") {
            const vector = one.success.vectors[0]
            if (vector === undefined) {
              outcomes.push({ _tag: "failed", id: item.id, reason: "invalid_output: the provider returned no vector" })
              continue
            }
            model = one.success.model
            outcomes.push({ _tag: "embedded", id: item.id, vector })
            continue
          }
          const error = one.failure
          if (error.reason === "transient" || isConfigurationError(error)) {
            for (const rest of texts.slice(index))
              outcomes.push({ _tag: "deferred", id: rest.id, reason: error.message })
            return { outcomes, model, stop: error }
          }
          outcomes.push({ _tag: "failed", id: item.id, reason: `${error.reason}: ${error.message}` })
        }
        return { outcomes, model, stop: undefined }
      })

    return (payload: EmbedMailPayload) =>
      Effect.gen(function* () {
        const job = yield* CurrentJob
        const owner = yield* currentOwner
        const selection = { emailIds: payload.emailIds, accountId: payload.accountId }
        let mode: EmbeddingMode =
          payload.refreshBefore === undefined
            ? { _tag: "pending" }
            : { _tag: "refresh", model: analyzer.embeddingModel, before: payload.refreshBefore, afterId: null }
        const phase = mode._tag === "pending" ? "embedding" : "re-embedding"
        let total = yield* store.countEmbedding(owner, selection, mode)
        let done = 0
        let embedded = 0
        let failed = 0
        let model = analyzer.embeddingModel
        const recorded = yield* tokenUsageRecorderFor(budget, owner)
        yield* job.progress({ phase, done, total })
        yield* runBatchPipeline({
          read: (exclude) =>
            store
              .embeddingCandidates(
                owner,
                selection,
                mode,
                config.embeddingBatchSize,
                config.embeddingTextMaxChars,
                // held by the job's record, the same over its attempts (as mail.analyze's claim)
                { holder: job.id, seconds: config.claimSeconds },
                exclude
              )
              .pipe(
                // a re-embed walks the mailbox in id order: the next read starts after this batch
                Effect.tap((batch) =>
                  Effect.sync(() => {
                    const last = batch.at(-1)
                    if (mode._tag === "refresh" && last !== undefined) mode = { ...mode, afterId: last.id }
                  })
                )
              ),
          id: (item) => item.id,
          release: (ids) => store.releaseEmbeddingClaims(owner, job.id, ids),
          lockedOut: (seen) => store.embeddingLockedOut(owner, selection, mode, job.id, seen),
          // a bulk job (a backlog, a re-embed) gives its slot to waiting interactive embedding between
          // batches: it runs again later from what still needs a vector (no attempt spent); the budget
          // is checked before each batch: what was done stays, the rest stays pending
          before: (first) =>
            Effect.andThen(
              first ? Effect.void : yieldToInteractive,
              budgeted ? budgetGate(budget, owner, "mail.embed") : Effect.void
            ),
          process: (batch) => embedBatch(batch).pipe(Effect.provideService(TokenUsageRecorder, recorded.recorder)),
          stops: (result) => result.stop !== undefined,
          write: (batch, result) =>
            Effect.gen(function* () {
              if (result.model !== undefined) model = result.model
              const saved = yield* store.saveEmbeddings(owner, model, result.outcomes)
              embedded += saved.embedded
              failed += saved.failed
              done += batch.length
              total = Math.max(total, done)
              yield* job.progress({ phase, done, total, message: `${embedded} embedded, ${failed} failed` })
              yield* recorded.failIfLost
              if (result.stop !== undefined) {
                const error: JobError =
                  result.stop.reason === "transient" ? providerUnavailable(result.stop) : providerRejected(result.stop)
                return yield* Effect.fail(error)
              }
            })
        })
        return { embedded, failed, model }
      }).pipe(
        Effect.catchTag("SqlError", databaseTrouble),
        Effect.withSpan("mail.embed", { attributes: { "analysis.model": analyzer.embeddingModel } })
      )
  })
)
