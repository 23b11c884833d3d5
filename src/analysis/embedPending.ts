import { Effect } from "effect"
import type { SqlError } from "effect/sql"
import type { AnalysisProviderError } from "../contract/analysis/Analysis.ts"
import type { JobError } from "../contract/jobs/JobKind.ts"
import type { UserId } from "../contract/users/UserId.ts"
import { CurrentJob, yieldToInteractive } from "../jobs/CurrentJob.ts"
import { runBatchPipeline, type Together } from "./batchPipeline.ts"
import { MailProcessingConfig } from "./MailProcessingConfig.ts"
import {
  type EmbeddingCandidate,
  type EmbeddingMode,
  type EmbeddingOutcome,
  ProcessingStore,
  type Selection
} from "./ProcessingStore.ts"
import { Analyzer } from "./providers/Analyzer.ts"
import { TokenUsageRecorder } from "./providers/TokenUsage.ts"
import { budgetGate, TokenBudget, tokenUsageRecorderFor } from "./TokenBudget.ts"
import { isConfigurationError, providerRejected, providerUnavailable } from "./providerFailures.ts"
import { UserScope } from "../users/UserScope.ts"

type BatchResult = {
  readonly outcomes: ReadonlyArray<EmbeddingOutcome>
  readonly model: string | undefined
  readonly stop: AnalysisProviderError | undefined
}

const NOTHING_TO_EMBED = "nothing to embed: the message has no subject, sender name or text"

export interface Embedded {
  readonly embedded: number
  readonly failed: number
  readonly model: string
  /** Stopped reading at `limit`: more may be pending. */
  readonly limited: boolean
}

/**
 * The embedding loop of `mail.embed` (EmbedMailProcessor.ts), also run by a `mail.analyze` job that
 * embeds its selection first (`embed: true`, a small run's fresh mail: one job instead of two). Claimed
 * batches (ProcessingStore, "Claims" in the README), the token budget before each batch, a bulk job's
 * yield between batches; `progress` after each saved batch. Fails like the job: a transient provider
 * failure or a refused configuration ends it, what was saved stays.
 */
export const makeEmbedPending = Effect.gen(function* () {
  const analyzer = yield* Analyzer
  const store = yield* ProcessingStore
  const config = yield* MailProcessingConfig
  const budget = yield* TokenBudget
  const scope = yield* UserScope
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
          for (const rest of texts.slice(index)) outcomes.push({ _tag: "deferred", id: rest.id, reason: error.message })
          return { outcomes, model, stop: error }
        }
        outcomes.push({ _tag: "failed", id: item.id, reason: `${error.reason}: ${error.message}` })
      }
      return { outcomes, model, stop: undefined }
    })

  return (
    owner: UserId,
    selection: Selection,
    initialMode: EmbeddingMode,
    progress: (done: {
      readonly embedded: number
      readonly failed: number
      readonly done: number
    }) => Effect.Effect<void>,
    /** Reads no further batch once this many messages were read (a job that embeds beside its analysis). */
    limit: number = Number.POSITIVE_INFINITY
  ): Effect.Effect<Embedded, JobError | SqlError.SqlError, CurrentJob> =>
    Effect.gen(function* () {
      const job = yield* CurrentJob
      let mode = initialMode
      let read = 0
      let limited = false
      let done = 0
      let embedded = 0
      let failed = 0
      let model = analyzer.embeddingModel
      const recorded = yield* tokenUsageRecorderFor(budget, owner)
      // a read that finds nothing and its lock-out check: one transaction of the owner's
      const together: Together = (effect) => scope.run(owner, effect)
      yield* runBatchPipeline(
        {
          read: (exclude) => {
            if (read >= limit) {
              limited = true
              return Effect.succeed([])
            }
            return store
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
                    read += batch.length
                    const last = batch.at(-1)
                    if (mode._tag === "refresh" && last !== undefined) mode = { ...mode, afterId: last.id }
                  })
                )
              )
          },
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
              yield* progress({ embedded, failed, done })
              yield* recorded.failIfLost
              if (result.stop !== undefined) {
                const error: JobError =
                  result.stop.reason === "transient" ? providerUnavailable(result.stop) : providerRejected(result.stop)
                return yield* Effect.fail(error)
              }
            })
        },
        together
      )
      return { embedded, failed, model, limited }
    })
})
