import { Context, Effect, Layer, Option } from "effect"
import type { DatabaseError } from "../platform/Database.ts"
import { JobLimitStore } from "./JobLimitStore.ts"
import { JobsConfig } from "./JobsConfig.ts"

export interface JobLimitsShape {
  /**
   * How many jobs of `kind` the user may run at once (0: no limit), the admin's value or the
   * default, cached for a few seconds (a changed limit applies within them).
   */
  readonly limitFor: (userId: string, kind: string) => Effect.Effect<number, DatabaseError>
}

const cacheMillis = 5_000

/**
 * The worker's look-up of the per-user concurrency limits per kind (issue 15). The admin's use
 * cases are JobLimitsAdmin (API only: they fail with the HTTP contract's errors, which the worker
 * must not load).
 */
export class JobLimits extends Context.Service<JobLimits, JobLimitsShape>()("mail-helper/JobLimits") {
  static readonly layer = Layer.effect(
    JobLimits,
    Effect.gen(function* () {
      const store = yield* JobLimitStore
      const config = yield* JobsConfig
      const cache = new Map<string, { readonly limit: number; readonly until: number }>()

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

      return JobLimits.of({ limitFor })
    })
  )

  static readonly layerLive = JobLimits.layer.pipe(Layer.provide(JobLimitStore.layer))
}
