import { Schema } from "effect"
import { HttpApiEndpoint, HttpApiGroup, HttpApiSchema } from "effect/http-api"
import { TAG_MAX_CHARS } from "../analysis/Analysis.ts"
import { ServiceUnavailable, ValidationError } from "../http/ApiErrors.ts"
import { DateTimeFilter } from "../http/ApiSchemas.ts"
import { JobAccepted } from "../jobs/Job.ts"
import { TooManyRequestsWithRetryAfter } from "../users/UserErrors.ts"
import { SemanticSearchUnavailable } from "../search/SearchSchemas.ts"
import { Authentication } from "../users/CurrentUser.ts"
import { EmailId, EmailNotFound } from "./EmailId.ts"
import {
  AnalysisState,
  CategoryName,
  Correction,
  EmailDetail,
  EmailPage,
  EmailSummary,
  MatrixCounts
} from "./EmailViews.ts"

const Uuid = Schema.String.pipe(Schema.check(Schema.isUUID()))
const BooleanFlag = Schema.Literals(["true", "false"])
const intBetween = (minimum: number, maximum: number) =>
  Schema.FiniteFromString.pipe(Schema.check(Schema.isInt(), Schema.isBetween({ minimum, maximum })))

export const EmailListQuery = {
  accountId: Schema.optionalKey(Uuid),
  mailboxId: Schema.optionalKey(Uuid),
  threadId: Schema.optionalKey(Schema.String.pipe(Schema.check(Schema.isMinLength(1), Schema.isMaxLength(1_000)))),
  /** Effective category (a correction wins). */
  category: Schema.optionalKey(CategoryName),
  /** Effective tag. */
  tag: Schema.optionalKey(Schema.String.pipe(Schema.check(Schema.isMinLength(1), Schema.isMaxLength(TAG_MAX_CHARS)))),
  /** Effective score 3-9 (2 x urgency + importance) at least this. */
  minScore: Schema.optionalKey(intBetween(3, 9)),
  /** Effective urgency / importance 1-3 (a correction wins): one cell of the matrix. */
  urgency: Schema.optionalKey(intBetween(1, 3)),
  importance: Schema.optionalKey(intBetween(1, 3)),
  unread: Schema.optionalKey(BooleanFlag),
  /** `true`: spam only; `false`: everything not judged spam (also what is not analysed yet). */
  spam: Schema.optionalKey(BooleanFlag),
  analysisState: Schema.optionalKey(AnalysisState),
  /** Inclusive bounds on `date` (ISO 8601). */
  dateFrom: Schema.optionalKey(DateTimeFilter),
  dateTo: Schema.optionalKey(DateTimeFilter),
  /** `date` (newest first, default) or `score` (highest first, then newest). */
  sort: Schema.optionalKey(Schema.Literals(["date", "score"])),
  limit: Schema.optionalKey(intBetween(1, 100)),
  cursor: Schema.optionalKey(Schema.String.pipe(Schema.check(Schema.isMaxLength(500))))
}

export const SimilarQuery = { limit: Schema.optionalKey(intBetween(1, 50)) }

export const SimilarResponse = Schema.Struct({
  items: Schema.Array(Schema.Struct({ email: EmailSummary, score: Schema.Number })),
  /** The embedding model compared. */
  model: Schema.String
})

/** 202: analysis is `jobId`/`state`; `embedding` is the re-embedding job. */
export const ReprocessAccepted = Schema.Struct({ ...JobAccepted.fields, embedding: JobAccepted })

const IdParams = { id: EmailId }
const NotFound404 = EmailNotFound

export class EmailsApi extends HttpApiGroup.make("emails")
  .add(
    HttpApiEndpoint.get("list", "/emails", {
      query: EmailListQuery,
      success: EmailPage,
      error: [ValidationError, ServiceUnavailable]
    })
  )
  .add(
    HttpApiEndpoint.get("matrix", "/emails/matrix", {
      query: { accountId: Schema.optionalKey(Uuid) },
      success: MatrixCounts,
      error: [ValidationError, ServiceUnavailable]
    })
  )
  .add(
    HttpApiEndpoint.get("get", "/emails/:id", {
      params: IdParams,
      success: EmailDetail,
      error: [NotFound404, ServiceUnavailable]
    })
  )
  .add(
    HttpApiEndpoint.patch("correct", "/emails/:id", {
      params: IdParams,
      payload: Correction,
      success: EmailDetail,
      error: [NotFound404, ServiceUnavailable]
    })
  )
  .add(
    HttpApiEndpoint.post("reprocess", "/emails/:id/reprocess", {
      params: IdParams,
      success: ReprocessAccepted.pipe(HttpApiSchema.status(202)),
      error: [NotFound404, TooManyRequestsWithRetryAfter, ServiceUnavailable]
    })
  )
  .add(
    HttpApiEndpoint.get("similar", "/emails/:id/similar", {
      params: IdParams,
      query: SimilarQuery,
      success: SimilarResponse,
      error: [NotFound404, SemanticSearchUnavailable, ServiceUnavailable]
    })
  )
  .add(
    HttpApiEndpoint.post("reembed", "/embeddings/reprocess", {
      success: JobAccepted.pipe(HttpApiSchema.status(202)),
      error: [TooManyRequestsWithRetryAfter, ServiceUnavailable]
    })
  )
  .middleware(Authentication)
  .prefix("/api/v1") {}
