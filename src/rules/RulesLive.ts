/**
 * Layers of the rules feature for the two programs:
 * - API: `RulesHttpLive` (src/rules/RulesHttp.ts) in the HTTP application;
 * - worker: `RulesApplyProcessor` (src/rules/ApplyJob.ts) with `RuleExecutorLive` below.
 */
import { Layer } from "effect"
import { AccountsCoreLive } from "../accounts/AccountsCoreLive.ts"
import { AccountSessions } from "./AccountSessions.ts"
import { RuleEvaluator } from "./RuleEvaluator.ts"
import { RuleExecutor } from "./RuleExecutor.ts"
import { RuleMail } from "./RuleMail.ts"
import { RuleStore } from "./RuleStore.ts"

/** IMAP sessions on users' accounts, over src/accounts' core (needs SqlClient, UserScope, Jobs). */
export const AccountSessionsLive = AccountSessions.layer.pipe(Layer.provide(AccountsCoreLive))

/** What `RulesApplyProcessor` needs beyond the platform and the job system (SqlClient, UserScope, Jobs). */
export const RuleExecutorLive = RuleExecutor.layer.pipe(
  Layer.provide(Layer.mergeAll(RuleStore.layer, RuleMail.layer, AccountSessionsLive, RuleEvaluator.layerConfig))
)
