import { Context, Effect, Layer } from "effect"
import type { AnalysisProviderError } from "../contract/analysis/Analysis.ts"
import { dot, normalize } from "../analysis/embeddingCodec.ts"
import { MailProcessingConfig } from "../analysis/MailProcessingConfig.ts"
import { embeddingText } from "../analysis/ProcessingStore.ts"
import { Analyzer } from "../analysis/providers/Analyzer.ts"
import { EmailNotFound } from "../contract/emails/EmailId.ts"
import type { EmailSummary } from "../contract/emails/EmailViews.ts"
import { type DatabaseError, fromSqlError } from "../platform/Database.ts"
import type { UserId } from "../contract/users/UserId.ts"
import { EmailSummaries } from "./EmailSummaries.ts"
import { SearchStore } from "./SearchStore.ts"
import { VectorIndex } from "./VectorIndex.ts"
import { type SearchMode, SemanticSearchUnavailable } from "../contract/search/SearchSchemas.ts"

/**
 * Search over one user's mail (src/search/README.md):
 *
 * - fulltext: PostgreSQL text search. The query is read with
 *   `websearch_to_tsquery` (quotes, `or`, `-word`) in English, German and
 *   unstemmed, OR-ed, so "Rechnungen" finds "Rechnung" and "invoices" finds
 *   "invoice"; the GIN index is probed by `app_fulltext_search` (migration
 *   0031), ranked by `ts_rank_cd` (subject > sender > body).
 * - semantic: the query embedded with the configured model, against the
 *   user's stored vectors of that model (VectorIndex: full int8 scan, then
 *   the best candidates re-scored exactly with the stored float vectors).
 * - hybrid: both lists fused by reciprocal rank fusion (k = 60).
 *
 * Every hit gets a snippet: `ts_headline` over the first 10,000 characters of
 * the body, HTML-escaped, matches wrapped in `<mark>`.
 */

export interface SearchHit {
  readonly email: EmailSummary
  /** fulltext: ts_rank_cd; semantic: cosine similarity; hybrid: the fused RRF score. */
  readonly score: number
  /** HTML-escaped text around the matches, each match in `<mark>...</mark>`; null without body text. */
  readonly snippet: string | null
  /** 1-based place in the full-text / semantic list (null when not in it). */
  readonly fulltextRank: number | null
  readonly semanticRank: number | null
}

export interface SearchResult {
  readonly query: string
  readonly mode: SearchMode
  readonly items: ReadonlyArray<SearchHit>
  /** The embedding model queried (semantic and hybrid). */
  readonly model: string | null
}

export interface SimilarResult {
  readonly items: ReadonlyArray<{ readonly email: EmailSummary; readonly score: number }>
  readonly model: string
}

/** Reciprocal rank fusion constant (Cormack et al. 2009). */
export const RRF_K = 60
/** How deep each list goes before fusion. */
const FUSION_DEPTH = 50
const SNIPPET_SOURCE_CHARS = 10_000
const SNIPPET_OPTIONS =
  'StartSel=\u0001, StopSel=\u0002, MaxWords=30, MinWords=12, MaxFragments=2, FragmentDelimiter=" … "'

/** A bounded ts_headline result made safe for HTML: everything escaped, then the markers become `<mark>`. */
export const renderSnippet = (raw: string): string => {
  const escaped = raw
    .replaceAll("&", "&amp;")
    .replaceAll("<", "&lt;")
    .replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;")
    .replaceAll("'", "&#39;")
  return escaped.replaceAll("\u0001", "<mark>").replaceAll("\u0002", "</mark>")
}

