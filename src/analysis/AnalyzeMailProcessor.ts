import { Effect, Metric } from "effect"
import type { SqlError } from "effect/sql"
import { currentOwner, yieldToInteractive } from "../jobs/CurrentJob.ts"
import { AnalyzeMailJob, type AnalyzeMailPayload } from "../contract/jobs/AnalyzeMailJob.ts"
import { EmbedMailJob } from "../contract/jobs/EmbedMailJob.ts"
import { Jobs } from "../jobs/Jobs.ts"
import { makeEmbedPending } from "./embedPending.ts"
import { analysisMessages } from "../platform/Metrics.ts"
import { MailFollowUps } from "../pipeline/MailFollowUps.ts"
import { MailAnalysed } from "../contract/events/UserEvent.ts"
import { EmailId } from "../contract/emails/EmailId.ts"
import { EventBus } from "../events/EventBus.ts"
import { CurrentJob } from "../jobs/CurrentJob.ts"
import { makeProcessor } from "../jobs/JobProcessor.ts"
import { databaseTrouble } from "../jobs/DatabaseTrouble.ts"
import type { AnalysisProviderError } from "../contract/analysis/Analysis.ts"
import type { UserId } from "../contract/users/UserId.ts"
import { runBatchPipeline, type Together } from "./batchPipeline.ts"
import { MailProcessingConfig } from "./MailProcessingConfig.ts"
import { type AnalysisOutcome, type Claim, type PendingAnalysis, ProcessingStore } from "./ProcessingStore.ts"
import { Analyzer } from "./providers/Analyzer.ts"
import { TokenUsageRecorder } from "./providers/TokenUsage.ts"
import { budgetGate, TokenBudget, tokenUsageRecorderFor } from "./TokenBudget.ts"
import { isConfigurationError, providerRejected, providerUnavailable } from "./providerFailures.ts"
import { PersonalModelStore } from "./personal/PersonalModelStore.ts"
import { type PersonalModels, score } from "./personal/scoring.ts"
import { UserScope } from "../users/UserScope.ts"

const countOutcomes = (provider: string, saved: { readonly analysed: number; readonly failed: number }) =>
  Effect.all([
    Metric.update(Metric.withAttributes(analysisMessages, { provider, outcome: "analysed" }), saved.analysed),
    Metric.update(Metric.withAttributes(analysisMessages, { provider, outcome: "failed" }), saved.failed)
  ])

const OFFLINE = "offline"

/** A batch's events go out together (one Redis connection pipelines them). */
const PUBLISH_CONCURRENCY = 32

/** A job reads the owner's personal models again once its copy is this old. */
const PERSONAL_MODELS_MAX_AGE_MILLIS = 60_000

/** The most messages a `mail.analyze` with `embed: true` embeds itself (a small sync run's new mail). */
const EMBED_BESIDE_ANALYSIS_MAX = 200

type AnalyzeSelection = {
  readonly emailIds?: AnalyzeMailPayload["emailIds"] | undefined
  readonly accountId?: string | undefined
}

type Step = AnalysisOutcome | { readonly _tag: "stop"; readonly id: string; readonly error: AnalysisProviderError }

