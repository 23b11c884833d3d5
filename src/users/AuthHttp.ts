import { Effect, Layer, Option, Redacted } from "effect"
import { HttpEffect, HttpServerRequest, HttpServerResponse } from "effect/http"
import { HttpApiBuilder } from "effect/http-api"
import { Api } from "../contract/Api.ts"
import { Forbidden, ServiceUnavailable, Unauthorized } from "../contract/http/ApiErrors.ts"
import { unavailable } from "../http/errorMapping.ts"
import { ApiTokenStore } from "./ApiTokenStore.ts"
import { Auth } from "./Auth.ts"
import { AuthConfig, type AuthConfigShape } from "./AuthConfig.ts"
import { crossSiteRefusal } from "./Csrf.ts"
import { Authentication, CurrentUser, scopesOfRole, type TokenScope } from "../contract/users/CurrentUser.ts"
import { SessionNotFound } from "../contract/users/UserErrors.ts"
import { SessionId, SessionView } from "../contract/users/UserViews.ts"
import { Sessions, sessionIdOf } from "./Sessions.ts"

const bearerToken = (authorization: string): Option.Option<Redacted.Redacted<string>> => {
  const match = /^bearer +(\S+) *$/i.exec(authorization)
  return match?.[1] === undefined ? Option.none() : Option.some(Redacted.make(match[1]))
}

const sessionCookie = (request: HttpServerRequest.HttpServerRequest, config: AuthConfigShape) =>
  Option.map(Option.fromNullishOr(request.cookies[config.cookieName]), (value) => Redacted.make(value))

/** Methods that only read; every other method changes something and needs the `write` scope. */
const safeMethods: ReadonlySet<string> = new Set(["GET", "HEAD", "OPTIONS"])

/** The scope a request needs from an API token: `read` for safe methods, `write` for the rest. */
export const requiredScope = (method: string): TokenScope => (safeMethods.has(method.toUpperCase()) ? "read" : "write")

const cookieOptions = (config: AuthConfigShape) => ({
  httpOnly: true,
  secure: config.cookieSecure,
  sameSite: config.cookieSameSite,
  path: "/"
})

/**
 * The Authentication middleware: a bearer token (`Authorization: Bearer
 * mh_...`) or the session cookie becomes the CurrentUser. Unsafe requests
 * authenticated by the cookie must come from PUBLIC_ORIGIN (403 otherwise).
 * A disabled user's sessions are deleted and their tokens fail the lookup,
 * so both stop working at the next request.
 * A token's scopes are enforced here, for every endpoint at once: `read` for
 * GET/HEAD/OPTIONS, `write` for every other method (403 otherwise); without
 * `admin` the token acts with the role `user`, so every admin check refuses it.
 */
export const AuthenticationLive = Layer.effect(
  Authentication,
  Effect.gen(function* () {
    const config = yield* AuthConfig
    const sessions = yield* Sessions
    const tokens = yield* ApiTokenStore
    return Authentication.of((httpEffect) =>
      Effect.gen(function* () {
        const request = yield* HttpServerRequest.HttpServerRequest
        const authorization = request.headers["authorization"]
        if (authorization !== undefined) {
          const token = bearerToken(authorization)
          if (Option.isNone(token)) {
            return yield* new Unauthorized({ message: "unsupported Authorization header; use `Bearer <token>`" })
          }
          const owner = yield* tokens.authenticate(token.value).pipe(Effect.catchTag("DatabaseError", unavailable))
          if (Option.isNone(owner)) return yield* new Unauthorized({ message: "invalid, expired or revoked API token" })
          const needed = requiredScope(request.method)
          if (!owner.value.user.token.scopes.includes(needed)) {
            return yield* new Forbidden({
              message: `this API token lacks the \`${needed}\` scope that ${request.method} requests need`
            })
          }
          return yield* Effect.provideService(httpEffect, CurrentUser, owner.value.user)
        }
        const cookie = sessionCookie(request, config)
        if (Option.isNone(cookie)) return yield* new Unauthorized({ message: "not signed in" })
        const refusal = crossSiteRefusal(request, config.publicOrigins, true)
        if (refusal !== undefined) return yield* new Forbidden({ message: refusal })
        const user = yield* sessions
          .validate(cookie.value)
          .pipe(
            Effect.catchTag("RedisError", () =>
              Effect.fail(new ServiceUnavailable({ message: "session store unavailable" }))
            )
          )
        if (Option.isNone(user)) return yield* new Unauthorized({ message: "session expired or signed out" })
        return yield* Effect.provideService(httpEffect, CurrentUser, user.value)
      })
    )
  })
)

const redisUnavailable = () => Effect.fail(new ServiceUnavailable({ message: "session store unavailable" }))

