/**
 * The OAuth2 / OpenID Connect protocol, by openid-client (a certified client): discovery, the
 * authorisation URL with PKCE S256, state and nonce, the code exchange with its checks (state,
 * PKCE verifier, ID token signature, issuer, audience, nonce), refresh and userinfo. Nothing here
 * is hand-written OAuth. Tokens leave this module only as `Redacted`, and no error message
 * carries one (openid-client's messages name the error code and the provider's description).
 */
import { Context, Effect, Layer, Redacted, Schema } from "effect"
import * as client from "openid-client"
import { type OAuthProvider, OAuthConfig, redirectUri } from "./OAuthConfig.ts"

/** The provider refused the grant (`invalid_grant`: revoked, expired, or the refresh token reused). */
export class OAuthGrantRefused extends Schema.TaggedError<OAuthGrantRefused>()("OAuthGrantRefused", {
  message: Schema.String
}) {}

/** The provider could not be reached or answered something else than a grant refusal. */
export class OAuthRequestFailed extends Schema.TaggedError<OAuthRequestFailed>()("OAuthRequestFailed", {
  message: Schema.String,
  /** `invalid_client`, `invalid_request`, ... or `network` / `discovery` / `validation`. */
  code: Schema.String
}) {}

export interface OAuthTokenSet {
  readonly accessToken: Redacted.Redacted<string>
  /** Absent when the provider keeps the old refresh token (no rotation). */
  readonly refreshToken: Redacted.Redacted<string> | undefined
  /** When the access token expires (the provider's `expires_in`; one hour when it says nothing). */
  readonly expiresAt: Date
}

export interface OAuthIdentity extends OAuthTokenSet {
  readonly subject: string
  /** The ID token's claims (verified: signature, issuer, audience, nonce). */
  readonly claims: Readonly<Record<string, unknown>>
}

export interface AuthorizationRequest {
  readonly state: string
  readonly nonce: string
  readonly codeVerifier: string
}

export interface OAuthClientShape {
  /** A fresh state, nonce and PKCE verifier, and the URL that carries them (with the S256 challenge). */
  readonly authorize: (
    provider: OAuthProvider
  ) => Effect.Effect<{ readonly url: URL; readonly request: AuthorizationRequest }, OAuthRequestFailed>
  /** Exchanges the code of `callbackUrl` (the whole URL the provider redirected to). */
  readonly exchange: (
    provider: OAuthProvider,
    callbackUrl: URL,
    request: AuthorizationRequest
  ) => Effect.Effect<OAuthIdentity, OAuthGrantRefused | OAuthRequestFailed>
  readonly refresh: (
    provider: OAuthProvider,
    refreshToken: Redacted.Redacted<string>
  ) => Effect.Effect<OAuthTokenSet, OAuthGrantRefused | OAuthRequestFailed>
  /** The userinfo claims for `subject` (checked to be the same subject). */
  readonly userinfo: (
    provider: OAuthProvider,
    accessToken: Redacted.Redacted<string>,
    subject: string
  ) => Effect.Effect<Readonly<Record<string, unknown>>, OAuthRequestFailed>
}

const failure = (error: unknown, stage: string): OAuthGrantRefused | OAuthRequestFailed => {
  if (error instanceof client.ResponseBodyError) {
    const description = error.error_description === undefined ? "" : `: ${error.error_description}`
    if (error.error === "invalid_grant") {
      return new OAuthGrantRefused({ message: `the provider refused the grant (invalid_grant${description})` })
    }
    return new OAuthRequestFailed({
      code: error.error,
      message: `${stage}: the provider answered ${error.error}${description}`
    })
  }
  if (error instanceof client.AuthorizationResponseError) {
    return new OAuthRequestFailed({ code: error.error, message: `${stage}: the provider answered ${error.error}` })
  }
  if (error instanceof client.ClientError) {
    return new OAuthRequestFailed({ code: "validation", message: `${stage}: ${error.message}` })
  }
  return new OAuthRequestFailed({
    code: "network",
    message: `${stage}: ${error instanceof Error ? error.message : "the provider could not be reached"}`
  })
}

const requestFailed = (error: unknown, stage: string): OAuthRequestFailed => {
  const mapped = failure(error, stage)
  return mapped._tag === "OAuthRequestFailed"
    ? mapped
    : new OAuthRequestFailed({ code: "invalid_grant", message: mapped.message })
}

