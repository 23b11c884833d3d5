/**
 * Access tokens of OAuth2 accounts. A token is cached (sealed, in the grant row) until shortly
 * before it expires; a refresh happens once per account across all workers: the refresher takes
 * the grant row's lock (`SELECT ... FOR UPDATE` in a transaction), checks again whether another
 * worker refreshed meanwhile, and stores a rotated refresh token in the same transaction before
 * the new access token is handed out. A refused grant (`invalid_grant`) sets the account to
 * `reauth_required`; nothing calls the provider for it again until the user reconnects.
 */
import { Context, Effect, Layer, Option, type Redacted, Schema } from "effect"
import type { UserId } from "../contract/users/UserId.ts"
import type { DatabaseError } from "../platform/Database.ts"
import { fromSqlError } from "../platform/Database.ts"
import { UserScope } from "../users/UserScope.ts"
import { type AccountRecord, AccountStore } from "./AccountStore.ts"
import { OAuthClient } from "./OAuthClient.ts"
import { OAuthConfig } from "./OAuthConfig.ts"
import { OAuthStore } from "./OAuthStore.ts"

/** Only a new consent helps: the grant is gone, refused, or its tokens no longer open. */
export class OAuthReauthRequired extends Schema.TaggedError<OAuthReauthRequired>()("OAuthReauthRequired", {
  message: Schema.String
}) {}

/** The provider could not give a token now (network, provider error): worth a later retry. */
export class OAuthTokenUnavailable extends Schema.TaggedError<OAuthTokenUnavailable>()("OAuthTokenUnavailable", {
  message: Schema.String
}) {}

export type OAuthTokenError = OAuthReauthRequired | OAuthTokenUnavailable | DatabaseError

export interface OAuthTokensShape {
  /** A valid access token for the account (cached, or refreshed once for everyone). */
  readonly accessToken: (account: AccountRecord) => Effect.Effect<Redacted.Redacted<string>, OAuthTokenError>
  /** The server refused `token`: forget it, so the next `accessToken` refreshes. */
  readonly refused: (account: AccountRecord) => Effect.Effect<void, DatabaseError>
}

export const reauthMessage = (provider: string, reason: string): string =>
  `${provider} no longer accepts this app's access (${reason}); connect the account again`

export class OAuthTokens extends Context.Service<OAuthTokens, OAuthTokensShape>()("mail-helper/OAuthTokens") {
  static readonly layer = Layer.effect(
    OAuthTokens,
    Effect.gen(function* () {
      const config = yield* OAuthConfig
      const client = yield* OAuthClient
      const store = yield* OAuthStore
      const accounts = yield* AccountStore
      const scope = yield* UserScope

      const fresh = (expiresAt: Date | null) =>
        expiresAt !== null && expiresAt.getTime() - config.refreshMarginSeconds * 1000 > Date.now()

      const reauth = (account: AccountRecord, reason: string) =>
        Effect.gen(function* () {
          const message = reauthMessage(account.oauthProvider ?? "the provider", reason)
          yield* accounts.setStatus(account.userId, account.id, "reauth_required", message)
          return yield* new OAuthReauthRequired({ message })
        })

      const cached = (account: AccountRecord) =>
        Effect.gen(function* () {
          const grant = yield* store.findGrant(account.userId, account.id)
          if (Option.isNone(grant)) return yield* reauth(account, "no grant is stored")
          if (!fresh(grant.value.accessExpiresAt)) return Option.none<Redacted.Redacted<string>>()
          return yield* store.openAccess(grant.value).pipe(Effect.orElseSucceed(() => Option.none()))
        })

      const refreshLocked = (account: AccountRecord, owner: UserId) =>
        Effect.gen(function* () {
          const provider = config.providers.find((candidate) => candidate.name === account.oauthProvider)
          if (provider === undefined) {
            return yield* new OAuthTokenUnavailable({
              message: `the OAuth2 provider ${account.oauthProvider ?? "?"} is not configured (OAUTH_PROVIDERS)`
            })
          }
          // one transaction: the row lock serialises the refreshers of this account, everywhere
          const outcome = yield* scope
            .run(
              owner,
              Effect.gen(function* () {
                const grant = yield* store.lockGrant(owner, account.id)
                if (Option.isNone(grant)) return { _tag: "missing" as const }
                // another worker refreshed while this one waited for the lock
                if (fresh(grant.value.accessExpiresAt)) {
                  const access = yield* store.openAccess(grant.value).pipe(Effect.orElseSucceed(() => Option.none()))
                  if (Option.isSome(access)) return { _tag: "token" as const, token: access.value }
                }
                const refreshToken = yield* store.openRefresh(grant.value).pipe(Effect.option)
                if (Option.isNone(refreshToken)) return { _tag: "unreadable" as const }
                const refreshed = yield* Effect.result(client.refresh(provider, refreshToken.value))
                if (refreshed._tag === "Failure") return { _tag: "failed" as const, error: refreshed.failure }
                // a rotated refresh token is stored with the access token, before either is used
                yield* store.saveTokens(owner, account.id, {
                  refreshToken: refreshed.success.refreshToken,
                  accessToken: refreshed.success.accessToken,
                  accessExpiresAt: refreshed.success.expiresAt
                })
                yield* Effect.logInfo("OAuth2 access token refreshed", {
                  account: account.id,
                  provider: provider.name,
                  rotated: refreshed.success.refreshToken !== undefined
                })
                return { _tag: "token" as const, token: refreshed.success.accessToken }
              })
            )
            .pipe(Effect.mapError(fromSqlError))
          switch (outcome._tag) {
            case "token":
              return outcome.token
            case "missing":
              return yield* reauth(account, "no grant is stored")
            case "unreadable":
              return yield* reauth(account, "the stored refresh token can no longer be decrypted")
            case "failed":
              return outcome.error._tag === "OAuthGrantRefused"
                ? yield* reauth(account, outcome.error.message)
                : yield* new OAuthTokenUnavailable({ message: outcome.error.message })
          }
        })

      const accessToken = (account: AccountRecord) =>
        Effect.gen(function* () {
          if (account.status === "reauth_required") {
            return yield* new OAuthReauthRequired({
              message: account.statusMessage ?? "the account must be connected again"
            })
          }
          const hit = yield* cached(account)
          if (Option.isSome(hit)) return hit.value
          return yield* refreshLocked(account, account.userId)
        }).pipe(Effect.withSpan("OAuthTokens.accessToken", { attributes: { "account.id": account.id } }))

      const refused = (account: AccountRecord) =>
        Effect.gen(function* () {
          const grant = yield* store.findGrant(account.userId, account.id)
          if (Option.isNone(grant) || grant.value.accessSealed === null) return
          yield* store.dropAccess(account.userId, account.id, grant.value.accessSealed)
        }).pipe(Effect.withSpan("OAuthTokens.refused", { attributes: { "account.id": account.id } }))

      return OAuthTokens.of({ accessToken, refused })
    })
  )
}
