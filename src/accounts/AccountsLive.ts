import { Layer } from "effect"
import { Accounts } from "./Accounts.ts"
import { AccountsCoreLive } from "./AccountsCoreLive.ts"
import { AccountsHttpLive } from "./AccountsHttp.ts"

/** The accounts API group with its service (needs SqlClient, UserScope, Jobs, JobStore). */
export const AccountsHttpLayer = AccountsHttpLive.pipe(
  Layer.provide(Accounts.layer.pipe(Layer.provideMerge(AccountsCoreLive)))
)
