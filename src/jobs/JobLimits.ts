import { Context, Effect, Layer, Option } from "effect"
import { ValidationError } from "../contract/http/ApiErrors.ts"
import { UserNotFound } from "../contract/users/UserErrors.ts"
import type { DatabaseError } from "../platform/Database.ts"
import { type JobLimit, JobLimitStore } from "./JobLimitStore.ts"
import { JobKinds } from "./JobKinds.ts"
import { JobsConfig } from "./JobsConfig.ts"

export interface UserJobLimits {
  /** JOB_USER_CONCURRENCY: the limit of every kind the admin did not set (0: no limit). */
  readonly defaultConcurrency: number
  readonly limits: ReadonlyArray<JobLimit>
}

export interface JobLimitsShape {
  readonly get: (userId: string) => Effect.Effect<UserJobLimits, UserNotFound | DatabaseError>
  /** Replaces the user's limits; an unknown kind is refused, nothing changes then. */
  readonly set: (
    userId: string,
    limits: ReadonlyArray<JobLimit>
  ) => Effect.Effect<UserJobLimits, UserNotFound | ValidationError | DatabaseError>
  /**
   * For the worker: how many jobs of `kind` the user may run at once (0: no limit), the admin's
   * value or the default, cached for a few seconds (a changed limit applies within them).
   */
  readonly limitFor: (userId: string, kind: string) => Effect.Effect<number, DatabaseError>
}

const cacheMillis = 5_000

/** Per-user concurrency limits per kind (issue 15): the admin's use cases and the worker's look-up. */
export class JobLimits extends Context.Service<JobLimits, JobLimitsShape>()("mail-helper/JobLimits") {
  static readonly layer = Layer.effect(
    JobLimits,
    Effect.gen(function* () {
      const store = yield* JobLimitStore
      const config = yield* JobsConfig
      const kinds = yield* JobKinds
      const cache = new Map<string, { readonly limit: number; readonly until: number }>()

      const existing = (userId: string) =>
        Effect.flatMap(store.userExists(userId), (exists) =>
          exists ? Effect.void : Effect.fail(new UserNotFound({ message: `no user ${userId}` }))
        )

      const get = (userId: string) =>
        Effect.andThen(
          existing(userId),
          Effect.map(store.list(userId), (limits) => ({ defaultConcurrency: config.userConcurrency, limits }))
        )

      const set = (userId: string, limits: ReadonlyArray<JobLimit>) =>
        Effect.gen(function* () {
          yield* existing(userId)
          const issues = limits.flatMap((limit, index) =>
            kinds.get(limit.kind) === undefined
              ? [{ path: `payload.limits.${index}.kind`, message: `no job kind ${limit.kind}` }]
              : []
          )
          const kindsSeen = new Set(limits.map((limit) => limit.kind))
          if (kindsSeen.size !== limits.length)
            issues.push({ path: "payload.limits", message: "a kind is listed twice" })
          if (issues.length > 0) return yield* new ValidationError({ message: "invalid job limits", issues })
          yield* store.replace(userId, limits)
          for (const key of cache.keys()) if (key.startsWith(`${userId}\u0000`)) cache.delete(key)
          return yield* get(userId)
        })

      const limitFor = (userId: string, kind: string) =>
        Effect.suspend(() => {
          const key = `${userId}\u0000${kind}`
          const cached = cache.get(key)
          if (cached !== undefined && cached.until > Date.now()) return Effect.succeed(cached.limit)
          return Effect.map(store.limitOf(userId, kind), (set) => {
            const limit = Option.getOrElse(set, () => config.userConcurrency)
            cache.set(key, { limit, until: Date.now() + cacheMillis })
            return limit
          })
        })

      return JobLimits.of({ get, set, limitFor })
    })
  )

  static readonly layerLive = JobLimits.layer.pipe(Layer.provide(JobLimitStore.layer))
}
