/**
 * Layers of the rules feature for the worker: `RulesApplyProcessor` and `RulesUndoProcessor`
 * (src/rules/RulesApplyProcessor.ts, src/rules/RulesUndoProcessor.ts) with `RulesLive` below.
 * The API's use cases (Rules) are composed in `RulesHttpLive` (src/rules/RulesHttp.ts): they load
 * the HTTP contract, which the worker must not load.
 */
import { Layer } from "effect"
import { AccountsLive } from "../accounts/AccountsLive.ts"
import { AccountSessions } from "./AccountSessions.ts"
import { RuleEvaluator } from "./RuleEvaluator.ts"
import { RuleExecutor } from "./RuleExecutor.ts"
import { RuleMailStore } from "./RuleMailStore.ts"
import { RuleStore } from "./RuleStore.ts"
import { RunJournalStore } from "./RunJournalStore.ts"

/** IMAP sessions on users' accounts, over src/accounts' core (needs SqlClient, UserScope, Jobs). */
const AccountSessionsLive = AccountSessions.layer.pipe(Layer.provide(AccountsLive))

/** What `RulesApplyProcessor` needs beyond the platform and the job system (SqlClient, UserScope, Jobs). */
export const RulesLive = RuleExecutor.layer.pipe(
  // RunJournalStore and AccountSessions are also what RulesUndoProcessor needs
  Layer.provideMerge(
    Layer.mergeAll(
      RuleStore.layer,
      RuleMailStore.layer,
      RunJournalStore.layer,
      AccountSessionsLive,
      RuleEvaluator.layerConfig
    )
  )
)
