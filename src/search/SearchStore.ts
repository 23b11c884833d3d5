import { Context, Effect, Layer, Schema } from "effect"
import { SqlClient, type SqlError } from "effect/sql"
import type { UserId } from "../contract/users/UserId.ts"
import { type DatabaseError, decodeRows } from "../platform/Database.ts"
import { inUserScope, UserScope } from "../users/UserScope.ts"

/**
 * The SQL of search (Search.ts) and of its vector index (VectorIndex.ts), every statement in the
 * user's row-level-security scope and filtered by the user. What the rows mean (ranking, fusion,
 * snippet rendering, re-scoring, the index itself) stays in those services: src/search/README.md.
 */

/** A message's stored float vector of one model. */
export interface StoredVector {
  readonly email_id: string
  readonly vector: Array<number>
}

/** What a message's embedding is made from, each part already cut to its bound. */
export interface EmbeddingSource {
  readonly subject: string | null
  readonly from_name: string | null
  readonly body: string
}

/** One `embeddings` row as the vector index loads it: the int8 copy, or the floats when there is none. */
export interface IndexedVectorRow {
  readonly seq: string
  readonly email_id: string
  readonly dimension: number
  readonly q8: Uint8Array | null
  readonly vector: ReadonlyArray<number> | null
}

const RankRow = Schema.Struct({ id: Schema.String, rank: Schema.Number })
const SnippetRow = Schema.Struct({ id: Schema.String, snippet: Schema.NullOr(Schema.String) })
const TextRow = Schema.Struct({
  subject: Schema.NullOr(Schema.String),
  from_name: Schema.NullOr(Schema.String),
  body: Schema.String
})
const MaxRow = Schema.Struct({ max: Schema.String })
const VectorRow = Schema.Struct({
  seq: Schema.String,
  email_id: Schema.String,
  dimension: Schema.Number,
  q8: Schema.NullOr(Schema.Uint8Array),
  vector: Schema.NullOr(Schema.Array(Schema.Number))
})

/**
 * Rows of `email_id, vector` (real[] arrives as an array of numbers). Checked by hand rather than
 * by Schema: a re-scoring reads up to 100 vectors of hundreds of numbers on every query.
 */
