import { Schema } from "effect"
import { HttpApiEndpoint, HttpApiGroup, HttpApiSchema } from "effect/http-api"
import { ServiceUnavailable } from "../http/ApiErrors.ts"
import { Authentication } from "../users/CurrentUser.ts"
import { TooManyRequestsWithRetryAfter } from "../users/UserErrors.ts"

/** A configured OAuth2 provider as the web app shows it: no endpoint, no client id, no secret. */
export const OAuthProviderView = Schema.Struct({
  /** The name in the URLs (`/api/v1/oauth/<name>/start`). */
  name: Schema.String,
  /** What the button says: "Connect with <label>". */
  label: Schema.String,
  /** `google`, `microsoft` or `oidc` (a generic OpenID Connect provider). */
  kind: Schema.Literals(["google", "microsoft", "oidc"])
})
export type OAuthProviderView = typeof OAuthProviderView.Type

export const OAuthProviderList = Schema.Struct({ items: Schema.Array(OAuthProviderView) })

export const OAuthStart = Schema.Struct({
  /** Where to send the browser; the provider returns it to `/api/v1/oauth/<name>/callback`. */
  authorizationUrl: Schema.String
})

const ProviderName = Schema.String.pipe(
  Schema.check(Schema.isMinLength(1), Schema.isMaxLength(64), Schema.isPattern(/^[a-z0-9][a-z0-9_-]*$/))
)

/** No provider of this name is configured. */
export class OAuthProviderNotFound extends Schema.TaggedError<OAuthProviderNotFound>()(
  "OAuthProviderNotFound",
  { message: Schema.String },
  { httpApiStatus: 404 }
) {}

/**
 * The outcome codes of a callback, in the query of the redirect to the web app
 * (`/accounts?oauth=<code>`): `connected` and `reconnected`, or why nothing was saved.
 */
export const OAuthOutcome = Schema.Literals([
  "connected",
  "reconnected",
  "denied",
  "invalid_state",
  "exchange_failed",
  "no_address",
  "no_refresh_token",
  "imap_refused",
  "account_exists",
  "unavailable"
])
export type OAuthOutcome = typeof OAuthOutcome.Type

/**
 * OAuth2 accounts (XOAUTH2 / OAUTHBEARER; docs/accounts-and-sync.md "OAuth2 accounts"). `start`
 * answers the provider's authorisation URL (code flow, PKCE S256, a one-time state bound to the
 * user and the session); the provider sends the browser back to `callback`, which exchanges the
 * code, checks an IMAP login with the new token, creates or reconnects the account and redirects
 * to the web app with `?oauth=<outcome>`. No token ever appears in an answer or a redirect.
 */
export class OAuthApi extends HttpApiGroup.make("oauth")
  .add(
    HttpApiEndpoint.get("providers", "/oauth/providers", {
      success: OAuthProviderList
    })
  )
  .add(
    HttpApiEndpoint.post("start", "/oauth/:provider/start", {
      params: { provider: ProviderName },
      success: OAuthStart,
      error: [OAuthProviderNotFound, TooManyRequestsWithRetryAfter, ServiceUnavailable]
    })
  )
  .add(
    HttpApiEndpoint.get("callback", "/oauth/:provider/callback", {
      params: { provider: ProviderName },
      // a redirect to the web app (Location: /accounts?oauth=<outcome>)
      success: HttpApiSchema.Empty(302),
      error: [ServiceUnavailable]
    })
  )
  .middleware(Authentication)
  .prefix("/api/v1") {}
