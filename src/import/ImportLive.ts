import { Layer } from "effect"
import { AccountStore } from "../accounts/AccountStore.ts"
import { Crypto } from "../platform/Crypto.ts"
import { RuleStore } from "../rules/RuleStore.ts"

/**
 * What `runImport` needs on top of the platform (SqlClient, UserScope): the stores it writes through.
 * The user is found with a plain query, so the worker (import job) loads no UserStore.ts.
 */
export const ImportLive = Layer.mergeAll(AccountStore.layer, RuleStore.layer).pipe(Layer.provideMerge(Crypto.layer))
