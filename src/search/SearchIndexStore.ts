import { Context, Effect, Layer, Schema } from "effect"
import { SqlClient, type SqlError } from "effect/sql"
import { decodeRows } from "../platform/Database.ts"
import type { UserId } from "../contract/users/UserId.ts"
import { UserScope } from "../users/UserScope.ts"

const decodeCounted = decodeRows(Schema.Struct({ n: Schema.Number }))
const decodeBatch = decodeRows(Schema.Struct({ picked: Schema.Number, updated: Schema.Number }))

/** Namespace of the advisory locks by which concurrent search.index batches claim rows ("MHSI"). */
const SEARCH_INDEX_CLAIM_NAMESPACE = 0x4d48_5349

/**
 * The SQL of the `search.index` job: the owner's messages whose full-text vector the sync
 * deferred (`search_vector IS NULL`), read and filled in the owner's scope.
 */
export class SearchIndexStore extends Context.Service<
  SearchIndexStore,
  {
    /** How many of the owner's messages have no vector yet. */
    readonly countUnindexed: (owner: UserId) => Effect.Effect<number, SqlError.SqlError>
    /**
     * One batch: fills the vectors of up to `limit` of them (migration 0050) in one statement; how
     * many it took up (`picked`, 0: none left that another batch has not claimed) and how many it wrote.
     *
     * The vectors (six `to_tsvector` calls per message, the expensive part) are computed BEFORE any
     * row is locked: concurrent batches claim rows with transaction advisory locks, which no other
     * writer takes, so analysis and embedding of the same rows never wait for a batch's computation.
     * The rows are then locked with SKIP LOCKED (a row another writer holds stays NULL for the next
     * batch, never waited on, so this writer cannot close a lock cycle: src/platform/rowLocks.ts) and
     * written at once. NO KEY UPDATE is the lock the UPDATE itself takes: it does not block
     * foreign-key checks.
     */
    readonly indexBatch: (
      owner: UserId,
      limit: number
    ) => Effect.Effect<{ readonly picked: number; readonly updated: number }, SqlError.SqlError>
  }
>()("mail-helper/SearchIndexStore") {
  static readonly layer = Layer.effect(
    SearchIndexStore,
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const scope = yield* UserScope
      const countUnindexed = (owner: UserId) =>
        scope
          .run(owner, sql`SELECT count(*)::int AS n FROM emails WHERE user_id = ${owner} AND search_vector IS NULL`)
          .pipe(
            Effect.flatMap(decodeCounted),
            Effect.map((rows) => rows[0]?.n ?? 0)
          )
      const indexBatch = (owner: UserId, limit: number) =>
        scope
          .run(
            owner,
            sql`
              WITH picked AS MATERIALIZED (
                SELECT id, app_search_document(subject, from_name, from_address, text_body) AS doc
                FROM emails
                WHERE user_id = ${owner} AND search_vector IS NULL
                  AND pg_try_advisory_xact_lock(${SEARCH_INDEX_CLAIM_NAMESPACE}, hashtext(id::text))
                LIMIT ${limit}),
              locked AS (
                SELECT e.id FROM emails e JOIN picked p ON p.id = e.id
                WHERE e.search_vector IS NULL
                FOR NO KEY UPDATE OF e SKIP LOCKED),
              updated AS (
                UPDATE emails e SET search_vector = p.doc
                FROM picked p JOIN locked l ON l.id = p.id
                WHERE e.id = p.id
                RETURNING 1)
              SELECT (SELECT count(*) FROM picked)::int AS picked, (SELECT count(*) FROM updated)::int AS updated`
          )
          .pipe(
            Effect.flatMap(decodeBatch),
            Effect.map((rows) => rows[0] ?? { picked: 0, updated: 0 })
          )
      return SearchIndexStore.of({ countUnindexed, indexBatch })
    })
  )
}
