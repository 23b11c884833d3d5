import { Context, Effect, Layer, Schema } from "effect"
import { SqlClient, type SqlError } from "effect/sql"
import type { AnalysisProviderError } from "../contract/analysis/Analysis.ts"
import { dot, normalize } from "../analysis/embeddingCodec.ts"
import { MailProcessingConfig } from "../analysis/MailProcessingConfig.ts"
import { embeddingText } from "../analysis/ProcessingStore.ts"
import { Analyzer } from "../analysis/providers/Analyzer.ts"
import { EmailNotFound } from "../contract/emails/EmailId.ts"
import type { EmailSummary } from "../contract/emails/EmailViews.ts"
import { type DatabaseError, decodeRows, fromSqlError } from "../platform/Database.ts"
import type { UserId } from "../contract/users/UserId.ts"
import { UserScope } from "../users/UserScope.ts"
import { EmailSummaries } from "./EmailSummaries.ts"
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

const RankRow = Schema.Struct({ id: Schema.String, rank: Schema.Number })
const SnippetRow = Schema.Struct({ id: Schema.String, snippet: Schema.NullOr(Schema.String) })
/**
 * Rows of `email_id, vector` (real[] arrives as an array of numbers). Checked by hand rather than
 * by Schema: a re-scoring reads up to 100 vectors of hundreds of numbers on every query.
 */
const vectorRows = (rows: ReadonlyArray<unknown>): Effect.Effect<Array<{ email_id: string; vector: Array<number> }>> =>
  Effect.suspend(() => {
    const out: Array<{ email_id: string; vector: Array<number> }> = []
    for (const row of rows) {
      if (typeof row !== "object" || row === null) return Effect.die(new Error("embeddings row is not an object"))
      const id: unknown = Object.getOwnPropertyDescriptor(row, "email_id")?.value
      const vector: unknown = Object.getOwnPropertyDescriptor(row, "vector")?.value
      if (typeof id !== "string" || !Array.isArray(vector)) return Effect.die(new Error("embeddings row has no vector"))
      const values: Array<number> = []
      for (const x of vector) {
        if (typeof x !== "number") return Effect.die(new Error("embeddings vector holds a non-number"))
        values.push(x)
      }
      out.push({ email_id: id, vector: values })
    }
    return Effect.succeed(out)
  })
const TextRow = Schema.Struct({
  subject: Schema.NullOr(Schema.String),
  from_name: Schema.NullOr(Schema.String),
  body: Schema.String
})

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
      const sql = yield* SqlClient.SqlClient
      const scope = yield* UserScope
      const analyzer = yield* Analyzer
      const index = yield* VectorIndex
      const emails = yield* EmailSummaries
      const processing = yield* MailProcessingConfig
      const decodeRanks = decodeRows(RankRow)
      const decodeSnippets = decodeRows(SnippetRow)
      const decodeText = decodeRows(TextRow)
      const inScope =
        (userId: UserId) =>
        <A, R>(effect: Effect.Effect<A, SqlError.SqlError, R>): Effect.Effect<A, DatabaseError, R> =>
          scope.run(userId, effect).pipe(Effect.mapError(fromSqlError))

      const tsquery = (q: string) =>
        sql`(websearch_to_tsquery('english', ${q}) || websearch_to_tsquery('german', ${q}) || websearch_to_tsquery('simple', ${q}))`

      const fulltext = (userId: UserId, q: string, depth: number) =>
        sql`
          SELECT f.email_id::text AS id, f.rank
          FROM app_fulltext_search(${tsquery(q)}, ${depth}) WITH ORDINALITY AS f(email_id, rank, place)
          ORDER BY f.place`.pipe(Effect.flatMap(decodeRanks), inScope(userId), Effect.withSpan("Search.fulltext"))

      const snippets = (userId: UserId, q: string, ids: ReadonlyArray<string>) =>
        ids.length === 0
          ? Effect.succeed(new Map<string, string | null>())
          : sql`
              SELECT e.id::text AS id,
                CASE WHEN e.text_body IS NULL OR e.text_body = '' THEN NULL ELSE
                  ts_headline(
                    CASE WHEN a.language = 'de' THEN 'german' ELSE 'english' END::regconfig,
                    translate(left(e.text_body, ${SNIPPET_SOURCE_CHARS}), E'\\x01\\x02', ''),
                    ${tsquery(q)},
                    ${SNIPPET_OPTIONS})
                END AS snippet
              FROM emails e LEFT JOIN email_analysis a ON a.email_id = e.id
              WHERE e.user_id = ${userId} AND e.id = ANY(${ids}::uuid[])`.pipe(
              Effect.flatMap(decodeSnippets),
              Effect.map(
                (rows) => new Map(rows.map((row) => [row.id, row.snippet === null ? null : renderSnippet(row.snippet)]))
              ),
              inScope(userId),
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
          const rows = yield* sql`
            SELECT email_id::text AS email_id, vector FROM embeddings
            WHERE user_id = ${userId} AND model = ${model} AND email_id = ANY(${candidates.map((c) => c.id)}::uuid[])`.pipe(
            Effect.flatMap(vectorRows),
            inScope(userId)
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
          const [stored] = yield* sql`
            SELECT email_id::text AS email_id, vector FROM embeddings
            WHERE user_id = ${userId} AND email_id = ${emailId}::uuid AND model = ${model}`.pipe(
            Effect.flatMap(vectorRows),
            inScope(userId)
          )
          if (stored !== undefined) return stored.vector
          const [text] = yield* sql`
            SELECT left(subject, 1000) AS subject, left(from_name, 200) AS from_name,
              left(COALESCE(text_body, ''), ${processing.embeddingTextMaxChars}) AS body
            FROM emails WHERE user_id = ${userId} AND id = ${emailId}::uuid`.pipe(
            Effect.flatMap(decodeText),
            inScope(userId)
          )
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
