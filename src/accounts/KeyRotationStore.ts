/**
 * The SQL of `keys rotate` (KeyRotation.ts): reads and compare-and-set writes of the sealed
 * columns, whatever table they are in. The statements run in the transaction the caller opened
 * (one system-scope transaction per page, so that every user's rows are visible).
 */
import { Context, Effect, Layer, Schema } from "effect"
import { SqlClient, type SqlError } from "effect/sql"
import { decodeRows } from "../platform/Database.ts"

/** A column holding sealed secrets, and how each value is bound to its row. */
export interface SealedColumn {
  readonly table: string
  readonly column: string
  readonly associatedData: (id: string) => string
}

const SealedRow = Schema.Struct({ id: Schema.String, sealed: Schema.String })
export type SealedRow = typeof SealedRow.Type
const decodeSealed = decodeRows(SealedRow)

export class KeyRotationStore extends Context.Service<
  KeyRotationStore,
  {
    /** Up to `limit` rows holding a value (NULL: no secret, e.g. an OAuth2 account's password) with an id after `after`, by id (keyset pagination). */
    readonly sealedPage: (
      target: SealedColumn,
      after: string,
      limit: number
    ) => Effect.Effect<ReadonlyArray<SealedRow>, SqlError.SqlError>
    /**
     * Replaces one row's value only if it still is `expected` (compare-and-set): false when it
     * changed meanwhile, so a concurrent password change is never overwritten.
     */
    readonly replaceSealed: (
      target: SealedColumn,
      id: string,
      expected: string,
      resealed: string
    ) => Effect.Effect<boolean, SqlError.SqlError>
  }
>()("mail-helper/KeyRotationStore") {
  static readonly layer = Layer.effect(
    KeyRotationStore,
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const sealedPage = (target: SealedColumn, after: string, limit: number) =>
        sql`
          SELECT id::text AS id, ${sql(target.column)} AS sealed FROM ${sql(target.table)}
          WHERE id::text > ${after} AND ${sql(target.column)} IS NOT NULL ORDER BY id::text LIMIT ${limit}`.pipe(
          Effect.flatMap(decodeSealed)
        )
      const replaceSealed = (target: SealedColumn, id: string, expected: string, resealed: string) =>
        sql`
          UPDATE ${sql(target.table)} SET ${sql(target.column)} = ${resealed}
          WHERE id::text = ${id} AND ${sql(target.column)} = ${expected}
          RETURNING 1`.pipe(Effect.map((updated) => updated.length === 1))
      return KeyRotationStore.of({ sealedPage, replaceSealed })
    })
  )
}
