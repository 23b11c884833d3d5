import { Schema } from "effect"
import { HttpApiEndpoint, HttpApiGroup, HttpApiSchema } from "effect/http-api"
import { NotFound, ServiceUnavailable } from "../http/ApiErrors.ts"
import { TooManyRequestsWithRetryAfter } from "../users/UserErrors.ts"
import { JobAccepted } from "../jobs/Job.ts"
import { Authentication } from "../users/CurrentUser.ts"
import { PingPayload, pingTimeLimitMillis } from "./Ping.ts"

export const PingRequest = Schema.Struct({
  ...PingPayload.fields,
  /** A per-job hard time limit, tighter than the kind's 30 s. */
  timeoutMillis: Schema.optionalKey(
    Schema.Int.pipe(Schema.check(Schema.isBetween({ minimum: 10, maximum: pingTimeLimitMillis })))
  ),
  /** A per-job soft time limit; it only has an effect when it comes before the hard one. */
  softTimeoutMillis: Schema.optionalKey(
    Schema.Int.pipe(Schema.check(Schema.isBetween({ minimum: 10, maximum: pingTimeLimitMillis })))
  )
})

/** Diagnostics, enabled by ENABLE_DEBUG_JOBS (on by default outside production). */
export class DebugApi extends HttpApiGroup.make("debug")
  .add(
    HttpApiEndpoint.post("ping", "/debug/ping", {
      payload: PingRequest,
      success: JobAccepted.pipe(HttpApiSchema.status(202)),
      // 429: the user's submit budget is spent (Jobs.submitForUser)
      error: [NotFound, TooManyRequestsWithRetryAfter, ServiceUnavailable]
    })
  )
  .middleware(Authentication)
  .prefix("/api/v1") {}
