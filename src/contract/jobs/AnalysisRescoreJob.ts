import { Schema } from "effect"
import { defineJobKind } from "./JobKind.ts"

export const AnalysisRescorePayload = Schema.Struct({
  /** Messages dated at or after this instant. */
  since: Schema.DateFromString,
  /** ... and before this one; open when absent. */
  until: Schema.optionalKey(Schema.DateFromString)
})
export type AnalysisRescorePayload = typeof AnalysisRescorePayload.Type

export const AnalysisRescoreResult = Schema.Struct({
  rescored: Schema.Int,
  /** Messages whose blended urgency, importance, category or spam changed. */
  changed: Schema.Int,
  /** The personal model version applied; null when the owner has none. */
  version: Schema.NullOr(Schema.Int)
})

/**
 * Blends the owner's analysed mail of a date window again, from the stored base analysis and the
 * latest personal models (after a training changed them). Corrections are apart and still win.
 * Bulk work; one per owner and window at a time.
 */
export const AnalysisRescoreJob = defineJobKind({
  name: "analysis.rescore",
  description: "Re-scores your mail of a date window with your latest personal model",
  payload: AnalysisRescorePayload,
  result: AnalysisRescoreResult,
  concurrency: 1,
  timeout: "1 hour",
  retryOnTimeout: true,
  retry: { attempts: 5, initialDelay: "10 seconds", maxDelay: "5 minutes", jitter: 0.3 },
  deduplicationKey: (payload, owner) =>
    `${owner ?? "system"}:rescore:${payload.since.toISOString()}:${payload.until?.toISOString() ?? "open"}`,
  // a window of past mail: bulk, like applying rules to past mail
  workClass: "bulk",
  userVisible: true
})
