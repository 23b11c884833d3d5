import { Schema } from "effect"
import { band, categories, Level, TAG_MAX_CHARS, TAGS_MAX } from "../analysis/Analysis.ts"
import { Decisions } from "../analysis/Decisions.ts"
import { EmailId } from "./EmailId.ts"

/**
 * What the emails API shows. "Effective" values are the user's correction
 * when there is one, else the analysis (migration 0030's email_effective);
 * `score` = 2 x urgency + importance (3-9) and `band` its colour (red 8-9,
 * yellow 5-7, green 3-4), null while urgency or importance is unknown.
 */

export const Band = Schema.Literals(["red", "yellow", "green"])
export const AnalysisState = Schema.Literals(["pending", "analysed", "failed"])
export const EmbeddingState = Schema.Literals(["pending", "embedded", "failed"])
export const CategoryName = Schema.Literals(categories)

export const AddressView = Schema.Struct({
  name: Schema.NullOr(Schema.String),
  address: Schema.NullOr(Schema.String)
})
export type AddressView = typeof AddressView.Type

const effectiveFields = {
  urgency: Schema.NullOr(Level),
  importance: Schema.NullOr(Level),
  score: Schema.NullOr(Schema.Int),
  band: Schema.NullOr(Band),
  /** One of the analysis categories (work, personal, finance, shopping, travel, newsletter, notification, social, security, other). */
  category: Schema.NullOr(Schema.String),
  spam: Schema.NullOr(Schema.Boolean),
  tags: Schema.Array(Schema.String),
  /** Model/mail-derived text: escape it when rendering. */
  summary: Schema.NullOr(Schema.String),
  /** Whether the user corrected any of the values above. */
  corrected: Schema.Boolean
}

/** A message in a list: headers, flags and the effective analysis. */
export class EmailSummary extends Schema.Class<EmailSummary>("EmailSummary")({
  id: EmailId,
  accountId: Schema.String,
  mailboxId: Schema.String,
  threadId: Schema.String,
  subject: Schema.NullOr(Schema.String),
  from: AddressView,
  /** The Date header, else the arrival time, else when it was stored: what lists sort and filter by. */
  date: Schema.Date,
  seen: Schema.Boolean,
  flagged: Schema.Boolean,
  hasAttachments: Schema.Boolean,
  size: Schema.Int,
  analysisState: AnalysisState,
  ...effectiveFields
}) {}

export const AttachmentView = Schema.Struct({
  id: Schema.String,
  position: Schema.Int,
  filename: Schema.NullOr(Schema.String),
  contentType: Schema.String,
  size: Schema.Int,
  contentId: Schema.NullOr(Schema.String),
  disposition: Schema.NullOr(Schema.String),
  sha256: Schema.NullOr(Schema.String)
})

/**
 * The analysis as the provider gave it (the base: before the personal model's blend; corrections
 * are apart, in `overrides`). The effective values above are the blend, or the correction.
 */
export const AnalysisView = Schema.Struct({
  urgency: Level,
  importance: Level,
  score: Schema.Int,
  band: Band,
  category: Schema.String,
  spam: Schema.Boolean,
  summary: Schema.String,
  tags: Schema.Array(Schema.String),
  language: Schema.String,
  provider: Schema.String,
  model: Schema.String,
  confidence: Schema.Number,
  analysedAt: Schema.Date
})
export type AnalysisView = typeof AnalysisView.Type

/** The user's corrections; null fields fall back to the analysis. */
export const OverridesView = Schema.Struct({
  urgency: Schema.NullOr(Level),
  importance: Schema.NullOr(Level),
  category: Schema.NullOr(Schema.String),
  spam: Schema.NullOr(Schema.Boolean),
  tags: Schema.NullOr(Schema.Array(Schema.String)),
  updatedAt: Schema.Date
})
export type OverridesView = typeof OverridesView.Type

/** Where the message is stored: one copy per mailbox it is in (Gmail: one per label, one in All Mail). */
export const EmailCopy = Schema.Struct({
  id: EmailId,
  mailboxId: Schema.String,
  mailboxPath: Schema.String,
  /** The copy that is analysed, embedded, searched and counted; the others show its results. */
  canonical: Schema.Boolean
})

