/**
 * Layers of the rules feature for the two programs:
 * - API: `RulesHttpLive` (src/rules/RulesHttp.ts) in the HTTP application;
 * - worker: `RulesApplyProcessor` (src/rules/ApplyJob.ts) and `RulesUndoProcessor` (src/rules/UndoJob.ts)
 *   with `RuleExecutorLive` below.
 */
import { Layer } from "effect"
import { AccountsCoreLive } from "../accounts/AccountsCoreLive.ts"
import { AccountSessions } from "./AccountSessions.ts"
import { RuleEvaluator } from "./RuleEvaluator.ts"
import { RuleExecutor } from "./RuleExecutor.ts"
import { RuleMail } from "./RuleMail.ts"
import { RuleStore } from "./RuleStore.ts"
import { RunJournal } from "./RunJournal.ts"

/** IMAP sessions on users' accounts, over src/accounts' core (needs SqlClient, UserScope, Jobs). */
export const AccountSessionsLive = AccountSessions.layer.pipe(Layer.provide(AccountsCoreLive))

/** What `RulesApplyProcessor` needs beyond the platform and the job system (SqlClient, UserScope, Jobs). */
export const RuleExecutorLive = RuleExecutor.layer.pipe(
  // RunJournal and AccountSessions are also what RulesUndoProcessor needs
  Layer.provideMerge(
    Layer.mergeAll(RuleStore.layer, RuleMail.layer, RunJournal.layer, AccountSessionsLive, RuleEvaluator.layerConfig)
  )
)
