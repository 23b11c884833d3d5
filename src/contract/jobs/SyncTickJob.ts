import { Schema } from "effect"
import { AccountId } from "../accounts/Account.ts"
import { defineJobKind } from "./JobKind.ts"

export const SyncTickPayload = Schema.Struct({ accountId: AccountId })

/** Fired by an account's job scheduler; turns into a `mail.sync` job with a durable record. */
export const SyncTickJob = defineJobKind({
  name: "mail.sync.tick",
  description: "Scheduler tick: submits mail.sync for one account (internal)",
  payload: SyncTickPayload,
  result: Schema.Struct({ submitted: Schema.Boolean }),
  concurrency: 10,
  timeout: "30 seconds",
  retryOnTimeout: true,
  retry: { attempts: 3, initialDelay: "5 seconds", maxDelay: "30 seconds", jitter: 0.2 },
  userVisible: false
})