/** One message with everything the API knows about it. */
export class EmailDetail extends Schema.Class<EmailDetail>("EmailDetail")({
  ...EmailSummary.fields,
  messageId: Schema.NullOr(Schema.String),
  inReplyTo: Schema.NullOr(Schema.String),
  references: Schema.Array(Schema.String),
  to: Schema.Array(AddressView),
  cc: Schema.Array(AddressView),
  replyTo: Schema.Array(AddressView),
  sentAt: Schema.NullOr(Schema.Date),
  receivedAt: Schema.NullOr(Schema.Date),
  flags: Schema.Array(Schema.String),
  text: Schema.NullOr(Schema.String),
  /** Sanitized when stored (no scripts, styles, handlers or remote loads); there is no raw HTML. */
  html: Schema.NullOr(Schema.String),
  attachments: Schema.Array(AttachmentView),
  analysis: Schema.NullOr(AnalysisView),
  overrides: Schema.NullOr(OverridesView),
  /** Per value, which source decided it (base, personal model, correction) and why; null until analysed. */
  decisions: Schema.NullOr(Decisions),
  /**
   * Tags your personal model suggests for this message (learnt from tags you applied and removed);
   * not applied: accept one with `PATCH /emails/:id` `{ "acceptSuggestedTag": "..." }`.
   */
  tagSuggestions: Schema.Array(Schema.String),
  analysisAttempts: Schema.Int,
  /** Why the last analysis attempt failed (also kept while a transient failure is retried). */
  analysisError: Schema.NullOr(Schema.String),
  embeddingState: EmbeddingState,
  embeddingError: Schema.NullOr(Schema.String),
  parseWarnings: Schema.Array(Schema.String),
  /** Every stored copy of this message (this one included), by mailbox path. */
  copies: Schema.Array(EmailCopy)
}) {}

export const EmailPage = Schema.Struct({
  items: Schema.Array(EmailSummary),
  /** Pass as `cursor` (with the same `sort`) for the next page; null on the last page. */
  nextCursor: Schema.NullOr(Schema.String)
})
export type EmailPage = typeof EmailPage.Type

/** Analysed messages per cell of the 3 x 3 matrix (effective urgency x importance); empty cells are left out. */
export const MatrixCounts = Schema.Struct({
  cells: Schema.Array(Schema.Struct({ urgency: Level, importance: Level, count: Schema.Int })),
  /** Sum of the cells' counts. */
  total: Schema.Int
})
export type MatrixCounts = typeof MatrixCounts.Type

const TagInput = Schema.String.pipe(
  Schema.check(Schema.isMinLength(1), Schema.isMaxLength(TAG_MAX_CHARS)),
  Schema.annotate({ description: "Trimmed and lower-cased when stored" })
)

/**
 * A correction: each field given replaces the AI's value for good (it wins
 * over every later analysis); `null` removes the correction; an absent field
 * keeps what is there.
 */
export const Correction = Schema.Struct({
  urgency: Schema.optionalKey(Schema.NullOr(Level)),
  importance: Schema.optionalKey(Schema.NullOr(Level)),
  category: Schema.optionalKey(Schema.NullOr(CategoryName)),
  spam: Schema.optionalKey(Schema.NullOr(Schema.Boolean)),
  tags: Schema.optionalKey(Schema.NullOr(Schema.Array(TagInput).pipe(Schema.check(Schema.isMaxLength(TAGS_MAX))))),
  /** Adds one tag (a suggestion, `tagSuggestions`) to the message's current tags; with `tags`, added to those. */
  acceptSuggestedTag: Schema.optionalKey(TagInput)
})
export type Correction = typeof Correction.Type

export const scoreOf = (urgency: number | null, importance: number | null): number | null =>
  urgency === null || importance === null ? null : 2 * urgency + importance

export const bandOf = (score: number | null) => (score === null ? null : band(score))
