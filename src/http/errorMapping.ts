import { Effect } from "effect"
import { ServiceUnavailable } from "./ApiErrors.ts"

/**
 * For `Effect.catchTag(["DatabaseError", "QueueUnavailable"], unavailable)`:
 * a dependency being down becomes a 503 with the dependency's safe message.
 */
export const unavailable = (error: { readonly message: string }): Effect.Effect<never, ServiceUnavailable> =>
  Effect.fail(new ServiceUnavailable({ message: error.message }))
