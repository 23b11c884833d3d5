import { Context, Effect, Layer, Schema } from "effect"
import { SqlClient, type SqlError } from "effect/sql"
import { type DatabaseError, DatabaseRoles, decodeRows, fromSqlError } from "../platform/Database.ts"
import type { UserId } from "../contract/users/UserId.ts"

/** The database scope the current fiber is in, so nested scopes can be checked. */
type ActiveScope =
  | { readonly _tag: "none" }
  | { readonly _tag: "user"; readonly userId: string }
  | { readonly _tag: "system" }

const ActiveScope = Context.Reference<ActiveScope>("mail-helper/UserScope/Active", {
  defaultValue: () => ({ _tag: "none" })
})

export interface UserScopeShape {
  /**
   * Runs `effect` in one transaction as the application role with `userId` as
   * the current user: row-level security then shows and accepts only that
   * user's rows, even in a query that forgets its `user_id` filter. Nested
   * calls for the same user join the transaction; a nested call for another
   * user or for the system is a bug and dies.
   */
  readonly run: <A, E, R>(userId: UserId, effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E | SqlError.SqlError, R>
  /**
   * The explicit path across users: runs `effect` in one transaction as the
   * system role, which sees every row. For the worker's job bookkeeping by id,
   * schedulers, sign-in (the user is not known yet), token lookup and the
   * admin group. Never for work done on behalf of one user's request: use `run`.
   * `reason` names the caller in the transaction's trace span.
   */
  readonly system: <A, E, R>(
    reason: string,
    effect: Effect.Effect<A, E, R>
  ) => Effect.Effect<A, E | SqlError.SqlError, R>
  /** Dies unless the pool's role is bound by row-level security; runs by itself before the first scope. */
  readonly verify: Effect.Effect<void, SqlError.SqlError>
}

/** Refuses to start when the pool's role would escape row-level security. */
class RlsBypassed extends Error {}

export class UserScope extends Context.Service<UserScope, UserScopeShape>()("mail-helper/UserScope") {
  static readonly layer = Layer.effect(
    UserScope,
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient

      // The second wall is only a wall if the pool's role is bound by it. Checked on first use
      // (not when the layer is built: the role is created by a migration that may run later).
      let verified = false
      const verify = Effect.gen(function* () {
        if (verified) return
        const [role] = yield* sql`
          SELECT rolname AS name, rolsuper AS super, rolbypassrls AS bypass FROM pg_roles WHERE rolname = current_user`.pipe(
          Effect.flatMap(
            decodeRows(Schema.Struct({ name: Schema.String, super: Schema.Boolean, bypass: Schema.Boolean }))
          )
        )
        if (role === undefined || role.super || role.bypass) {
          return yield* Effect.die(
            new RlsBypassed(
              `database connections run as ${role?.name ?? "an unknown role"}, which bypasses row-level security; ` +
                `they must run as ${DatabaseRoles.app} (see docs/security.md)`
            )
          )
        }
        verified = true
      })

      const run = <A, E, R>(userId: UserId, effect: Effect.Effect<A, E, R>) =>
        Effect.gen(function* () {
          const active = yield* ActiveScope
          if (active._tag === "user" && active.userId === userId) return yield* effect
          if (active._tag !== "none") {
            return yield* Effect.die(new Error(`UserScope.run(${userId}) nested inside a ${active._tag} scope`))
          }
          yield* verify
          return yield* sql
            .withTransaction(
              sql`SELECT set_config('role', ${DatabaseRoles.app}, true), set_config('app.user_id', ${userId}, true)`.pipe(
                Effect.andThen(effect)
              )
            )
            .pipe(Effect.provideService(ActiveScope, { _tag: "user", userId }))
        })

      const system = <A, E, R>(reason: string, effect: Effect.Effect<A, E, R>) =>
        Effect.gen(function* () {
          const active = yield* ActiveScope
          if (active._tag === "system") return yield* effect
          if (active._tag !== "none") {
            return yield* Effect.die(new Error(`UserScope.system(${reason}) nested inside a user scope`))
          }
          yield* verify
          return yield* sql
            .withTransaction(
              sql`SELECT set_config('role', ${DatabaseRoles.system}, true), set_config('app.user_id', '', true)`.pipe(
                Effect.andThen(effect)
              )
            )
            .pipe(
              Effect.provideService(ActiveScope, { _tag: "system" }),
              Effect.withSpan("UserScope.system", { attributes: { "db.scope.reason": reason } })
            )
        })

      return UserScope.of({ run, system, verify })
    })
  )
}

/**
 * A store's usual wrapper around its queries: `inUserScope(scope)(userId)(query)` runs `query` in
 * `userId`'s scope (`UserScope.run`) and turns a driver error into a DatabaseError.
 */
export const inUserScope =
  (scope: UserScopeShape) =>
  (userId: UserId) =>
  <A, R>(query: Effect.Effect<A, SqlError.SqlError, R>): Effect.Effect<A, DatabaseError, R> =>
    scope.run(userId, query).pipe(Effect.mapError(fromSqlError))
