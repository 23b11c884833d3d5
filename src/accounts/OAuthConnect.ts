/**
 * Connecting an OAuth2 account (the use case behind POST /oauth/:provider/start and the callback).
 *
 * `start` keeps a one-time state (hashed; the PKCE verifier sealed) bound to the user and to the
 * session that started it, and answers the provider's authorisation URL. `callback` consumes the
 * state first (DELETE ... RETURNING, so a replay finds nothing), checks that the same session and
 * provider came back in time, lets openid-client exchange the code (state, PKCE verifier, ID token
 * and nonce checked), reads the mailbox address, logs in to IMAP with the new access token and only
 * then stores the account and its grant in one transaction: a new account, or a reconnect of the
 * user's account for the same server and address. Every refusal is an outcome code, never a token.
 */
import { createHash } from "node:crypto"
import { Context, Effect, Layer, Option, Redacted } from "effect"
import { AccountId, defaultSyncIntervalMinutes } from "../contract/accounts/Account.ts"
import { type OAuthOutcome, OAuthProviderNotFound, type OAuthProviderView } from "../contract/accounts/OAuthApi.ts"
import type { TooManyRequests } from "../contract/http/ApiErrors.ts"
import type { UserId } from "../contract/users/UserId.ts"
import { type DatabaseError, fromSqlError } from "../platform/Database.ts"
import type { RedisError } from "../platform/Redis.ts"
import { UserScope } from "../users/UserScope.ts"
import { AccountSchedules } from "./AccountSchedules.ts"
import { type AccountRecord, AccountStore } from "./AccountStore.ts"
import { ImapAccess } from "./ImapAccess.ts"
import { OAuthClient, type OAuthRequestFailed } from "./OAuthClient.ts"
import { type OAuthProvider, OAuthConfig } from "./OAuthConfig.ts"
import { OAuthStore } from "./OAuthStore.ts"
import { VerifyThrottle } from "./VerifyThrottle.ts"

/** Stored and compared instead of the state itself: the table never holds a usable state. */
export const hashState = (state: string): string => createHash("sha256").update(state).digest("base64url")

export interface OAuthConnectShape {
  readonly providers: ReadonlyArray<OAuthProviderView>
  /** `session`: what identifies the signed-in session (a hash of its credential); the callback must come from it. */
  readonly start: (
    owner: UserId,
    session: string,
    provider: string
  ) => Effect.Effect<
    { readonly authorizationUrl: string },
    OAuthProviderNotFound | OAuthRequestFailed | TooManyRequests | RedisError | DatabaseError
  >
  /** `query`: the callback's query string as the provider sent it. */
  readonly callback: (owner: UserId, session: string, provider: string, query: string) => Effect.Effect<OAuthOutcome>
}

const stringClaim = (claims: Readonly<Record<string, unknown>>, names: ReadonlyArray<string>): string | undefined => {
  for (const name of names) {
    const value = claims[name]
    if (typeof value === "string" && value.length > 0 && value.length <= 320) return value
  }
  return undefined
}

