import { Context, Effect, Layer, Option, Schema } from "effect"
import { DatabaseError, decodeRows, fromSqlError, SystemDatabase } from "../platform/Database.ts"

/** One kind's limit of a user: jobs of the kind they may run at once (0: no limit). */
export interface JobLimit {
  readonly kind: string
  readonly maxConcurrent: number
}

const LimitRow = Schema.Struct({ kind: Schema.String, max_concurrent: Schema.Int })

export interface JobLimitStoreShape {
  /** Whether the user exists (the admin endpoints answer 404 otherwise). */
  readonly userExists: (userId: string) => Effect.Effect<boolean, DatabaseError>
  /** The limits an admin set for the user, by kind. */
  readonly list: (userId: string) => Effect.Effect<ReadonlyArray<JobLimit>, DatabaseError>
  /** Replaces the user's limits with `limits` (kinds left out take the configured default again). */
  readonly replace: (userId: string, limits: ReadonlyArray<JobLimit>) => Effect.Effect<void, DatabaseError>
  /** The limit of one user and kind, if an admin set one. */
  readonly limitOf: (userId: string, kind: string) => Effect.Effect<Option.Option<number>, DatabaseError>
}

/**
 * `user_job_limits` (migration 0064): only the system role reads or writes it, for the admin
 * group and the worker; no user request ever reaches it.
 */
export class JobLimitStore extends Context.Service<JobLimitStore, JobLimitStoreShape>()("mail-helper/JobLimitStore") {
  static readonly layer = Layer.effect(
    JobLimitStore,
    Effect.gen(function* () {
      const system = yield* SystemDatabase
      const decode = decodeRows(LimitRow)
      const dbError = Effect.mapError(fromSqlError)

      const userExists = (userId: string) =>
        system`SELECT 1 FROM users WHERE id = ${userId}`.pipe(
          Effect.map((rows) => rows.length > 0),
          dbError
        )

      const list = (userId: string) =>
        system`SELECT kind, max_concurrent FROM user_job_limits WHERE user_id = ${userId} ORDER BY kind`.pipe(
          Effect.flatMap(decode),
          Effect.map((rows) => rows.map((row) => ({ kind: row.kind, maxConcurrent: row.max_concurrent }))),
          dbError
        )

      const replace = (userId: string, limits: ReadonlyArray<JobLimit>) =>
        system
          .withTransaction(
            Effect.gen(function* () {
              yield* system`DELETE FROM user_job_limits WHERE user_id = ${userId}`
              if (limits.length === 0) return
              yield* system`
                INSERT INTO user_job_limits (user_id, kind, max_concurrent)
                SELECT ${userId}, v.kind, v.max_concurrent
                FROM jsonb_to_recordset(${JSON.stringify(
                  limits.map((limit) => ({ kind: limit.kind, max_concurrent: limit.maxConcurrent }))
                )}::jsonb) AS v(kind text, max_concurrent integer)`
            })
          )
          .pipe(dbError)

      const limitOf = (userId: string, kind: string) =>
        system`SELECT kind, max_concurrent FROM user_job_limits WHERE user_id = ${userId} AND kind = ${kind}`.pipe(
          Effect.flatMap(decode),
          Effect.map((rows) => Option.map(Option.fromNullishOr(rows[0]), (row) => row.max_concurrent)),
          dbError
        )

      return JobLimitStore.of({ userExists, list, replace, limitOf })
    })
  )
}

export { DatabaseError }
