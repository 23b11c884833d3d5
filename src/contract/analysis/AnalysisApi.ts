import { Schema } from "effect"
import { HttpApiEndpoint, HttpApiGroup, HttpApiSchema } from "effect/http-api"
import { ServiceUnavailable, ValidationError } from "../http/ApiErrors.ts"
import { DateTimeFilter } from "../http/ApiSchemas.ts"
import { JobAccepted } from "../jobs/Job.ts"
import { Authentication } from "../users/CurrentUser.ts"
import { TooManyRequestsWithRetryAfter } from "../users/UserErrors.ts"

/**
 * How good the user's personal models are (learnt from their corrections), and re-scoring their
 * mail with them. Targets: urgency, importance, category, spam, and `tag:<name>` per tag the user
 * applied or removed by hand.
 */

export const ClassQualityView = Schema.Struct({
  label: Schema.String,
  /** Held-out corrections with this value. */
  support: Schema.Int,
  personalPrecision: Schema.NullOr(Schema.Number),
  personalRecall: Schema.NullOr(Schema.Number),
  basePrecision: Schema.NullOr(Schema.Number),
  baseRecall: Schema.NullOr(Schema.Number)
})

export const TargetQuality = Schema.Struct({
  target: Schema.String,
  corrections: Schema.Int,
  /** Cross-validated (k folds) accuracy on held-out corrections; null with fewer than 2 corrections. */
  personalAccuracy: Schema.NullOr(Schema.Number),
  /** The base analysis's accuracy on the same held-out corrections. */
  baseAccuracy: Schema.NullOr(Schema.Number),
  folds: Schema.Int,
  perClass: Schema.Array(ClassQualityView),
  /** Whether the personal model takes part in the blend. */
  used: Schema.Boolean,
  whyNot: Schema.NullOr(Schema.Literals(["too_few_corrections", "not_better_than_base"])),
  /** In words: used with which weight, or why not. */
  explanation: Schema.String,
  /** n / (n + minimum) x accuracy; 0 when not used. */
  weight: Schema.Number
})

export const QualityPoint = Schema.Struct({
  version: Schema.Int,
  trainedAt: Schema.Date,
  corrections: Schema.Int,
  personalAccuracy: Schema.NullOr(Schema.Number),
  baseAccuracy: Schema.NullOr(Schema.Number),
  used: Schema.Boolean
})

export const QualityResponse = Schema.Struct({
  /** LEARNING_MIN_CORRECTIONS: corrections of a target before its model may be used. */
  minCorrections: Schema.Int,
  /** The latest training; null before the first. */
  version: Schema.NullOr(Schema.Int),
  trainedAt: Schema.NullOr(Schema.Date),
  targets: Schema.Array(TargetQuality),
  /** Per target, one point per kept version, oldest first: ready for a line chart. */
  series: Schema.Array(Schema.Struct({ target: Schema.String, points: Schema.Array(QualityPoint) }))
})
export type QualityResponse = typeof QualityResponse.Type

export const RescoreRequest = Schema.Struct({
  /** Messages dated at or after this. */
  since: DateTimeFilter,
  /** ... and before this (default: no end). */
  until: Schema.optionalKey(DateTimeFilter)
})

/**
 * A user's daily AI token budget (OpenAI-compatible provider): tokens the provider reported as used
 * today (UTC) by the user's mail.analyze / mail.embed jobs. `limit` null: no budget.
 */
export const TokenBudgetView = Schema.Struct({
  limit: Schema.NullOr(Schema.Int),
  used: Schema.Int,
  remaining: Schema.NullOr(Schema.Int),
  /** When `used` starts again from 0: the next UTC midnight. */
  resetAt: Schema.Date
})
export type TokenBudgetView = typeof TokenBudgetView.Type

export class AnalysisApi extends HttpApiGroup.make("analysis")
  .add(
    HttpApiEndpoint.get("budget", "/analysis/budget", {
      success: TokenBudgetView,
      error: ServiceUnavailable
    })
  )
  .add(
    HttpApiEndpoint.get("quality", "/analysis/quality", {
      success: QualityResponse,
      error: [ServiceUnavailable]
    })
  )
  .add(
    HttpApiEndpoint.post("rescore", "/analysis/rescore", {
      payload: RescoreRequest,
      success: JobAccepted.pipe(HttpApiSchema.status(202)),
      error: [ValidationError, TooManyRequestsWithRetryAfter, ServiceUnavailable]
    })
  )
  .middleware(Authentication)
  .prefix("/api/v1") {}
