import { Effect, Layer } from "effect"
import { HttpApiBuilder } from "effect/http-api"
import { Api } from "../contract/Api.ts"
import { ValidationError } from "../contract/http/ApiErrors.ts"
import { CurrentUser } from "../contract/users/CurrentUser.ts"
import { rateLimited, unavailable } from "../http/errorMapping.ts"
import { Jobs } from "../jobs/Jobs.ts"
import { fromSqlError } from "../platform/Database.ts"
import { enqueueRescore } from "./enqueue.ts"
import { LearningConfig } from "./personal/LearningConfig.ts"
import { PersonalModelStore } from "./personal/PersonalModelStore.ts"
import { qualityOf } from "./personal/quality.ts"
import { TokenBudgetLive } from "./AnalysisLive.ts"
import { TokenBudget } from "./TokenBudget.ts"

const AnalysisHandlers = HttpApiBuilder.group(
  Api,
  "analysis",
  Effect.fn(function* (handlers) {
    const store = yield* PersonalModelStore
    const config = yield* LearningConfig
    const jobs = yield* Jobs
    const budget = yield* TokenBudget
    return handlers
      .handle("budget", () =>
        // only ever the signed-in user's own budget: the route takes no user id
        CurrentUser.use((user) => budget.status(user.id)).pipe(
          Effect.catchTag(["DatabaseError", "RedisError"], unavailable)
        )
      )
      .handle("quality", () =>
        CurrentUser.use((user) => store.history(user.id)).pipe(
          Effect.map((history) => qualityOf(history, config.minCorrections)),
          Effect.mapError(fromSqlError),
          Effect.catchTag("DatabaseError", unavailable)
        )
      )
      .handle("rescore", ({ payload }) =>
        Effect.gen(function* () {
          const user = yield* CurrentUser
          if (payload.until !== undefined && payload.until <= payload.since) {
            return yield* new ValidationError({
              message: "invalid request payload: until must be after since",
              issues: [{ path: "payload.until", message: "must be after since" }]
            })
          }
          const submitted = yield* enqueueRescore(user.id, payload).pipe(Effect.provideService(Jobs, jobs))
          return { jobId: submitted.jobId, state: submitted.state }
        }).pipe(
          Effect.catchTag(["DatabaseError", "QueueUnavailable"], unavailable),
          Effect.catchTag("SubmitRateLimited", rateLimited)
        )
      )
  })
)

/** The `analysis` API group (quality of the personal models, rescore, the token budget) over the store, learning config and budget. */
export const AnalysisHttpLive = AnalysisHandlers.pipe(
  Layer.provide(Layer.mergeAll(PersonalModelStore.layer, LearningConfig.layer, TokenBudgetLive))
)
