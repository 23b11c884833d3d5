import { Effect, Layer } from "effect"
import { ImapSlotLimits, ImapSlots } from "../imap/ImapSlots.ts"
import { UserLimitsStore } from "../users/UserLimitsStore.ts"
import { Crypto } from "../platform/Crypto.ts"
import { Imap } from "../imap/Imap.ts"
import { AccountSchedules } from "./AccountSchedules.ts"
import { AccountsConfig } from "./AccountsConfig.ts"
import { AccountStore } from "./AccountStore.ts"
import { ImapAccess } from "./ImapAccess.ts"
import { OAuthClient } from "./OAuthClient.ts"
import { OAuthConfig } from "./OAuthConfig.ts"
import { OAuthStore } from "./OAuthStore.ts"
import { OAuthTokens } from "./OAuthTokens.ts"

/**
 * The accounts' building blocks for any program: AccountStore (rows, sealed passwords),
 * ImapAccess (host policy, connect options, the login of a stored account, login check),
 * OAuthTokens (OAuth2 access tokens, refreshed once across workers) with OAuthStore, OAuthClient
 * and OAuthConfig, AccountSchedules (the one place that upserts schedulers), with Crypto, Imap and
 * AccountsConfig, and ImapSlots (the per-account connection cap ImapAccess.connect holds a slot of).
 * Needs SqlClient, UserScope, Redis and Jobs. The API's use cases (Accounts,
 * OAuthConnect) are composed in AccountsHttp.ts / OAuthHttp.ts: they load the HTTP errors, which
 * the worker must not load.
 */
/** The admins' per-user cap of IMAP connections per account (user_limits, migration 0065). */
export const ImapSlotLimitsLive = Layer.effect(
  ImapSlotLimits,
  Effect.gen(function* () {
    const limits = yield* UserLimitsStore
    return {
      overrideFor: (accountId: string) =>
        limits.forAccount(accountId).pipe(Effect.map((overrides) => overrides.imapMaxConnectionsPerAccount))
    }
  })
).pipe(Layer.provide(UserLimitsStore.layer))

/** The per-account IMAP connection semaphore every IMAP caller holds a slot of (needs Redis). */
export const ImapSlotsLive = ImapSlots.layer.pipe(Layer.provide(ImapSlotLimitsLive))

export const AccountsLive = Layer.mergeAll(ImapAccess.layer, AccountSchedules.layer).pipe(
  Layer.provideMerge(OAuthTokens.layer),
  Layer.provideMerge(Layer.mergeAll(OAuthStore.layer, OAuthClient.layer)),
  Layer.provideMerge(AccountStore.layer),
  Layer.provideMerge(ImapSlotsLive),
  Layer.provideMerge(Layer.mergeAll(Crypto.layer, Imap.layer, AccountsConfig.layer, OAuthConfig.layer))
)
