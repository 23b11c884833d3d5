import { Schema } from "effect"
import { HttpApiSchema } from "effect/http-api"

/**
 * Errors every endpoint may answer with. Each body carries a stable `_tag`
 * and a human-readable `message`; domain errors (JobNotFound, ...) add their
 * own tags next to these.
 */

export const ValidationIssue = Schema.Struct({
  /** Where the bad value is, e.g. `payload.email` or `query.limit`. */
  path: Schema.String,
  message: Schema.String
})

export class ValidationError extends Schema.TaggedError<ValidationError>()(
  "ValidationError",
  { message: Schema.String, issues: Schema.Array(ValidationIssue) },
  { httpApiStatus: 400 }
) {}

export class Unauthorized extends Schema.TaggedError<Unauthorized>()(
  "Unauthorized",
  { message: Schema.String },
  { httpApiStatus: 401 }
) {}

export class Forbidden extends Schema.TaggedError<Forbidden>()(
  "Forbidden",
  { message: Schema.String },
  { httpApiStatus: 403 }
) {}

export class NotFound extends Schema.TaggedError<NotFound>()(
  "NotFound",
  { message: Schema.String },
  { httpApiStatus: 404 }
) {}

export class Conflict extends Schema.TaggedError<Conflict>()(
  "Conflict",
  { message: Schema.String },
  { httpApiStatus: 409 }
) {}

export class TooManyRequests extends Schema.TaggedError<TooManyRequests>()(
  "TooManyRequests",
  { message: Schema.String, retryAfterSeconds: Schema.Int },
  { httpApiStatus: 429 }
) {}

/** A dependency (database, queue) is down; the client may retry later. */
export class ServiceUnavailable extends Schema.TaggedError<ServiceUnavailable>()(
  "ServiceUnavailable",
  { message: Schema.String },
  { httpApiStatus: 503 }
) {}

export const status = HttpApiSchema.status
