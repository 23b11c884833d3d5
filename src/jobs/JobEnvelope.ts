import { Schema } from "effect"
import { JobId } from "../contract/jobs/Job.ts"

/**
 * What travels through BullMQ for one job. The payload is the kind's encoded
 * payload (never secrets); the durable record in PostgreSQL holds the rest.
 */
export const JobEnvelope = Schema.Struct({
  /** Checked here, so one malformed envelope cannot fail a batched statement shared with others. */
  jobId: JobId,
  payload: Schema.Unknown,
  /**
   * The record's owner (null: a system job), so a first attempt can start before its record
   * is read (WorkerRuntime). Envelopes queued before it existed lack it and claim first.
   */
  ownerId: Schema.optionalKey(Schema.NullOr(Schema.String)),
  /** W3C trace context of the request that enqueued the job. */
  traceparent: Schema.optionalKey(Schema.String),
  /** A per-job hard time limit tighter than the kind's. */
  timeoutMillis: Schema.optionalKey(Schema.Int),
  /** A per-job soft time limit tighter than the kind's (only used when it is before the hard one). */
  softTimeoutMillis: Schema.optionalKey(Schema.Int)
})
export type JobEnvelope = typeof JobEnvelope.Type

/** Name of the custom BullMQ backoff strategy (exponential, capped, jittered; see RetryBackoff.retryDelayMillis). */
export const backoffStrategyName = "mail-helper"

export const cancelChannel = (key: (...parts: ReadonlyArray<string>) => string): string => key("job-cancel")
