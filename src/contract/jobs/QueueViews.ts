import { Schema } from "effect"
import { JobState } from "./Job.ts"

/** What `celery inspect` and the admin queue view show. */
export const RegisteredKind = Schema.Struct({
  name: Schema.String,
  description: Schema.String,
  concurrency: Schema.Int,
  timeoutMillis: Schema.Number,
  retryOnTimeout: Schema.Boolean,
  attempts: Schema.Int,
  deduplicated: Schema.Boolean,
  userVisible: Schema.Boolean
})

export const QueueStats = Schema.Struct({
  queue: Schema.String,
  waiting: Schema.Int,
  active: Schema.Int,
  delayed: Schema.Int,
  failed: Schema.Int,
  completed: Schema.Int,
  prioritized: Schema.Int,
  workers: Schema.Int
})
export type QueueStats = typeof QueueStats.Type

export const ActiveJob = Schema.Struct({
  id: Schema.String,
  kind: Schema.String,
  ownerId: Schema.NullOr(Schema.String),
  state: JobState,
  attempt: Schema.Int,
  worker: Schema.NullOr(Schema.String),
  startedAt: Schema.NullOr(Schema.Date),
  progress: Schema.Unknown
})

export const WorkerInfo = Schema.Struct({
  queue: Schema.String,
  name: Schema.String,
  address: Schema.String,
  idleSeconds: Schema.Number
})

/** One user's share of the queues (admin only): waiting and running jobs, and the oldest wait. */
export const UserQueueStats = Schema.Struct({
  userId: Schema.NullOr(Schema.String),
  waiting: Schema.Int,
  running: Schema.Int,
  /** Seconds the user's oldest waiting job has waited; null when none waits. */
  oldestWaitSeconds: Schema.NullOr(Schema.Number)
})