/** Fuses ranked id lists: score(id) = Σ 1 / (k + rank). Ties keep the first list's order. */
export const reciprocalRankFusion = (
  lists: ReadonlyArray<ReadonlyArray<string>>,
  k = RRF_K
): Array<{ readonly id: string; readonly score: number; readonly ranks: ReadonlyArray<number | null> }> => {
  const fused = new Map<string, { score: number; ranks: Array<number | null>; order: number }>()
  let order = 0
  lists.forEach((list, which) => {
    list.forEach((id, index) => {
      let entry = fused.get(id)
      if (entry === undefined) {
        entry = { score: 0, ranks: lists.map(() => null), order: order++ }
        fused.set(id, entry)
      }
      entry.score += 1 / (k + index + 1)
      entry.ranks[which] = index + 1
    })
  })
  return [...fused.entries()]
    .sort((a, b) => b[1].score - a[1].score || a[1].order - b[1].order)
    .map(([id, entry]) => ({ id, score: entry.score, ranks: entry.ranks }))
}

export interface SearchShape {
  readonly search: (
    userId: UserId,
    query: string,
    mode: SearchMode,
    limit: number
  ) => Effect.Effect<SearchResult, DatabaseError | SemanticSearchUnavailable>
  readonly similar: (
    userId: UserId,
    emailId: string,
    limit: number
  ) => Effect.Effect<SimilarResult, EmailNotFound | DatabaseError | SemanticSearchUnavailable>
}

