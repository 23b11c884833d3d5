import { Effect } from "effect"
import { HttpApiBuilder } from "effect/http-api"
import { Api } from "../contract/Api.ts"
import { NotFound } from "../contract/http/ApiErrors.ts"
import { rateLimited, unavailable } from "../http/errorMapping.ts"
import { Jobs } from "../jobs/Jobs.ts"
import { AppConfig } from "../platform/Config.ts"
import { CurrentUser } from "../contract/users/CurrentUser.ts"
import { PingJob } from "../contract/jobs/PingJob.ts"

export const DebugHttpLive = HttpApiBuilder.group(
  Api,
  "debug",
  Effect.fn(function* (handlers) {
    const jobs = yield* Jobs
    const config = yield* AppConfig
    return handlers.handle("ping", ({ payload }) =>
      Effect.gen(function* () {
        if (!config.debugJobsEnabled) return yield* new NotFound({ message: "debug endpoints are disabled" })
        const user = yield* CurrentUser
        const { timeoutMillis, softTimeoutMillis, ...ping } = payload
        const submitted = yield* jobs.submitForUser(PingJob, ping, {
          ownerId: user.id,
          timeout: timeoutMillis,
          softTimeout: softTimeoutMillis
        })
        return { jobId: submitted.jobId, state: submitted.state }
      }).pipe(
        Effect.catchTag(["DatabaseError", "QueueUnavailable"], unavailable),
        Effect.catchTag("SubmitRateLimited", rateLimited)
      )
    )
  })
)
