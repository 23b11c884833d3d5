import { Schema } from "effect"
import { HttpApiEndpoint, HttpApiGroup } from "effect/http-api"
import { EmailSummary } from "../emails/EmailViews.ts"
import { ServiceUnavailable, ValidationError } from "../http/ApiErrors.ts"
import { Authentication } from "../users/CurrentUser.ts"
import { SearchMode, SemanticSearchUnavailable } from "./SearchSchemas.ts"

export const MAX_QUERY_CHARS = 500

export const SearchQuery = {
  /** Words, "quoted phrases", `or`, `-excluded` (websearch syntax); 1-500 characters. */
  q: Schema.String.pipe(Schema.check(Schema.isMinLength(1), Schema.isMaxLength(MAX_QUERY_CHARS))),
  /** `hybrid` (default), `fulltext` or `semantic`. */
  mode: Schema.optionalKey(SearchMode),
  limit: Schema.optionalKey(
    Schema.FiniteFromString.pipe(Schema.check(Schema.isInt(), Schema.isBetween({ minimum: 1, maximum: 50 })))
  )
}

export const SearchHit = Schema.Struct({
  email: EmailSummary,
  /** fulltext: ts_rank_cd; semantic: cosine similarity; hybrid: reciprocal-rank-fusion score. */
  score: Schema.Number,
  /** HTML-escaped text around the matches, matches in `<mark>`; null when the message has no text. */
  snippet: Schema.NullOr(Schema.String),
  fulltextRank: Schema.NullOr(Schema.Int),
  semanticRank: Schema.NullOr(Schema.Int)
})

export const SearchResponse = Schema.Struct({
  query: Schema.String,
  mode: SearchMode,
  items: Schema.Array(SearchHit),
  /** The embedding model queried (semantic and hybrid), else null. */
  model: Schema.NullOr(Schema.String)
})

export class SearchApi extends HttpApiGroup.make("search")
  .add(
    HttpApiEndpoint.get("search", "/search", {
      query: SearchQuery,
      success: SearchResponse,
      error: [ValidationError, SemanticSearchUnavailable, ServiceUnavailable]
    })
  )
  .middleware(Authentication)
  .prefix("/api/v1") {}
