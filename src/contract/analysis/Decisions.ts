import { Schema } from "effect"

/**
 * Which source decided one analysed value, and why: the base analysis (the
 * provider), the user's personal model (learnt from their corrections), or
 * the user's own correction of this message (which always wins).
 */
export const DecisionSource = Schema.Literals(["base", "personal", "correction"])
export type DecisionSource = typeof DecisionSource.Type

export const Decision = Schema.Struct({
  source: DecisionSource,
  reason: Schema.String,
  /** The personal model's version consulted; null when there was none. */
  modelVersion: Schema.NullOr(Schema.Int),
  /** The personal model's weight in the blend (0 when not used). */
  weight: Schema.Number
})
export type Decision = typeof Decision.Type

export const Decisions = Schema.Struct({
  urgency: Decision,
  importance: Decision,
  category: Decision,
  spam: Decision
})
export type Decisions = typeof Decisions.Type
