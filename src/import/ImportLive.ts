import { Layer } from "effect"
import { AccountStore } from "../accounts/AccountStore.ts"
import { Crypto } from "../platform/Crypto.ts"
import { RuleStore } from "../rules/RuleStore.ts"
import { UserStore } from "../users/UserStore.ts"

/** What `runImport` needs on top of the platform (SqlClient, UserScope): the stores it writes through. */
export const ImportLive = Layer.mergeAll(AccountStore.layer, RuleStore.layer, UserStore.layer).pipe(
  Layer.provideMerge(Crypto.layer)
)
