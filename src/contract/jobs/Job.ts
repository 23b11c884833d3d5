import { Schema } from "effect"

/** A job's id: the UUID of its durable record, also used as the BullMQ job id. */
export const JobId = Schema.String.pipe(Schema.check(Schema.isUUID()), Schema.brand("JobId"))
export type JobId = typeof JobId.Type

/**
 * Lifecycle of a job. Celery equivalents: queued = PENDING, running = STARTED,
 * retrying = RETRY, succeeded = SUCCESS, failed = FAILURE, cancelled = REVOKED.
 */
export const JobState = Schema.Literals(["queued", "running", "retrying", "succeeded", "failed", "cancelled"])
export type JobState = typeof JobState.Type

export const terminalStates: ReadonlyArray<JobState> = ["succeeded", "failed", "cancelled"]
export const isTerminal = (state: JobState): boolean => terminalStates.includes(state)

export const JobProgress = Schema.Struct({
  phase: Schema.String.pipe(Schema.check(Schema.isMaxLength(100))),
  done: Schema.Int.pipe(Schema.check(Schema.isGreaterThanOrEqualTo(0))),
  total: Schema.NullOr(Schema.Int.pipe(Schema.check(Schema.isGreaterThanOrEqualTo(0)))),
  message: Schema.NullOr(Schema.String.pipe(Schema.check(Schema.isMaxLength(500))))
})
export type JobProgress = typeof JobProgress.Type

export const JobErrorInfo = Schema.Struct({
  code: Schema.String,
  message: Schema.String
})
export type JobErrorInfo = typeof JobErrorInfo.Type

/** A job as the API shows it. */
export class JobView extends Schema.Class<JobView>("Job")({
  id: JobId,
  kind: Schema.String,
  state: JobState,
  progress: Schema.NullOr(JobProgress),
  result: Schema.NullOr(Schema.Unknown),
  error: Schema.NullOr(JobErrorInfo),
  attempts: Schema.Int,
  maxAttempts: Schema.Int,
  cancelRequested: Schema.Boolean,
  traceId: Schema.NullOr(Schema.String),
  createdAt: Schema.Date,
  startedAt: Schema.NullOr(Schema.Date),
  finishedAt: Schema.NullOr(Schema.Date),
  updatedAt: Schema.Date
}) {}

/**
 * Why a queued job has not started: `fair share` while other users' turns come first (or its own
 * earlier jobs'), `quota` while its owner runs as many jobs of the kind as their limit allows,
 * `imap slot` while every IMAP connection slot of its account is taken (it went back to waiting
 * without spending an attempt); null when it does not wait. Never a position: how many other users' jobs are ahead is not shown.
 */
export const JobWaiting = Schema.NullOr(Schema.Literals(["fair share", "quota", "imap slot"]))
export type JobWaiting = typeof JobWaiting.Type

/** A job as GET /jobs/:id shows it: the view and why it waits. */
export const JobStatusView = Schema.Struct({ ...JobView.fields, waiting: JobWaiting })
export type JobStatusView = typeof JobStatusView.Type

/** What POST endpoints that start work answer with (202). */
export const JobAccepted = Schema.Struct({ jobId: JobId, state: JobState })
export type JobAccepted = typeof JobAccepted.Type

export class JobNotFound extends Schema.TaggedError<JobNotFound>()("JobNotFound", {
  message: Schema.String
}) {
  static forId(id: string): JobNotFound {
    return new JobNotFound({ message: `no job with id ${id}` })
  }
}

export class JobAlreadyFinished extends Schema.TaggedError<JobAlreadyFinished>()("JobAlreadyFinished", {
  message: Schema.String,
  state: JobState
}) {}

/** The queue (Redis) could not take the job; nothing was accepted. */
export class QueueUnavailable extends Schema.TaggedError<QueueUnavailable>()("QueueUnavailable", {
  message: Schema.String
}) {}

/** A job kind that is not registered, or disabled by configuration. */
export class UnknownJobKind extends Schema.TaggedError<UnknownJobKind>()("UnknownJobKind", {
  message: Schema.String
}) {}

/** A user made more submits than their budget allows (JOB_SUBMIT_RATE_PER_MINUTE, JOB_SUBMIT_BURST). */
export class SubmitRateLimited extends Schema.TaggedError<SubmitRateLimited>()("SubmitRateLimited", {
  message: Schema.String,
  retryAfterSeconds: Schema.Int
}) {}
