import { Layer } from "effect"
import { SyncTickWorkerLive } from "../accounts/AccountSchedules.ts"
import { AccountsLive } from "../accounts/AccountsLive.ts"
import { MailStore } from "./MailStore.ts"
import { MailSync } from "./MailSync.ts"
import { MimeParser } from "./ParserPool.ts"
import { SyncConfig } from "./SyncConfig.ts"

/**
 * What the worker needs for `mail.sync`: MailSync with the parser pool (MIME_PARSER_THREADS),
 * MailStore, SyncConfig and the accounts' core. Needs SqlClient, UserScope, Jobs, JobKinds.
 */
export const SyncLive = MailSync.layer.pipe(
  Layer.provideMerge(Layer.mergeAll(MailStore.layer, MimeParser.layerConfig, SyncConfig.layer)),
  Layer.provideMerge(AccountsLive)
)

/** The scheduler ticks' consumer and the schedule reconciliation (worker program only). */
export const SyncSchedulerWorkerLive = SyncTickWorkerLive