const vectorRows = (rows: ReadonlyArray<unknown>): Effect.Effect<Array<StoredVector>> =>
  Effect.suspend(() => {
    const out: Array<StoredVector> = []
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

export interface SearchStoreShape {
  /**
   * The full-text probe (`app_fulltext_search`, migration 0031): up to `depth` ids with their
   * `ts_rank_cd`, best first. The query is read as `websearch_to_tsquery` in English, German and
   * unstemmed, OR-ed.
   */
  readonly fulltext: (
    userId: UserId,
    query: string,
    depth: number
  ) => Effect.Effect<ReadonlyArray<{ readonly id: string; readonly rank: number }>, DatabaseError>
  /**
   * `ts_headline` of each message's first `sourceChars` characters of body (config by its detected
   * language; the marker characters removed from the text first), with the options given; null
   * without body text. Raw: the caller escapes it.
   */
  readonly snippets: (
    userId: UserId,
    query: string,
    ids: ReadonlyArray<string>,
    sourceChars: number,
    options: string
  ) => Effect.Effect<ReadonlyArray<{ readonly id: string; readonly snippet: string | null }>, DatabaseError>
  /** The stored float vectors of `model` of these messages (those that have one). */
  readonly vectors: (
    userId: UserId,
    model: string,
    ids: ReadonlyArray<string>
  ) => Effect.Effect<ReadonlyArray<StoredVector>, DatabaseError>
  /** One message's stored float vector of `model`, if any. */
  readonly storedVector: (
    userId: UserId,
    emailId: string,
    model: string
  ) => Effect.Effect<StoredVector | undefined, DatabaseError>
  /** What to embed for a message (body cut to `maxChars`); undefined when the user has no such message. */
  readonly embeddingSource: (
    userId: UserId,
    emailId: string,
    maxChars: number
  ) => Effect.Effect<EmbeddingSource | undefined, DatabaseError>
  /** The user's highest change number (`embeddings.seq`) of `model`; 0 without vectors. */
  readonly highestChange: (userId: UserId, model: string) => Effect.Effect<bigint, SqlError.SqlError>
  /** Up to `limit` of the user's `model` rows with a change number above `after`, in change-number order. */
  readonly changedSince: (
    userId: UserId,
    model: string,
    after: bigint,
    limit: number
  ) => Effect.Effect<ReadonlyArray<IndexedVectorRow>, SqlError.SqlError>
}

export class SearchStore extends Context.Service<SearchStore, SearchStoreShape>()("mail-helper/SearchStore") {
  static readonly layer = Layer.effect(
    SearchStore,
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const scope = yield* UserScope
      const decodeRanks = decodeRows(RankRow)
      const decodeSnippets = decodeRows(SnippetRow)
      const decodeText = decodeRows(TextRow)
      const decodeMax = decodeRows(MaxRow)
      const decodeVectors = decodeRows(VectorRow)
      const inScope = inUserScope(scope)

      const tsquery = (q: string) =>
        sql`(websearch_to_tsquery('english', ${q}) || websearch_to_tsquery('german', ${q}) || websearch_to_tsquery('simple', ${q}))`

      const fulltext = (userId: UserId, q: string, depth: number) =>
        sql`
          SELECT f.email_id::text AS id, f.rank
          FROM app_fulltext_search(${tsquery(q)}, ${depth}) WITH ORDINALITY AS f(email_id, rank, place)
          ORDER BY f.place`.pipe(Effect.flatMap(decodeRanks), inScope(userId))

      const snippets = (userId: UserId, q: string, ids: ReadonlyArray<string>, sourceChars: number, options: string) =>
        sql`
          SELECT e.id::text AS id,
            CASE WHEN e.text_body IS NULL OR e.text_body = '' THEN NULL ELSE
              ts_headline(
                CASE WHEN a.language = 'de' THEN 'german' ELSE 'english' END::regconfig,
                translate(left(e.text_body, ${sourceChars}), E'\\x01\\x02', ''),
                ${tsquery(q)},
                ${options})
            END AS snippet
          FROM emails e LEFT JOIN email_analysis a ON a.email_id = e.id
          WHERE e.user_id = ${userId} AND e.id = ANY(${ids}::uuid[])`.pipe(
          Effect.flatMap(decodeSnippets),
          inScope(userId)
        )

      const vectors = (userId: UserId, model: string, ids: ReadonlyArray<string>) =>
        sql`
          SELECT email_id::text AS email_id, vector FROM embeddings
          WHERE user_id = ${userId} AND model = ${model} AND email_id = ANY(${ids}::uuid[])`.pipe(
          Effect.flatMap(vectorRows),
          inScope(userId)
        )

      const storedVector = (userId: UserId, emailId: string, model: string) =>
        sql`
          SELECT email_id::text AS email_id, vector FROM embeddings
          WHERE user_id = ${userId} AND email_id = ${emailId}::uuid AND model = ${model}`.pipe(
          Effect.flatMap(vectorRows),
          Effect.map((rows) => rows[0]),
          inScope(userId)
        )

      const embeddingSource = (userId: UserId, emailId: string, maxChars: number) =>
        sql`
          SELECT left(subject, 1000) AS subject, left(from_name, 200) AS from_name,
            left(COALESCE(text_body, ''), ${maxChars}) AS body
          FROM emails WHERE user_id = ${userId} AND id = ${emailId}::uuid`.pipe(
          Effect.flatMap(decodeText),
          Effect.map((rows) => rows[0]),
          inScope(userId)
        )

      const highestChange = (userId: UserId, model: string) =>
        scope
          .run(
            userId,
            sql`
              SELECT COALESCE(max(seq), 0)::text AS max FROM embeddings
              WHERE user_id = ${userId} AND model = ${model}`.pipe(Effect.flatMap(decodeMax))
          )
          .pipe(Effect.map(([top]) => BigInt(top?.max ?? "0")))

      const changedSince = (userId: UserId, model: string, after: bigint, limit: number) =>
        scope.run(
          userId,
          sql`
            SELECT m.seq::text AS seq, m.email_id, m.dimension, m.q8, CASE WHEN m.q8 IS NULL THEN m.vector END AS vector
            FROM embeddings m
            WHERE m.user_id = ${userId} AND m.model = ${model} AND m.seq > ${after.toString()}::bigint
            -- the number, not its text (the output column of the same name)
            ORDER BY m.seq
            LIMIT ${limit}`.pipe(Effect.flatMap(decodeVectors))
        )

      return SearchStore.of({
        fulltext,
        snippets,
        vectors,
        storedVector,
        embeddingSource,
        highestChange,
        changedSince
      })
    })
  )
}
