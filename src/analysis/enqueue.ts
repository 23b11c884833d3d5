import { Effect } from "effect"
import type { EmailId } from "../contract/emails/EmailId.ts"
import type { QueueUnavailable, SubmitRateLimited } from "../contract/jobs/Job.ts"
import { Jobs, type Submitted } from "../jobs/Jobs.ts"
import type { DatabaseError } from "../platform/Database.ts"
import type { UserId } from "../contract/users/UserId.ts"
import { AnalyzeMailJob } from "../contract/jobs/AnalyzeMailJob.ts"
import { EmbedMailJob } from "../contract/jobs/EmbedMailJob.ts"
import { AnalysisRescoreJob } from "../contract/jobs/AnalysisRescoreJob.ts"
import { ModelTrainJob } from "../contract/jobs/ModelTrainJob.ts"
import type { WorkClass } from "../contract/jobs/JobKind.ts"

export interface Enqueued {
  readonly analyze: Submitted
  readonly embed: Submitted
}

/**
 * For the sync, after it stored new messages of `ownerId` (their
 * `analysis_state` and `embedding_state` are `pending` by default): queues
 * one `mail.analyze` and one `mail.embed` job for all of the owner's pending
 * mail. Cheap to call after every sync: while such a job is queued or
 * running, the call returns that job (`created: false`), and a running job
 * keeps taking pending messages, in batches, until none are left.
 *
 * Fails only when the job could not be recorded or queued (nothing was
 * accepted then); the messages stay pending and the next call picks them up.
 */
export const enqueueNewMailProcessing = (
  ownerId: UserId,
  workClass: WorkClass = "interactive"
): Effect.Effect<Enqueued, QueueUnavailable | DatabaseError, Jobs> =>
  Effect.gen(function* () {
    const jobs = yield* Jobs
    const analyze = yield* jobs.submit(AnalyzeMailJob, {}, { ownerId, workClass })
    const embed = yield* jobs.submit(EmbedMailJob, {}, { ownerId, workClass })
    return { analyze, embed }
  }).pipe(Effect.withSpan("enqueueNewMailProcessing"))

/**
 * For the worker's sweep (PendingMailSweep.ts): the owner's `mail.analyze` and/or `mail.embed` for all
 * pending mail, as `enqueueNewMailProcessing(owner, "bulk")` queues them, but only the kinds `due` names
 * (a job of the other kind would find nothing). `created`: false when an equal job was queued or
 * running (submits de-duplicate), so only a job the sweep really queued is counted.
 */
export const enqueuePendingProcessing = (
  ownerId: UserId,
  due: { readonly analysis: boolean; readonly embedding: boolean }
): Effect.Effect<{ readonly analyze: boolean; readonly embed: boolean }, QueueUnavailable | DatabaseError, Jobs> =>
  Effect.gen(function* () {
    const jobs = yield* Jobs
    const analyze = due.analysis ? yield* jobs.submit(AnalyzeMailJob, {}, { ownerId, workClass: "bulk" }) : undefined
    const embed = due.embedding ? yield* jobs.submit(EmbedMailJob, {}, { ownerId, workClass: "bulk" }) : undefined
    return { analyze: analyze?.created === true, embed: embed?.created === true }
  }).pipe(Effect.withSpan("enqueuePendingProcessing"))

/**
 * For a small sync run's fresh mail (interactive follow-ups): one `mail.analyze` job that embeds the
 * owner's pending mail first (`embed: true`) instead of a `mail.analyze` and a `mail.embed` job, each
 * with its submit, turn, queue entry and state writes. When the submit joined an equal job that may
 * not embed or may have passed its embedding (running, or queued without `embed`), `mail.embed` is
 * queued as by `enqueueNewMailProcessing`; one that embeds and has not started (`covered`) does it. `embed` is the analysis job itself when it embeds.
 */
export const enqueueFreshMailProcessing = (
  ownerId: UserId
): Effect.Effect<Enqueued, QueueUnavailable | DatabaseError, Jobs> =>
  Effect.gen(function* () {
    const jobs = yield* Jobs
    const analyze = yield* jobs.submit(AnalyzeMailJob, { embed: true }, { ownerId })
    // joined a job that embeds and has not started (`covered`): it embeds this mail too when it starts
    const embed =
      analyze.created || analyze.covered === true ? analyze : yield* jobs.submit(EmbedMailJob, {}, { ownerId })
    return { analyze, embed }
  }).pipe(Effect.withSpan("enqueueFreshMailProcessing"))

/** Analysis and embedding of some messages that were just reset to pending (reprocess). */
export const enqueueMessages = (
  ownerId: UserId,
  emailIds: readonly [EmailId, ...ReadonlyArray<EmailId>]
): Effect.Effect<Enqueued, QueueUnavailable | DatabaseError, Jobs> =>
  Effect.gen(function* () {
    const jobs = yield* Jobs
    const analyze = yield* jobs.submit(AnalyzeMailJob, { emailIds }, { ownerId })
    const embed = yield* jobs.submit(EmbedMailJob, { emailIds }, { ownerId })
    return { analyze, embed }
  })

/** Re-embeds all of the owner's mail with the current embedding model (after a model change). */
export const enqueueReembedAll = (
  ownerId: UserId,
  requestedAt: Date
): Effect.Effect<Submitted, QueueUnavailable | DatabaseError, Jobs> =>
  Effect.gen(function* () {
    const jobs = yield* Jobs
    // a re-embed of everything is a backlog: bulk
    return yield* jobs.submit(EmbedMailJob, { refreshBefore: requestedAt }, { ownerId, workClass: "bulk" })
  })

/**
 * After a correction: queues the owner's `model.train` (debounced in the job; while one is queued
 * or running, the call returns it, so a burst of corrections is one job). System work: a
 * correction never spends the user's submit budget.
 */
export const enqueueTraining = (ownerId: UserId): Effect.Effect<Submitted, QueueUnavailable | DatabaseError, Jobs> =>
  Effect.gen(function* () {
    const jobs = yield* Jobs
    return yield* jobs.submit(ModelTrainJob, {}, { ownerId })
  }).pipe(Effect.withSpan("enqueueTraining"))

/** Re-blends the owner's mail of a window with their latest personal models (a request of the user's). */
export const enqueueRescore = (
  ownerId: UserId,
  window: { readonly since: Date; readonly until?: Date | undefined }
): Effect.Effect<Submitted, QueueUnavailable | SubmitRateLimited | DatabaseError, Jobs> =>
  Effect.gen(function* () {
    const jobs = yield* Jobs
    return yield* jobs.submitForUser(
      AnalysisRescoreJob,
      window.until === undefined ? { since: window.since } : { since: window.since, until: window.until },
      { ownerId }
    )
  })