export class Search extends Context.Service<Search, SearchShape>()("mail-helper/Search") {
  static readonly layer = Layer.effect(
    Search,
    Effect.gen(function* () {
      const store = yield* SearchStore
      const analyzer = yield* Analyzer
      const index = yield* VectorIndex
      const emails = yield* EmailSummaries
      const processing = yield* MailProcessingConfig

      const fulltext = (userId: UserId, q: string, depth: number) =>
        store.fulltext(userId, q, depth).pipe(Effect.withSpan("Search.fulltext"))

      const snippets = (userId: UserId, q: string, ids: ReadonlyArray<string>) =>
        ids.length === 0
          ? Effect.succeed(new Map<string, string | null>())
          : store.snippets(userId, q, ids, SNIPPET_SOURCE_CHARS, SNIPPET_OPTIONS).pipe(
              Effect.map(
                (rows) => new Map(rows.map((row) => [row.id, row.snippet === null ? null : renderSnippet(row.snippet)]))
              ),
              Effect.withSpan("Search.snippets")
            )

      const unavailable = (error: AnalysisProviderError) =>
        new SemanticSearchUnavailable({
          message: `semantic search is unavailable: the query could not be embedded (${error.reason}): ${error.message}`
        })

      const embedQuery = (text: string) =>
        analyzer.embed([text]).pipe(
          Effect.mapError(unavailable),
          Effect.map((batch) => ({ model: batch.model, vector: normalize(batch.vectors[0] ?? []) }))
        )

      /**
       * The index's best candidates. `exact`: re-scored with the stored float vectors (vanished
       * ones dropped, the index told); otherwise the int8 scores as they are (fusion only needs ranks).
       */
      const nearest = (
        userId: UserId,
        model: string,
        vector: ReadonlyArray<number>,
        k: number,
        options: { readonly exact: boolean; readonly exclude?: string }
      ) =>
        Effect.gen(function* () {
          const candidates = yield* index
            .nearest(userId, model, vector, options.exact ? Math.max(2 * k, k + 20) : k, options.exclude)
            .pipe(Effect.mapError(fromSqlError))
          if (!options.exact || candidates.length === 0) return candidates.filter((hit) => hit.score > 0)
          const rows = yield* store.vectors(
            userId,
            model,
            candidates.map((c) => c.id)
          )
          if (rows.length < candidates.length) {
            const present = new Set(rows.map((row) => row.email_id))
            yield* index.forget(
              userId,
              model,
              candidates.filter((c) => !present.has(c.id)).map((c) => c.id)
            )
          }
          return rows
            .map((row) => ({ id: row.email_id, score: dot(vector, row.vector) }))
            .filter((hit) => hit.score > 0)
            .sort((a, b) => b.score - a.score)
            .slice(0, k)
        }).pipe(Effect.withSpan("Search.semantic", { attributes: { "search.exact": options.exact } }))

      const hydrate = <T extends { readonly id: string }>(userId: UserId, hits: ReadonlyArray<T>) =>
        Effect.map(
          emails.summaries(
            userId,
            hits.map((hit) => hit.id)
          ),
          (found) =>
            hits.flatMap((hit) => {
              const email = found.get(hit.id)
              return email === undefined ? [] : [{ hit, email }]
            })
        )

      const search = (userId: UserId, query: string, mode: SearchMode, limit: number) =>
        Effect.gen(function* () {
          let ranked: Array<{
            readonly id: string
            readonly score: number
            readonly fulltextRank: number | null
            readonly semanticRank: number | null
          }>
          let model: string | null = null
          if (mode === "fulltext") {
            const hits = yield* fulltext(userId, query, limit)
            ranked = hits.map((hit, i) => ({ id: hit.id, score: hit.rank, fulltextRank: i + 1, semanticRank: null }))
          } else if (mode === "semantic") {
            const embedded = yield* embedQuery(query)
            model = embedded.model
            const hits = yield* nearest(userId, embedded.model, embedded.vector, limit, { exact: true })
            ranked = hits.map((hit, i) => ({ id: hit.id, score: hit.score, fulltextRank: null, semanticRank: i + 1 }))
          } else {
            const depth = Math.max(limit, FUSION_DEPTH)
            const embedded = yield* embedQuery(query)
            model = embedded.model
            const [words, meaning] = yield* Effect.all(
              [
                fulltext(userId, query, depth),
                nearest(userId, embedded.model, embedded.vector, depth, { exact: false })
              ],
              { concurrency: 2 }
            )
            ranked = reciprocalRankFusion([words.map((hit) => hit.id), meaning.map((hit) => hit.id)])
              .slice(0, limit)
              .map((fused) => ({
                id: fused.id,
                score: fused.score,
                fulltextRank: fused.ranks[0] ?? null,
                semanticRank: fused.ranks[1] ?? null
              }))
          }
          const [found, snippetOf] = yield* Effect.all(
            [
              hydrate(userId, ranked),
              snippets(
                userId,
                query,
                ranked.map((hit) => hit.id)
              )
            ],
            { concurrency: 2 }
          )
          // a message found by its vector but gone from the mailbox: the index is out of date
          if (model !== null && found.length < ranked.length) {
            const present = new Set(found.map(({ hit }) => hit.id))
            yield* index.forget(
              userId,
              model,
              ranked.filter((hit) => hit.semanticRank !== null && !present.has(hit.id)).map((hit) => hit.id)
            )
          }
          return {
            query,
            mode,
            model,
            items: found.map(({ hit, email }) => ({
              email,
              score: hit.score,
              snippet: snippetOf.get(hit.id) ?? null,
              fulltextRank: hit.fulltextRank,
              semanticRank: hit.semanticRank
            }))
          } satisfies SearchResult
        }).pipe(Effect.withSpan("Search.search", { attributes: { "search.mode": mode, "search.limit": limit } }))

      /** The message's stored vector of `model`, or one made now from its text (not stored). */
      const vectorOf = (userId: UserId, emailId: string, model: string) =>
        Effect.gen(function* () {
          const stored = yield* store.storedVector(userId, emailId, model)
          if (stored !== undefined) return stored.vector
          const text = yield* store.embeddingSource(userId, emailId, processing.embeddingTextMaxChars)
          if (text === undefined) return yield* Effect.fail(EmailNotFound.forId(emailId))
          const embedded = yield* embedQuery(
            embeddingText(text.subject, text.from_name, text.body, processing.embeddingTextMaxChars)
          )
          return embedded.vector
        })

      const similar = (userId: UserId, emailId: string, limit: number) =>
        Effect.gen(function* () {
          const model = analyzer.embeddingModel
          const vector = normalize(yield* vectorOf(userId, emailId, model))
          const hits = yield* nearest(userId, model, vector, limit, { exact: true, exclude: emailId })
          const found = yield* hydrate(
            userId,
            hits.filter((hit) => hit.id !== emailId)
          )
          return { model, items: found.map(({ hit, email }) => ({ email, score: hit.score })) } satisfies SimilarResult
        }).pipe(Effect.withSpan("Search.similar"))

      return Search.of({ search, similar })
    })
  )
}
