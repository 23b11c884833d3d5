import { Array as Arr, Effect, Layer } from "effect"
import type { SqlClient } from "effect/sql"
import { AnalyzeMailJob } from "../contract/jobs/AnalyzeMailJob.ts"
import { EmbedMailJob } from "../contract/jobs/EmbedMailJob.ts"
import { isTerminal } from "../contract/jobs/Job.ts"
import { SearchIndexJob } from "../contract/jobs/SearchIndexJob.ts"
import { enqueueFreshMailProcessing, enqueueNewMailProcessing } from "../analysis/enqueue.ts"
import { applyPendingCorrections } from "../import/PendingCorrections.ts"
import { JobKinds } from "../jobs/JobKinds.ts"
import { Jobs } from "../jobs/Jobs.ts"
import { type FirstPageFollowUp, type FirstPagePhase, MailFollowUps } from "../pipeline/MailFollowUps.ts"
import { enqueueRulesForNewMail } from "../rules/NewMailRules.ts"
import { UserScope } from "../users/UserScope.ts"

/**
 * The mail pipeline, wired in one place: what each stage's announcement queues next.
 * - mail stored -> the corrections imported from another installation that waited for this mail
 *   (applied in the transaction that looks for mail awaiting its vectors), then `search.index` (when
 *   mail awaits its vectors: a run of more than `bulkFollowUpThreshold` messages stores its mail
 *   without them), then `mail.analyze` and `mail.embed` (when the run stored new mail); the jobs only
 *   when their kind is installed;
 * - mail analysed -> `rules.apply` for the analysed messages, when the owner has enabled rules.
 * A job that cannot be queued is logged: the stage's own work is saved, and the next sync (or
 * POST /rules/apply) picks the mail up again.
 */
/** A sync run that stored more new messages than this queues its follow-up work as bulk. */
export const bulkFollowUpThreshold = 200

/** No first-page job (analysis not installed, nothing stored, or the submit failed): nothing to wait for. */
const noFirstPage: FirstPageFollowUp = { phase: Effect.succeed("ended") }

