import { Layer } from "effect"
import { AccountStore } from "../accounts/AccountStore.ts"
import { Crypto } from "../platform/Crypto.ts"
import { RuleStore } from "../rules/RuleStore.ts"
import { Users } from "../users/Users.ts"

/** What `runImport` needs on top of the platform (SqlClient, UserScope): the stores it writes through. */
export const ImportLive = Layer.mergeAll(AccountStore.layer, RuleStore.layer, Users.layer).pipe(
  Layer.provideMerge(Crypto.layer)
)
