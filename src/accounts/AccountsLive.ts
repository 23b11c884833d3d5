import { Layer } from "effect"
import { Accounts } from "./Accounts.ts"
import { AccountsCoreLive } from "./AccountsCoreLive.ts"
import { AccountsHttpLive } from "./AccountsHttp.ts"
import { VerifyThrottle } from "./VerifyThrottle.ts"

/** The accounts API group with its service (needs SqlClient, UserScope, Jobs, JobStore, Redis). */
export const AccountsHttpLayer = AccountsHttpLive.pipe(
  Layer.provide(Accounts.layer.pipe(Layer.provide(VerifyThrottle.layer), Layer.provideMerge(AccountsCoreLive)))
)
