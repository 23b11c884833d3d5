import { Schema } from "effect"
import { defineJobKind } from "./JobKind.ts"

/** Nothing: the job trains the owner's models from the owner's corrections as they are when it runs. */
export const ModelTrainPayload = Schema.Struct({})
export type ModelTrainPayload = typeof ModelTrainPayload.Type

export const ModelTrainResult = Schema.Struct({
  /** Trainings run (more than one when corrections changed while one ran). */
  trainings: Schema.Int,
  /** The version saved last; null when there was nothing to train on. */
  version: Schema.NullOr(Schema.Int),
  corrections: Schema.Int,
  /** Targets whose model is used in the blend after the last training. */
  used: Schema.Array(Schema.String)
})

/**
 * Trains the owner's personal models (urgency, importance, category, spam, hand-applied tags) from
 * their corrections, measures them against the base analysis on held-out corrections, and saves a
 * new version. Queued by every correction; debounced: it waits until the corrections have not
 * changed for LEARNING_DEBOUNCE_MS, and trains again when they changed while it trained. One job
 * per owner at a time (the key names the owner): a correction while one is queued or running joins
 * it. Bulk work: it never has to be quick.
 */
export const ModelTrainJob = defineJobKind({
  name: "model.train",
  description: "Trains your personal model from your corrections",
  payload: ModelTrainPayload,
  result: ModelTrainResult,
  concurrency: 1,
  timeout: "30 minutes",
  retryOnTimeout: false,
  retry: { attempts: 3, initialDelay: "10 seconds", maxDelay: "2 minutes", jitter: 0.3 },
  deduplicationKey: (_payload, owner) => `${owner ?? "system"}:train`,
  // nobody waits on a training: it never holds up another user's fresh mail
  workClass: "bulk",
  userVisible: true
})
