import { Effect } from "effect"
import { DatabaseError, logDatabaseError } from "../platform/Database.ts"
import { ServiceUnavailable, TooManyRequests } from "../contract/http/ApiErrors.ts"

/**
 * For `Effect.catchTag(["DatabaseError", "QueueUnavailable"], unavailable)`:
 * a dependency being down becomes a 503 with the dependency's safe message.
 * A database error's cause (SQLSTATE, constraint, ...) goes to the log, not
 * to the client.
 */
export const unavailable = (error: { readonly message: string }): Effect.Effect<never, ServiceUnavailable> =>
  (error instanceof DatabaseError ? logDatabaseError(error) : Effect.void).pipe(
    Effect.andThen(Effect.fail(new ServiceUnavailable({ message: error.message })))
  )

/**
 * For `Effect.catchTag("SubmitRateLimited", rateLimited)`: a user past their submit budget gets a
 * 429 that says when to try again (the endpoint declares TooManyRequestsWithRetryAfter, which also
 * sets the Retry-After header).
 */
export const rateLimited = (error: {
  readonly message: string
  readonly retryAfterSeconds: number
}): Effect.Effect<never, TooManyRequests> =>
  Effect.fail(new TooManyRequests({ message: error.message, retryAfterSeconds: error.retryAfterSeconds }))
