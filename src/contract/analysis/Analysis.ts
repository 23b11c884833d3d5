import { Schema } from "effect"

/**
 * Domain of the analysis building blocks: what goes into a classifier, what
 * comes out, the priority score and its colour band, and the typed error every
 * provider fails with. No database, no network: pure values and Schemas.
 */

// ---------------------------------------------------------------------------
// Input
// ---------------------------------------------------------------------------

/** The few headers the analysis looks at. Absent header = key omitted. */
export const AnalysisHeaders = Schema.Struct({
  listUnsubscribe: Schema.optionalKey(Schema.String),
  listId: Schema.optionalKey(Schema.String),
  autoSubmitted: Schema.optionalKey(Schema.String),
  precedence: Schema.optionalKey(Schema.String),
  xMailer: Schema.optionalKey(Schema.String)
})
export type AnalysisHeaders = typeof AnalysisHeaders.Type

export const MailAddress = Schema.Struct({
  name: Schema.optionalKey(Schema.String),
  address: Schema.String
})
export type MailAddress = typeof MailAddress.Type

/** One message as the analysis sees it: plain text only (HTML already converted by the caller). */
export const AnalysisInput = Schema.Struct({
  subject: Schema.String,
  from: MailAddress,
  to: Schema.Array(Schema.String),
  date: Schema.Date,
  text: Schema.String,
  headers: AnalysisHeaders,
  hasAttachments: Schema.Boolean,
  attachmentNames: Schema.Array(Schema.String)
})
export type AnalysisInput = typeof AnalysisInput.Type

// ---------------------------------------------------------------------------
// Result
// ---------------------------------------------------------------------------

export const Level = Schema.Literals([1, 2, 3])
/** 1 = low, 2 = medium, 3 = high. */
export type Level = typeof Level.Type

export const categories = [
  "work",
  "personal",
  "finance",
  "shopping",
  "travel",
  "newsletter",
  "notification",
  "social",
  "security",
  "other"
] as const
export const Category = Schema.Literals(categories)
export type Category = typeof Category.Type

export const languages = ["de", "en", "other"] as const
export const Language = Schema.Literals(languages)
export type Language = typeof Language.Type

export const SUMMARY_MAX_CHARS = 300
export const TAGS_MAX = 8
export const TAG_MAX_CHARS = 32

export const Tag = Schema.String.check(
  Schema.isMinLength(1),
  Schema.isMaxLength(TAG_MAX_CHARS),
  Schema.isLowercased(),
  Schema.isTrimmed()
)

export const AnalysisResult = Schema.Struct({
  urgency: Level,
  importance: Level,
  category: Category,
  spam: Schema.Boolean,
  summary: Schema.String.check(Schema.isMaxLength(SUMMARY_MAX_CHARS)),
  tags: Schema.Array(Tag).check(Schema.isMaxLength(TAGS_MAX), Schema.isUnique()),
  language: Language,
  confidence: Schema.Finite.check(Schema.isBetween({ minimum: 0, maximum: 1 }))
})
export type AnalysisResult = typeof AnalysisResult.Type

/** A result plus where it came from (stored with the analysis row). */
export const ProviderAnalysis = Schema.Struct({
  ...AnalysisResult.fields,
  provider: Schema.String,
  model: Schema.String
})
export type ProviderAnalysis = typeof ProviderAnalysis.Type

export const EmbeddingBatch = Schema.Struct({
  model: Schema.String,
  dimension: Schema.Int,
  vectors: Schema.Array(Schema.Array(Schema.Number))
})
export type EmbeddingBatch = typeof EmbeddingBatch.Type

// ---------------------------------------------------------------------------
// Priority
// ---------------------------------------------------------------------------

/** 3..9 */
export type Score = 3 | 4 | 5 | 6 | 7 | 8 | 9
export type Band = "red" | "yellow" | "green"

/** Priority score = 2 x urgency + importance (urgency weighs double). */
export const score = (urgency: Level, importance: Level): Score => {
  const s = 2 * urgency + importance
  // 2*{1,2,3} + {1,2,3} is always in 3..9; the switch narrows without a cast.
  switch (s) {
    case 3:
    case 4:
    case 5:
    case 6:
    case 7:
    case 8:
    case 9:
      return s
    default:
      throw new RangeError(`score out of range: ${s}`)
  }
}

/** red 8-9, yellow 5-7, green 3-4. */
export const band = (s: number): Band => (s >= 8 ? "red" : s >= 5 ? "yellow" : "green")

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

export const ProviderErrorReason = Schema.Literals(["transient", "permanent", "invalid_output"])
export type ProviderErrorReason = typeof ProviderErrorReason.Type

/**
 * Every provider failure. `transient` (network, timeouts, 429, 5xx) is worth
 * retrying later; `permanent` (4xx, bad configuration) is not; `invalid_output`
 * means the model answered but not in the agreed shape (already retried once).
 * `message` never contains secrets (API keys) or message text.
 */
export class AnalysisProviderError extends Schema.TaggedError<AnalysisProviderError>()("AnalysisProviderError", {
  reason: ProviderErrorReason,
  provider: Schema.String,
  operation: Schema.Literals(["analyze", "embed"]),
  attempts: Schema.Int,
  status: Schema.optionalKey(Schema.Int),
  message: Schema.String
}) {}
