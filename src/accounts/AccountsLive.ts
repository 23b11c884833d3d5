import { Layer } from "effect"
import { Crypto } from "../platform/Crypto.ts"
import { Imap } from "../sync/Imap.ts"
import { Accounts } from "./Accounts.ts"
import { AccountSchedules } from "./AccountSchedules.ts"
import { AccountsConfig } from "./AccountsConfig.ts"
import { AccountsHttpLive } from "./AccountsHttp.ts"
import { AccountStore } from "./AccountStore.ts"
import { ImapAccess } from "./ImapAccess.ts"

/**
 * The accounts' building blocks for any program: AccountStore (rows, sealed passwords),
 * ImapAccess (host policy, connect options, login check), AccountSchedules (the one place that
 * upserts schedulers), with Crypto, Imap and AccountsConfig. Needs SqlClient, UserScope and Jobs.
 */
export const AccountsCoreLive = Layer.mergeAll(ImapAccess.layer, AccountSchedules.layer).pipe(
  Layer.provideMerge(AccountStore.layer),
  Layer.provideMerge(Layer.mergeAll(Crypto.layer, Imap.layer, AccountsConfig.layer))
)

/** The accounts API group with its service (needs SqlClient, UserScope, Jobs, JobStore). */
export const AccountsHttpLayer = AccountsHttpLive.pipe(
  Layer.provide(Accounts.layer.pipe(Layer.provideMerge(AccountsCoreLive)))
)