export const MailFollowUpsLive = Layer.effect(
  MailFollowUps,
  Effect.gen(function* () {
    const jobs = yield* Jobs
    const kinds = yield* JobKinds
    // rules are looked up, and imported corrections applied, in the owner's scope
    const rulesContext = yield* Effect.context<Jobs | SqlClient.SqlClient | UserScope>()
    const storeContext = yield* Effect.context<SqlClient.SqlClient | UserScope>()
    const scope = yield* UserScope
    const searchIndexInstalled = kinds.get(SearchIndexJob.name) !== undefined
    const analysisInstalled = kinds.get(AnalyzeMailJob.name) !== undefined
    const embedInstalled = kinds.get(EmbedMailJob.name) !== undefined

    return MailFollowUps.of({
      // a small run (fresh mail, interactive follow-ups) stores its vectors: a search.index job per
      // fresh message cost more (submit, turn, queue, state) than the vectors of a few messages
      searchIndexDeferred: (backlog) => searchIndexInstalled && backlog > bulkFollowUpThreshold,
      mailStored: ({ owner, newMessages, backlog, awaitingSearchIndex }) =>
        Effect.gen(function* () {
          // a run in a backlog (an initial sync, resumed or not) queues its follow-ups as bulk work, so
          // the owner's and everyone's fresh mail is analysed first (docs/jobs.md); by what it plans,
          // not what it stored so far: its first announcement follows one batch of at most 200
          const workClass = backlog > bulkFollowUpThreshold ? "bulk" : "interactive"
          // corrections imported from another installation (src/import/README.md) that were waiting
          // for this mail; a failure leaves them waiting for the next sync
          const corrections =
            newMessages > 0
              ? applyPendingCorrections(owner).pipe(
                  Effect.catch((error) =>
                    Effect.logWarning("imported corrections not applied; the next sync will", error.message)
                  )
                )
              : Effect.void
          // the search-index check and the corrections: one transaction in the owner's scope, not one
          // each (each is four round trips or more, on every sync of fresh mail). The read comes first
          // and its answer is kept apart: a failed correction leaves the transaction aborted, so its
          // COMMIT fails, but what the read found stays true and its indexing is still queued
          let awaiting = false
          if (searchIndexInstalled || newMessages > 0) {
            yield* scope
              .run(
                owner,
                Effect.tap(searchIndexInstalled ? awaitingSearchIndex : Effect.succeed(false), (found) =>
                  Effect.andThen(
                    Effect.sync(() => {
                      awaiting = found
                    }),
                    corrections
                  )
                )
              )
              .pipe(
                Effect.provideContext(storeContext),
                Effect.catch((error) =>
                  Effect.logWarning(
                    "unindexed mail not looked up, or imported corrections not applied; the next sync will",
                    error.message
                  )
                )
              )
          }
          if (searchIndexInstalled && awaiting) {
            // the same submit as search/SearchIndexProcessor.ts's enqueueSearchIndexing, without loading the processor
            yield* jobs
              .submit(SearchIndexJob, {}, { ownerId: owner, workClass })
              .pipe(
                Effect.catch((error) =>
                  Effect.logWarning("search indexing of new mail not queued; the next sync will", error.message)
                )
              )
          }
          if (newMessages > 0 && analysisInstalled) {
            // a small run's fresh mail: one job analyses and embeds it (enqueue.ts); a backlog keeps
            // two jobs of its kinds, each yielding to interactive work between its batches
            yield* (
              workClass === "interactive" && embedInstalled
                ? enqueueFreshMailProcessing(owner)
                : enqueueNewMailProcessing(owner, workClass)
            ).pipe(
              Effect.provideService(Jobs, jobs),
              Effect.catch((error) =>
                Effect.logWarning("analysis of new mail not queued; the next sync will", error.message)
              )
            )
          }
        }),
      firstPageStored: ({ owner, accountId, emailIds }) =>
        Effect.gen(function* () {
          if (!analysisInstalled || !Arr.isReadonlyArrayNonEmpty(emailIds)) return noFirstPage
          // corrections imported from another installation that waited for this mail come first, as
          // for any stored mail: the first page is analysed and ruled with them, not before them
          yield* applyPendingCorrections(owner).pipe(
            Effect.provideContext(storeContext),
            Effect.catch((error) =>
              Effect.logWarning("imported corrections not applied; the next sync will", error.message)
            )
          )
          // the first screen: its own interactive job (the kind's class), queued before anything else
          // of the sync's follow-up work; its embeddings and search vectors come with the rest
          const submitted = yield* jobs.submit(AnalyzeMailJob, { emailIds, accountId }, { ownerId: owner })
          return {
            phase: jobs.get(owner, submitted.jobId).pipe(
              Effect.map(
                (job): FirstPagePhase =>
                  isTerminal(job.state) ? "ended" : job.state === "queued" ? "waiting" : "running"
              ),
              // not found (removed) or the database not answering: the rest is not held back
              Effect.catch((error) =>
                Effect.logWarning("first page's analysis job not looked up; the rest is queued", error.message).pipe(
                  Effect.as<FirstPagePhase>("ended")
                )
              )
            )
          } satisfies FirstPageFollowUp
        }).pipe(
          Effect.catch((error) =>
            Effect.as(
              Effect.logWarning("analysis of the first page not queued; it comes with the rest", error.message),
              noFirstPage
            )
          )
        ),
      mailAnalysed: ({ owner, emailIds }) =>
        enqueueRulesForNewMail(owner, emailIds).pipe(
          Effect.provideContext(rulesContext),
          // the analysis is saved either way; rules can be applied later with POST /rules/apply
          Effect.catch((error) => Effect.logWarning("rules not queued for new mail", { reason: error.message })),
          Effect.asVoid
        )
    })
  })
)
