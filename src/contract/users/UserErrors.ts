import { Schema } from "effect"
import { HttpApiSchema } from "effect/http-api"
import { TooManyRequests } from "../http/ApiErrors.ts"

/** Another account already uses this email (409). */
export class EmailTaken extends Schema.TaggedError<EmailTaken>()(
  "EmailTaken",
  { message: Schema.String },
  { httpApiStatus: 409 }
) {}

/** Registration is closed or needs an invite this request did not bring (403). */
export class RegistrationClosed extends Schema.TaggedError<RegistrationClosed>()(
  "RegistrationClosed",
  { message: Schema.String },
  { httpApiStatus: 403 }
) {}

/** No such user (admin endpoints) (404). */
export class UserNotFound extends Schema.TaggedError<UserNotFound>()(
  "UserNotFound",
  { message: Schema.String },
  { httpApiStatus: 404 }
) {}

/** No such API token among the current user's (404: another user's token is not "forbidden", it does not exist). */
export class TokenNotFound extends Schema.TaggedError<TokenNotFound>()(
  "TokenNotFound",
  { message: Schema.String },
  { httpApiStatus: 404 }
) {}

/** No such session among the current user's (404, also for another user's session id). */
export class SessionNotFound extends Schema.TaggedError<SessionNotFound>()(
  "SessionNotFound",
  { message: Schema.String },
  { httpApiStatus: 404 }
) {}

/** No such invite (admin endpoints) (404). */
export class InviteNotFound extends Schema.TaggedError<InviteNotFound>()(
  "InviteNotFound",
  { message: Schema.String },
  { httpApiStatus: 404 }
) {}

const TooManyRequestsBody = Schema.Struct({
  _tag: Schema.tag("TooManyRequests"),
  message: Schema.String,
  retryAfterSeconds: Schema.Int
}).pipe(HttpApiSchema.status(429))

/** TooManyRequests (429) with its `Retry-After` header, for endpoints that throttle. */
export const TooManyRequestsWithRetryAfter = TooManyRequests.pipe(
  HttpApiSchema.encodeToWithHeaders(
    { body: TooManyRequestsBody, headers: { "retry-after": Schema.String } },
    {
      decode: ({ body }) => new TooManyRequests({ message: body.message, retryAfterSeconds: body.retryAfterSeconds }),
      encode: (error) => ({
        body: { _tag: "TooManyRequests" as const, message: error.message, retryAfterSeconds: error.retryAfterSeconds },
        headers: { "retry-after": String(error.retryAfterSeconds) }
      })
    }
  )
)