export const AnalyzeMailProcessor = makeProcessor(
  AnalyzeMailJob,
  Effect.gen(function* () {
    const analyzer = yield* Analyzer
    const store = yield* ProcessingStore
    const config = yield* MailProcessingConfig
    const budget = yield* TokenBudget
    // the budget counts what an OpenAI-compatible provider reports; the offline one uses no tokens
    const budgeted = analyzer.provider !== OFFLINE
    // what runs on analysed mail (rules) is wired in src/main: this stage only announces it
    const followUps = yield* MailFollowUps
    const personalModels = yield* PersonalModelStore
    const jobs = yield* Jobs
    const embedPending = yield* makeEmbedPending
    const scope = yield* UserScope

    /**
     * `embed: true` (a small run's fresh mail): the selection's pending embeddings first, in this job, so
     * the blend below has the vectors; at most a small run's worth (the owner's backlog is no
     * interactive work). More pending, or failing (provider, budget), the embeddings go to a
     * `mail.embed` job of their own, with its own retries, and the analysis goes on.
     */
    const embedFirst = (owner: UserId, selection: AnalyzeSelection) =>
      Effect.gen(function* () {
        const job = yield* CurrentJob
        yield* job.progress({ phase: "embedding", done: 0, total: null })
        const { limited } = yield* embedPending(
          owner,
          selection,
          { _tag: "pending" },
          ({ done }) => job.progress({ phase: "embedding", done, total: null }),
          EMBED_BESIDE_ANALYSIS_MAX
        )
        if (limited) yield* embedLater(owner, selection, "more pending embeddings than a small run's")
      }).pipe(
        Effect.catchTags({
          TransientJobError: (error) => embedLater(owner, selection, error.message),
          PermanentJobError: (error) => embedLater(owner, selection, error.message)
        })
      )
    const embedLater = (owner: UserId, selection: AnalyzeSelection, reason: string) =>
      Effect.logWarning("embedding beside the analysis failed; queued as mail.embed", { reason }).pipe(
        Effect.andThen(
          jobs.submit(
            EmbedMailJob,
            {
              ...(selection.emailIds === undefined ? {} : { emailIds: selection.emailIds }),
              ...(selection.accountId === undefined ? {} : { accountId: selection.accountId })
            },
            { ownerId: owner }
          )
        ),
        // not queued either: the messages stay pending for the next sync's follow-ups
        Effect.catch((error) => Effect.logWarning("mail.embed not queued", { reason: error.message })),
        Effect.asVoid
      )

    /** Blends the batch's results with the owner's latest personal models (`models`: read once per job, see below). */
    const blendBatch = (
      owner: UserId,
      batch: ReadonlyArray<PendingAnalysis>,
      steps: ReadonlyArray<Step>,
      latestModels: Effect.Effect<PersonalModels, SqlError.SqlError>
    ) =>
      Effect.gen(function* () {
        const analysed = steps.flatMap((step) => (step._tag === "analysed" ? [step] : []))
        if (analysed.length === 0) return steps
        const models = yield* latestModels
        if (models.length === 0) return steps
        const embeddings = yield* personalModels.embeddingsOf(
          owner,
          analysed.map((step) => step.id)
        )
        const inputs = new Map(batch.map((message) => [message.id, message.input]))
        return steps.map((step): Step => {
          const input = inputs.get(step.id)
          if (step._tag !== "analysed" || input === undefined) return step
          const embedding = embeddings.get(step.id)
          const personal = score(models, {
            fromAddress: input.from.address,
            subject: input.subject,
            headers: input.headers,
            base: {
              urgency: step.result.urgency,
              importance: step.result.importance,
              category: step.result.category,
              spam: step.result.spam,
              tags: step.result.tags
            },
            embedding: embedding?.vector ?? null,
            embeddingModel: embedding?.model ?? null
          })
          return { ...step, personal }
        })
      })
    const bus = yield* EventBus

    const analyzeOne = (message: PendingAnalysis): Effect.Effect<Step> =>
      analyzer.analyze(message.input).pipe(
        Effect.map((result): Step => ({ _tag: "analysed", id: message.id, result })),
        Effect.catchTag("AnalysisProviderError", (error) =>
          Effect.succeed<Step>(
            error.reason === "transient" || isConfigurationError(error)
              ? { _tag: "stop", id: message.id, error }
              : { _tag: "failed", id: message.id, reason: `${error.reason}: ${error.message}` }
          )
        )
      )

    return (payload: AnalyzeMailPayload) =>
      Effect.gen(function* () {
        const job = yield* CurrentJob
        const owner = yield* currentOwner
        const selection = { emailIds: payload.emailIds, accountId: payload.accountId }
        if (payload.embed === true) yield* embedFirst(owner, selection)
        // held by the job's record, the same over its attempts: the next attempt after a crash takes
        // back the batch the dead one claimed
        const claim: Claim = { holder: job.id, seconds: config.claimSeconds }
        // a read that finds nothing and its lock-out check: one transaction of the owner's
        const together: Together = (effect) => scope.run(owner, effect)
        // the job's opening reads in one transaction of the owner's, not one each: how much is pending
        // (the progress's total) and, when any is, the personal models its first batch blends with
        const opening = yield* scope.run(
          owner,
          Effect.gen(function* () {
            const pending = yield* store.countAnalysisPending(owner, selection)
            return { pending, models: pending > 0 ? yield* personalModels.latest(owner) : null }
          })
        )
        let total = opening.pending
        let done = 0
        let analysed = 0
        let failed = 0
        const recorded = yield* tokenUsageRecorderFor(budget, owner)
        // the owner's personal models, read with the pending count (or, when none was pending then, at
        // the job's first analysed batch) and again only once they are PERSONAL_MODELS_MAX_AGE old (a
        // training may land during a long backlog's job), not once per batch: a first page's batches
        // each paid the read
        let models: { readonly models: PersonalModels; readonly readAt: number } | null =
          opening.models === null ? null : { models: opening.models, readAt: Date.now() }
        const latestModels = Effect.suspend(() => {
          const now = Date.now()
          if (models !== null && now - models.readAt < PERSONAL_MODELS_MAX_AGE_MILLIS) {
            return Effect.succeed(models.models)
          }
          return Effect.tap(personalModels.latest(owner), (read) =>
            Effect.sync(() => {
              models = { models: read, readAt: now }
            })
          )
        })
        yield* job.progress({ phase: "analysing", done, total })
        yield* runBatchPipeline(
          {
            // a claimed batch: another job of the owner skips it (ProcessingStore, "Claims" in the README)
            read: (exclude) => store.claimAnalysis(owner, selection, config.analysisBatchSize, claim, exclude),
            release: (ids) => store.releaseAnalysisClaims(owner, claim.holder, ids),
            lockedOut: (seen) => store.analysisLockedOut(owner, selection, claim.holder, seen),
            id: (message) => message.id,
            // a bulk job (an initial sync's backlog) gives its slot to waiting interactive analysis
            // between batches: it runs again later from what is still pending (no attempt spent);
            // the budget is checked before each batch: what was done stays, the rest stays pending
            before: (first) =>
              Effect.andThen(
                first ? Effect.void : yieldToInteractive,
                budgeted ? budgetGate(budget, owner, "mail.analyze") : Effect.void
              ),
            process: (batch) =>
              Effect.forEach(batch, analyzeOne, { concurrency: config.analysisConcurrency }).pipe(
                Effect.provideService(TokenUsageRecorder, recorded.recorder),
                Effect.flatMap((steps) => blendBatch(owner, batch, steps, latestModels))
              ),
            stops: (steps) => steps.some((step) => step._tag === "stop"),
            write: (batch, steps) =>
              Effect.gen(function* () {
                const stop = steps.find((step) => step._tag === "stop")
                // Finished messages are saved even when the batch stops; stopped ones record the attempt and stay pending.
                const outcomes = steps.map(
                  (step): AnalysisOutcome =>
                    step._tag === "stop" ? { _tag: "deferred", id: step.id, reason: step.error.message } : step
                )
                const saved = yield* store.saveAnalysis(owner, outcomes)
                yield* countOutcomes(analyzer.provider, saved)
                // committed: the owner hears once of each message this save moved out of pending (one that
                // another job analysed too, e.g. a first page's job beside the owner's, is announced by the
                // job that saved it); a publish never fails the job. The rules of the batch are queued at the
                // same time, not after every publish went out.
                const occurredAt = new Date()
                const announced = Effect.forEach(
                  saved.analysedIds,
                  (id) => bus.publish(owner, new MailAnalysed({ occurredAt, emailId: EmailId.make(id) })),
                  { discard: true, concurrency: PUBLISH_CONCURRENCY }
                )
                const rulesQueued = followUps.mailAnalysed({
                  owner,
                  emailIds: [...saved.analysedIds, ...saved.failedIds]
                })
                yield* Effect.all([announced, rulesQueued], { concurrency: 2, discard: true })
                analysed += saved.analysed
                failed += saved.failed
                done += batch.length
                total = Math.max(total, done)
                yield* job.progress({
                  phase: "analysing",
                  done,
                  total,
                  message: `${analysed} analysed, ${failed} failed`
                })
                yield* recorded.failIfLost
                if (stop !== undefined && stop._tag === "stop") {
                  return yield* stop.error.reason === "transient"
                    ? Effect.fail(providerUnavailable(stop.error))
                    : Effect.fail(providerRejected(stop.error))
                }
              })
          },
          together
        )
        return { analysed, failed }
      }).pipe(
        Effect.catchTag("SqlError", databaseTrouble),
        Effect.withSpan("mail.analyze", { attributes: { "analysis.provider": analyzer.provider } })
      )
  })
)
