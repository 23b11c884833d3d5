import { Context, Effect, Layer, Option, Schema } from "effect"
import { SqlClient, type SqlError } from "effect/sql"
import type { UserId } from "../contract/users/UserId.ts"
import { type DatabaseError, decodeRows, fromSqlError } from "../platform/Database.ts"
import { UserScope } from "./UserScope.ts"

/** An admin's overrides of the configured per-user limits (migration 0065); null = the default. */
export interface UserLimits {
  readonly aiDailyTokenBudget: number | null
  readonly imapMaxConnectionsPerAccount: number | null
}

const noOverrides: UserLimits = { aiDailyTokenBudget: null, imapMaxConnectionsPerAccount: null }

const LimitsRow = Schema.Struct({
  user_exists: Schema.Boolean,
  ai_daily_token_budget: Schema.NullOr(Schema.Number),
  imap_max_connections_per_account: Schema.NullOr(Schema.Number)
})

const toLimits = (row: typeof LimitsRow.Type): UserLimits => ({
  aiDailyTokenBudget: row.ai_daily_token_budget,
  imapMaxConnectionsPerAccount: row.imap_max_connections_per_account
})

export type LimitChange =
  | { readonly _tag: "aiDailyTokenBudget"; readonly value: number | null }
  | { readonly _tag: "imapMaxConnectionsPerAccount"; readonly value: number | null }

export interface UserLimitsStoreShape {
  /**
   * The user's overrides (admin; system scope); None for an unknown user. (Not the HTTP contract's
   * UserNotFound: the worker loads this store and must not load the API's errors.)
   */
  readonly get: (userId: UserId) => Effect.Effect<Option.Option<UserLimits>, DatabaseError>
  /** The user's own overrides, read in the user's scope (a user sees only their own row). */
  readonly own: (userId: UserId) => Effect.Effect<UserLimits, DatabaseError>
  /** The overrides of the account's owner (the worker, before it opens an IMAP connection; system scope). */
  readonly forAccount: (accountId: string) => Effect.Effect<UserLimits, DatabaseError>
  /** Sets one override (admin; system scope); None (nothing written) for an unknown user. */
  readonly set: (
    admin: UserId,
    userId: UserId,
    change: LimitChange
  ) => Effect.Effect<Option.Option<UserLimits>, DatabaseError>
}

export class UserLimitsStore extends Context.Service<UserLimitsStore, UserLimitsStoreShape>()(
  "mail-helper/UserLimitsStore"
) {
  static readonly layer = Layer.effect(
    UserLimitsStore,
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const scope = yield* UserScope
      const decode = decodeRows(LimitsRow)
      const dbError = <A, R>(effect: Effect.Effect<A, SqlError.SqlError, R>) => Effect.mapError(effect, fromSqlError)
      const columns = sql`
        l.ai_daily_token_budget::float8 AS ai_daily_token_budget,
        l.imap_max_connections_per_account AS imap_max_connections_per_account`
      const found = (rows: ReadonlyArray<typeof LimitsRow.Type>): Option.Option<UserLimits> => {
        const row = rows[0]
        return row === undefined || !row.user_exists ? Option.none() : Option.some(toLimits(row))
      }

      const get = (userId: UserId) =>
        scope
          .system(
            "UserLimitsStore.get (admin)",
            sql`
              SELECT true AS user_exists, ${columns}
              FROM users u LEFT JOIN user_limits l ON l.user_id = u.id
              WHERE u.id = ${userId}`.pipe(Effect.flatMap(decode))
          )
          .pipe(dbError, Effect.map(found))

      const own = (userId: UserId) =>
        scope
          .run(
            userId,
            sql`SELECT true AS user_exists, ${columns} FROM user_limits l WHERE l.user_id = ${userId}`.pipe(
              Effect.flatMap(decode)
            )
          )
          .pipe(
            dbError,
            Effect.map((rows) =>
              Option.match(Option.fromNullishOr(rows[0]), { onNone: () => noOverrides, onSome: toLimits })
            )
          )

      const forAccount = (accountId: string) =>
        scope
          .system(
            "UserLimitsStore.forAccount",
            sql`
              SELECT true AS user_exists, ${columns}
              FROM mail_accounts a JOIN user_limits l ON l.user_id = a.user_id
              WHERE a.id = ${accountId}`.pipe(Effect.flatMap(decode))
          )
          .pipe(
            dbError,
            Effect.map((rows) =>
              Option.match(Option.fromNullishOr(rows[0]), { onNone: () => noOverrides, onSome: toLimits })
            )
          )

      const set = (admin: UserId, userId: UserId, change: LimitChange) => {
        const column = sql(
          change._tag === "aiDailyTokenBudget" ? "ai_daily_token_budget" : "imap_max_connections_per_account"
        )
        return scope
          .system(
            "UserLimitsStore.set (admin)",
            sql`
              WITH target AS (SELECT id FROM users WHERE id = ${userId}),
              written AS (
                INSERT INTO user_limits (user_id, ${column}, updated_by, updated_at)
                SELECT id, ${change.value}, ${admin}, now() FROM target
                ON CONFLICT (user_id) DO UPDATE SET
                  ${column} = EXCLUDED.${column}, updated_by = EXCLUDED.updated_by, updated_at = now()
                RETURNING *
              )
              SELECT true AS user_exists, ${columns} FROM written l`.pipe(Effect.flatMap(decode))
          )
          .pipe(
            dbError,
            Effect.map(found),
            Effect.withSpan("UserLimitsStore.set", { attributes: { "limit.kind": change._tag } })
          )
      }

      return UserLimitsStore.of({ get, own, forAccount, set })
    })
  )
}
