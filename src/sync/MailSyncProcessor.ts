import { Effect } from "effect"
import { MailSyncJob, type SyncPayload } from "../contract/jobs/MailSyncJob.ts"
import { TransientJobError } from "../contract/jobs/JobKind.ts"
import { CurrentJob, currentOwner } from "../jobs/CurrentJob.ts"
import { yieldedCode } from "../jobs/FairShare.ts"
import { makeProcessor } from "../jobs/JobProcessor.ts"
import { MailSync } from "./MailSync.ts"

/** The `mail.sync` processor: the job's owner is the account's owner. */
export const MailSyncProcessor = makeProcessor(
  MailSyncJob,
  Effect.gen(function* () {
    const sync = yield* MailSync
    return (payload: SyncPayload) =>
      Effect.gen(function* () {
        const job = yield* CurrentJob
        const owner = yield* currentOwner
        return yield* sync.run(owner, payload.accountId, {
          attempt: job.attempt,
          maxAttempts: job.maxAttempts,
          progress: job.progress,
          softTimeLimit: job.softTimeLimit,
          // fair share: past its first page a sync is bulk work and gives its slot to interactive syncs
          bulkAfterFirstPage: {
            continueAsBulk: job.continueAsBulk,
            shouldYield: job.shouldYield,
            yielded: (message: string) => new TransientJobError({ code: yieldedCode, message })
          },
          ...(payload.mailboxes === undefined ? {} : { mailboxes: payload.mailboxes })
        })
      })
  })
)
