import { Context, Effect, Layer } from "effect"
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

export interface JobLimitsAdminShape {
  readonly get: (userId: string) => Effect.Effect<UserJobLimits, UserNotFound | DatabaseError>
  /**
   * Replaces the user's limits; an unknown kind is refused, nothing changes then. Workers see the
   * change within their look-up's cache time (JobLimits, a few seconds).
   */
  readonly set: (
    userId: string,
    limits: ReadonlyArray<JobLimit>
  ) => Effect.Effect<UserJobLimits, UserNotFound | ValidationError | DatabaseError>
}

/** The admin's use cases of the per-user concurrency limits per kind (API only). */
export class JobLimitsAdmin extends Context.Service<JobLimitsAdmin, JobLimitsAdminShape>()(
  "mail-helper/JobLimitsAdmin"
) {
  static readonly layer = Layer.effect(
    JobLimitsAdmin,
    Effect.gen(function* () {
      const store = yield* JobLimitStore
      const config = yield* JobsConfig
      const kinds = yield* JobKinds

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
          return yield* get(userId)
        })

      return JobLimitsAdmin.of({ get, set })
    })
  )

  static readonly layerLive = JobLimitsAdmin.layer.pipe(Layer.provide(JobLimitStore.layer))
}