export class OAuthConnect extends Context.Service<OAuthConnect, OAuthConnectShape>()("mail-helper/OAuthConnect") {
  static readonly layer = Layer.effect(
    OAuthConnect,
    Effect.gen(function* () {
      const config = yield* OAuthConfig
      const client = yield* OAuthClient
      const store = yield* OAuthStore
      const accounts = yield* AccountStore
      const access = yield* ImapAccess
      const schedules = yield* AccountSchedules
      const throttle = yield* VerifyThrottle
      const scope = yield* UserScope

      const find = (name: string): Option.Option<OAuthProvider> =>
        Option.fromNullishOr(config.providers.find((provider) => provider.name === name))

      const start = (owner: UserId, session: string, name: string) =>
        Effect.gen(function* () {
          const provider = find(name)
          if (Option.isNone(provider)) {
            return yield* new OAuthProviderNotFound({ message: `no OAuth2 provider named ${name} is configured` })
          }
          yield* throttle.attempt(owner)
          const { url, request } = yield* client.authorize(provider.value)
          yield* store.insertState(owner, {
            stateHash: hashState(request.state),
            sessionHash: session,
            provider: provider.value.name,
            codeVerifier: Redacted.make(request.codeVerifier),
            nonce: request.nonce,
            expiresAt: new Date(Date.now() + config.stateTtlSeconds * 1000)
          })
          return { authorizationUrl: url.href }
        }).pipe(Effect.withSpan("OAuthConnect.start", { attributes: { "oauth.provider": name } }))

      /** Stores the account (new, or the user's existing one for this server and address) with its grant. */
      const save = (
        owner: UserId,
        provider: OAuthProvider,
        address: string,
        subject: string,
        tokens: {
          readonly refreshToken: Redacted.Redacted<string>
          readonly accessToken: Redacted.Redacted<string>
          readonly accessExpiresAt: Date
        }
      ) =>
        scope
          .run(
            owner,
            Effect.gen(function* () {
              const identity = { host: provider.imap.host, port: provider.imap.port, username: address }
              const existing = yield* accounts.findByIdentity(owner, identity)
              let record: AccountRecord
              let outcome: OAuthOutcome
              if (Option.isSome(existing)) {
                const reconnected = yield* accounts.reconnectOAuth(owner, existing.value.id, provider.name)
                if (Option.isNone(reconnected))
                  return yield* Effect.die(new Error("the account vanished in its transaction"))
                record = reconnected.value
                outcome = "reconnected"
              } else {
                record = yield* accounts.insertOAuth(owner, {
                  id: AccountId.make(crypto.randomUUID()),
                  label: `${provider.label}: ${address}`.slice(0, 100),
                  ...identity,
                  security: provider.imap.security,
                  provider: provider.name,
                  syncIntervalMinutes: defaultSyncIntervalMinutes
                })
                outcome = "connected"
              }
              yield* store.saveGrant(owner, record.id, subject, tokens)
              return { record, outcome }
            })
          )
          .pipe(Effect.mapError((error) => (error._tag === "SqlError" ? fromSqlError(error) : error)))

      const callback = (owner: UserId, session: string, name: string, query: string) =>
        Effect.gen(function* () {
          const provider = find(name)
          if (Option.isNone(provider)) return "invalid_state" as const
          const params = new URLSearchParams(query)
          const state = params.get("state")
          if (state === null || state.length === 0 || state.length > 500) return "invalid_state" as const
          // one-time: consumed before anything else is looked at, so a replay finds nothing
          const stored = yield* store.consumeState(owner, hashState(state))
          if (Option.isNone(stored)) return "invalid_state" as const
          if (
            stored.value.sessionHash !== session ||
            stored.value.provider !== provider.value.name ||
            stored.value.expiresAt.getTime() < Date.now()
          ) {
            return "invalid_state" as const
          }
          if (params.has("error")) return "denied" as const
          const callbackUrl = new URL(`${config.publicOrigin}/api/v1/oauth/${provider.value.name}/callback`)
          callbackUrl.search = params.toString()
          const exchanged = yield* Effect.result(
            client.exchange(provider.value, callbackUrl, {
              state,
              nonce: stored.value.nonce,
              codeVerifier: Redacted.value(stored.value.codeVerifier)
            })
          )
          if (exchanged._tag === "Failure") {
            yield* Effect.logWarning("OAuth2 code exchange refused", {
              provider: provider.value.name,
              error: exchanged.failure.message
            })
            return "exchange_failed" as const
          }
          const identity = exchanged.success
          let address = stringClaim(identity.claims, provider.value.usernameClaims)
          if (address === undefined) {
            const info = yield* Effect.result(client.userinfo(provider.value, identity.accessToken, identity.subject))
            if (info._tag === "Success") address = stringClaim(info.success, provider.value.usernameClaims)
          }
          if (address === undefined) return "no_address" as const
          if (identity.refreshToken === undefined) return "no_refresh_token" as const
          const verified = yield* Effect.result(
            access.verify({ ...provider.value.imap, username: address }, { accessToken: identity.accessToken })
          )
          if (verified._tag === "Failure") {
            yield* Effect.logWarning("OAuth2 account's IMAP login refused", {
              provider: provider.value.name,
              error: verified.failure.message
            })
            return "imap_refused" as const
          }
          const saved = yield* Effect.result(
            save(owner, provider.value, address, identity.subject, {
              refreshToken: identity.refreshToken,
              accessToken: identity.accessToken,
              accessExpiresAt: identity.expiresAt
            })
          )
          if (saved._tag === "Failure") {
            if (saved.failure._tag === "AccountExists") return "account_exists" as const
            return yield* saved.failure
          }
          yield* schedules
            .apply(saved.success.record)
            .pipe(
              Effect.catchTag("QueueUnavailable", (error) =>
                Effect.logWarning("sync schedule not updated; the next reconciliation will", error.message)
              )
            )
          return saved.success.outcome
        }).pipe(
          Effect.catchTag("DatabaseError", (error) =>
            Effect.logWarning("OAuth2 callback failed", error.message).pipe(Effect.as("unavailable" as const))
          ),
          Effect.withSpan("OAuthConnect.callback", { attributes: { "oauth.provider": name } })
        )

      const providers = config.providers.map((provider) => ({
        name: provider.name,
        label: provider.label,
        kind: provider.kind
      }))

      return OAuthConnect.of({ providers, start, callback })
    })
  )
}