const tokenSet = (response: client.TokenEndpointResponse): OAuthTokenSet => ({
  accessToken: Redacted.make(response.access_token),
  refreshToken: response.refresh_token === undefined ? undefined : Redacted.make(response.refresh_token),
  expiresAt: new Date(Date.now() + (response.expires_in ?? 3600) * 1000)
})

export class OAuthClient extends Context.Service<OAuthClient, OAuthClientShape>()("mail-helper/OAuthClient") {
  static readonly layer = Layer.effect(
    OAuthClient,
    Effect.gen(function* () {
      const config = yield* OAuthConfig
      // discovery once per provider (a failure is not cached: the next call tries again)
      const discovered = new Map<string, client.Configuration>()
      const configuration = (provider: OAuthProvider) =>
        Effect.suspend(() => {
          const known = discovered.get(provider.name)
          if (known !== undefined) return Effect.succeed(known)
          return Effect.tryPromise({
            try: () =>
              client.discovery(
                provider.issuer,
                provider.clientId,
                { redirect_uris: [redirectUri(config, provider)] },
                provider.clientAuth === "post"
                  ? client.ClientSecretPost(Redacted.value(provider.clientSecret))
                  : client.ClientSecretBasic(Redacted.value(provider.clientSecret)),
                provider.allowInsecureHttp ? { execute: [client.allowInsecureRequests] } : undefined
              ),
            catch: (error) => requestFailed(error, `discovery of ${provider.name}`)
          }).pipe(
            Effect.tap((configuration) => Effect.sync(() => discovered.set(provider.name, configuration))),
            Effect.withSpan("OAuthClient.discovery", { attributes: { "oauth.provider": provider.name } })
          )
        })

      const authorize = (provider: OAuthProvider) =>
        Effect.gen(function* () {
          const configured = yield* configuration(provider)
          const request: AuthorizationRequest = {
            state: client.randomState(),
            nonce: client.randomNonce(),
            codeVerifier: client.randomPKCECodeVerifier()
          }
          const challenge = yield* Effect.tryPromise({
            try: () => client.calculatePKCECodeChallenge(request.codeVerifier),
            catch: (error) => requestFailed(error, "PKCE")
          })
          const url = client.buildAuthorizationUrl(configured, {
            ...provider.authorizationParams,
            redirect_uri: redirectUri(config, provider),
            scope: provider.scopes.join(" "),
            state: request.state,
            nonce: request.nonce,
            code_challenge: challenge,
            code_challenge_method: "S256"
          })
          return { url, request }
        }).pipe(Effect.withSpan("OAuthClient.authorize", { attributes: { "oauth.provider": provider.name } }))

      const exchange = (provider: OAuthProvider, callbackUrl: URL, request: AuthorizationRequest) =>
        Effect.gen(function* () {
          const configured = yield* configuration(provider)
          const response = yield* Effect.tryPromise({
            try: () =>
              client.authorizationCodeGrant(configured, callbackUrl, {
                expectedState: request.state,
                expectedNonce: request.nonce,
                pkceCodeVerifier: request.codeVerifier,
                idTokenExpected: true
              }),
            catch: (error) => failure(error, "code exchange")
          })
          const claims = response.claims()
          if (claims === undefined) {
            return yield* new OAuthRequestFailed({ code: "validation", message: "code exchange: no ID token" })
          }
          return { ...tokenSet(response), subject: claims.sub, claims: { ...claims } }
        }).pipe(Effect.withSpan("OAuthClient.exchange", { attributes: { "oauth.provider": provider.name } }))

      const refresh = (provider: OAuthProvider, refreshToken: Redacted.Redacted<string>) =>
        Effect.gen(function* () {
          const configured = yield* configuration(provider)
          const response = yield* Effect.tryPromise({
            try: () => client.refreshTokenGrant(configured, Redacted.value(refreshToken)),
            catch: (error) => failure(error, "refresh")
          })
          return tokenSet(response)
        }).pipe(Effect.withSpan("OAuthClient.refresh", { attributes: { "oauth.provider": provider.name } }))

      const userinfo = (provider: OAuthProvider, accessToken: Redacted.Redacted<string>, subject: string) =>
        Effect.gen(function* () {
          const configured = yield* configuration(provider)
          const info = yield* Effect.tryPromise({
            try: () => client.fetchUserInfo(configured, Redacted.value(accessToken), subject),
            catch: (error) => requestFailed(error, "userinfo")
          })
          return { ...info }
        }).pipe(Effect.withSpan("OAuthClient.userinfo", { attributes: { "oauth.provider": provider.name } }))

      return OAuthClient.of({ authorize, exchange, refresh, userinfo })
    })
  )
}
