import { Schema } from "effect"
import { HttpApiEndpoint, HttpApiGroup, HttpApiSchema } from "effect/http-api"
import { Forbidden, ServiceUnavailable, Unauthorized, ValidationError } from "../http/ApiErrors.ts"
import { ApiTokenView, defaultTokenDays, maxTokenDays, SessionId, SessionView, TokenId } from "./UserViews.ts"
import { Authentication, Role, TokenScope } from "./CurrentUser.ts"
import { maxPasswordLength } from "./UserViews.ts"
import {
  EmailTaken,
  RegistrationClosed,
  SessionNotFound,
  TokenNotFound,
  TooManyRequestsWithRetryAfter
} from "./UserErrors.ts"
import { UserId } from "./UserId.ts"
import { UserView } from "./UserViews.ts"

const maxLength = (n: number) => Schema.String.pipe(Schema.check(Schema.isMaxLength(n)))

/** Lengths only: the password policy and the email format are checked together, so one 400 names every problem. */
export const Credentials = Schema.Struct({
  email: maxLength(320).annotate({ description: "Trimmed and lower-cased before use" }),
  password: maxLength(maxPasswordLength)
})

export const RegisterRequest = Schema.Struct({
  ...Credentials.fields,
  /** Required when REGISTRATION_MODE is `invite`. */
  inviteCode: Schema.optionalKey(maxLength(200))
})

export const Me = Schema.Struct({
  id: UserId,
  email: Schema.String,
  /** The role this request acts with (a token without the `admin` scope acts as `user`). */
  role: Role,
  /** What this credential may do: the token's scopes, or every scope of the role for a session. */
  scopes: Schema.Array(TokenScope)
})

export const SignedInResponse = Schema.Struct({
  user: UserView,
  /** When the session ends at the latest (it also ends after SESSION_IDLE_SECONDS without use). */
  expiresAt: Schema.Date
})

export const CreateTokenRequest = Schema.Struct({
  name: Schema.String.pipe(Schema.check(Schema.isMinLength(1), Schema.isMaxLength(100))),
  /** What the token may do; omit for every scope your role allows (`admin` only for administrators). */
  scopes: Schema.optionalKey(
    Schema.Array(TokenScope).pipe(Schema.check(Schema.isMinLength(1), Schema.isMaxLength(3)))
  ).annotate({ description: "read: GET/HEAD; write: every other method; admin: the admin role" }),
  /** Every token expires; omitted: the default lifetime. */
  expiresInDays: Schema.optionalKey(
    Schema.Int.pipe(Schema.check(Schema.isBetween({ minimum: 1, maximum: maxTokenDays })))
  ).annotate({ description: `1 to ${maxTokenDays}; default ${defaultTokenDays}` })
})

/** Shown once: the secret cannot be read again. */
export const CreatedToken = Schema.Struct({ ...ApiTokenView.fields, token: Schema.String })

export const TokenList = Schema.Struct({ items: Schema.Array(ApiTokenView) })

/** The current user's live sessions, newest sign-in first. */
export const SessionList = Schema.Struct({ items: Schema.Array(SessionView) })

/** Refusals of the authentication middleware (401 no/invalid credentials, 403 cross-site) and 503. */
const authErrors = [Unauthorized, Forbidden, ServiceUnavailable] as const

export class AuthApi extends HttpApiGroup.make("auth")
  .add(
    HttpApiEndpoint.get("me", "/auth/me", {
      success: Me
    })
  )
  .add(
    HttpApiEndpoint.post("createToken", "/auth/tokens", {
      payload: CreateTokenRequest,
      success: CreatedToken.pipe(HttpApiSchema.status(201)),
      // 403: asked with an API token (tokens are made from a session)
      error: [ValidationError, Forbidden, ServiceUnavailable]
    })
  )
  .add(
    HttpApiEndpoint.get("listTokens", "/auth/tokens", {
      success: TokenList,
      error: ServiceUnavailable
    })
  )
  .add(
    HttpApiEndpoint.delete("revokeToken", "/auth/tokens/:id", {
      params: { id: TokenId },
      success: HttpApiSchema.NoContent,
      error: [TokenNotFound, ServiceUnavailable]
    })
  )
  .add(
    HttpApiEndpoint.get("listSessions", "/auth/sessions", {
      success: SessionList,
      error: ServiceUnavailable
    })
  )
  .add(
    HttpApiEndpoint.delete("revokeSession", "/auth/sessions/:id", {
      params: { id: SessionId },
      success: HttpApiSchema.NoContent,
      error: [SessionNotFound, ServiceUnavailable]
    })
  )
  // everything above needs a session cookie or a bearer token
  .middleware(Authentication)
  .add(
    HttpApiEndpoint.post("register", "/auth/register", {
      payload: RegisterRequest,
      success: UserView.pipe(HttpApiSchema.status(201)),
      error: [ValidationError, RegistrationClosed, EmailTaken, TooManyRequestsWithRetryAfter, ...authErrors]
    })
  )
  .add(
    HttpApiEndpoint.post("login", "/auth/login", {
      payload: Credentials,
      success: SignedInResponse,
      error: [TooManyRequestsWithRetryAfter, ...authErrors]
    })
  )
  .add(
    HttpApiEndpoint.post("logout", "/auth/logout", {
      success: HttpApiSchema.NoContent,
      error: [Forbidden, ServiceUnavailable]
    })
  )
  .prefix("/api/v1") {}
