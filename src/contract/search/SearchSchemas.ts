import { Schema } from "effect"

/** How a query matches: full-text, by meaning (embeddings), or both fused. */
export const SearchMode = Schema.Literals(["fulltext", "semantic", "hybrid"])
export type SearchMode = typeof SearchMode.Type

/** The embedding provider could not embed the query (down, or misconfigured): 503. */
export class SemanticSearchUnavailable extends Schema.TaggedError<SemanticSearchUnavailable>()(
  "SemanticSearchUnavailable",
  { message: Schema.String },
  { httpApiStatus: 503 }
) {}