export const AuthHttpLive = HttpApiBuilder.group(
  Api,
  "auth",
  Effect.fn(function* (handlers) {
    const auth = yield* Auth
    const tokens = yield* ApiTokenStore
    const config = yield* AuthConfig
    const sessions = yield* Sessions

    /** Login CSRF and friends: refuse what the browser marks as cross-site. */
    const checkProvenance = Effect.gen(function* () {
      const request = yield* HttpServerRequest.HttpServerRequest
      const refusal = crossSiteRefusal(request, config.publicOrigins, Option.isSome(sessionCookie(request, config)))
      if (refusal !== undefined) return yield* new Forbidden({ message: refusal })
      return request
    })

    return handlers
      .handle("me", () =>
        CurrentUser.use((user) =>
          Effect.succeed({
            id: user.id,
            email: user.email,
            role: user.role,
            scopes: user.token?.scopes ?? scopesOfRole(user.role)
          })
        )
      )
      .handle("createToken", ({ payload }) =>
        Effect.gen(function* () {
          const user = yield* CurrentUser
          const created = yield* tokens.create(user, payload)
          return { ...created.view, token: Redacted.value(created.token) }
        }).pipe(Effect.catchTag("DatabaseError", unavailable))
      )
      .handle("listTokens", () =>
        CurrentUser.use((user) => tokens.list(user.id)).pipe(
          Effect.map((items) => ({ items })),
          Effect.catchTag("DatabaseError", unavailable)
        )
      )
      .handle("revokeToken", ({ params }) =>
        CurrentUser.use((user) => tokens.revoke(user.id, params.id)).pipe(Effect.catchTag("DatabaseError", unavailable))
      )
      .handle("listSessions", () =>
        Effect.gen(function* () {
          const user = yield* CurrentUser
          const request = yield* HttpServerRequest.HttpServerRequest
          // a request with a bearer token has no current session
          const current =
            request.headers["authorization"] === undefined
              ? Option.map(sessionCookie(request, config), sessionIdOf)
              : Option.none()
          const listed = yield* sessions.list(user.id)
          return {
            items: listed.map(
              (session) =>
                new SessionView({
                  ...session,
                  id: SessionId.make(session.id),
                  current: Option.contains(current, session.id)
                })
            )
          }
        }).pipe(Effect.catchTag("RedisError", redisUnavailable))
      )
      .handle("revokeSession", ({ params }) =>
        Effect.gen(function* () {
          const user = yield* CurrentUser
          const revoked = yield* sessions.revokeById(user.id, params.id)
          if (!revoked) return yield* new SessionNotFound({ message: `no session ${params.id} of yours` })
        }).pipe(Effect.catchTag("RedisError", redisUnavailable))
      )
      .handle("register", ({ payload }) =>
        Effect.gen(function* () {
          const request = yield* checkProvenance
          return yield* auth.register({
            address: Option.getOrElse(request.remoteAddress, () => "unknown"),
            email: payload.email,
            password: Redacted.make(payload.password),
            inviteCode: payload.inviteCode === undefined ? undefined : Redacted.make(payload.inviteCode)
          })
        }).pipe(Effect.catchTag("DatabaseError", unavailable), Effect.catchTag("RedisError", redisUnavailable))
      )
      .handle("login", ({ payload }) =>
        Effect.gen(function* () {
          const request = yield* checkProvenance
          const signedIn = yield* auth.login({
            email: payload.email,
            password: Redacted.make(payload.password),
            address: Option.getOrElse(request.remoteAddress, () => "unknown"),
            previousSession: sessionCookie(request, config),
            userAgent: request.headers["user-agent"]
          })
          const value = Redacted.value(signedIn.session)
          yield* HttpEffect.appendPreResponseHandler((_request, response) =>
            HttpServerResponse.setCookie(response, config.cookieName, value, {
              ...cookieOptions(config),
              expires: signedIn.expiresAt
            }).pipe(Effect.orDie)
          )
          return { user: signedIn.user, expiresAt: signedIn.expiresAt }
        }).pipe(Effect.catchTag("DatabaseError", unavailable), Effect.catchTag("RedisError", redisUnavailable))
      )
      .handle("logout", () =>
        Effect.gen(function* () {
          const request = yield* checkProvenance
          const cookie = sessionCookie(request, config)
          if (Option.isSome(cookie)) yield* auth.logout(cookie.value)
          yield* HttpEffect.appendPreResponseHandler((_request, response) =>
            HttpServerResponse.expireCookie(response, config.cookieName, cookieOptions(config)).pipe(Effect.orDie)
          )
        }).pipe(Effect.catchTag("RedisError", redisUnavailable))
      )
  })
)
