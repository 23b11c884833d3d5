import { createHash } from "node:crypto"
import { Effect, Layer } from "effect"
import { HttpServerRequest, HttpServerResponse } from "effect/http"
import { HttpApiBuilder } from "effect/http-api"
import { Api } from "../contract/Api.ts"
import { Unauthorized } from "../contract/http/ApiErrors.ts"
import { CurrentUser, type CurrentUserShape } from "../contract/users/CurrentUser.ts"
import { rateLimited, unavailable } from "../http/errorMapping.ts"
import { AccountsLive } from "./AccountsLive.ts"
import { OAuthConnect } from "./OAuthConnect.ts"
import { VerifyThrottle } from "./VerifyThrottle.ts"

/** The session cookie names (AuthConfig: `__Host-` when SESSION_COOKIE_SECURE). */
const sessionCookies = ["__Host-mh_session", "mh_session"]

/**
 * What the state is bound to besides the user: the API token's id, or a hash of the session
 * cookie (a callback from another session of the same user is refused). Never the credential itself.
 */
const sessionBinding = (user: CurrentUserShape) =>
  Effect.gen(function* () {
    if (user.token !== undefined) return `token:${user.token.id}`
    const request = yield* HttpServerRequest.HttpServerRequest
    for (const name of sessionCookies) {
      const value = request.cookies[name]
      if (value !== undefined && value.length > 0) {
        return `session:${createHash("sha256").update(value).digest("base64url")}`
      }
    }
    return yield* new Unauthorized({ message: "connecting an OAuth2 account needs a signed-in browser session" })
  })

/** The web app's accounts page with the outcome; relative, so it stays on this origin. */
const backToWebApp = (outcome: string) =>
  HttpServerResponse.redirect(`/accounts?oauth=${encodeURIComponent(outcome)}`, {
    status: 302,
    headers: { "cache-control": "no-store", "referrer-policy": "no-referrer" }
  })

const OAuthHandlers = HttpApiBuilder.group(
  Api,
  "oauth",
  Effect.fn(function* (handlers) {
    const connect = yield* OAuthConnect
    return handlers
      .handle("providers", () => Effect.succeed({ items: connect.providers }))
      .handle("start", ({ params }) =>
        CurrentUser.use((user) =>
          Effect.flatMap(sessionBinding(user), (session) => connect.start(user.id, session, params.provider))
        ).pipe(
          Effect.catchTag(["DatabaseError", "RedisError", "OAuthRequestFailed"], unavailable),
          Effect.catchTag("TooManyRequests", rateLimited)
        )
      )
      .handleRaw("callback", ({ params, request }) =>
        CurrentUser.use((user) =>
          Effect.gen(function* () {
            const session = yield* sessionBinding(user).pipe(Effect.option)
            if (session._tag === "None") return backToWebApp("invalid_state")
            const query = request.url.includes("?") ? request.url.slice(request.url.indexOf("?") + 1) : ""
            const outcome = yield* connect.callback(user.id, session.value, params.provider, query)
            return backToWebApp(outcome)
          })
        )
      )
  })
)

/** The `oauth` API group with its use case over AccountsLive (needs SqlClient, UserScope, Jobs, Redis). */
export const OAuthHttpLive = OAuthHandlers.pipe(
  Layer.provide(OAuthConnect.layer.pipe(Layer.provide(VerifyThrottle.layer), Layer.provideMerge(AccountsLive)))
)
