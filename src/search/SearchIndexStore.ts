import { Context, Effect, Layer, Schema } from "effect"
import { SqlClient, type SqlError } from "effect/sql"
import { decodeRows } from "../platform/Database.ts"
import type { UserId } from "../contract/users/UserId.ts"
import { UserScope } from "../users/UserScope.ts"
import { indexPendingBatch } from "./SearchIndexing.ts"

const decodeCounted = decodeRows(Schema.Struct({ n: Schema.Number }))

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
     * Fills the vectors of up to `limit` of them: how many it took up (`picked`, 0: none left that
     * another batch has not claimed) and how many it wrote (src/search/SearchIndexing.ts).
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
      // the batch's SQL and its locking: src/search/SearchIndexing.ts
      const indexBatch = (owner: UserId, limit: number) => indexPendingBatch(sql, scope, owner, limit)
      return SearchIndexStore.of({ countUnindexed, indexBatch })
    })
  )
}
