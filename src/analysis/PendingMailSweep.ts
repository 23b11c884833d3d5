import { Effect, Layer } from "effect"
import { enqueuePendingProcessing } from "./enqueue.ts"
import { MailProcessingConfig } from "./MailProcessingConfig.ts"
import { ProcessingStore } from "./ProcessingStore.ts"

/**
 * Mail is analysed and embedded by jobs the sync queues after it stored it; a message whose job is
 * gone before it wrote the outcome (a job cancelled, out of attempts after a crash, a claim leaked)
 * waits, once its claim expired, for the owner's next sync that stores new mail: days, for a quiet
 * mailbox. So each worker, every MAIL_PENDING_SWEEP_SECONDS, looks for owners with such mail and
 * queues their bulk `mail.analyze` / `mail.embed` for all pending mail.
 *
 * Due: pending (canonical copy), unclaimed or its claim expired, stored and last changed more than
 * a minute ago (fresh mail's own jobs are queued right after its store: not raced), of an owner
 * with no unfinished job of that kind (a queued, running or retrying one takes it, a bulk job that
 * yielded too): ProcessingStore.ownersWithUnheldPendingMail.
 *
 * Several workers run it at once with no election: the submits de-duplicate (one unfinished job per
 * owner, kind and key), so a second pass finds the job the first one queued, or excludes the owner.
 * Finding something means a job was lost: a warning with the number of owners and jobs queued.
 */

/** What one pass queued: owners with due mail, and the jobs created (not joined to queued or running ones). */
export interface SweepSummary {
  readonly owners: number
  readonly analyze: number
  readonly embed: number
}

export const sweepPendingMail = Effect.gen(function* () {
  const store = yield* ProcessingStore
  const owners = yield* store.ownersWithUnheldPendingMail
  let analyze = 0
  let embed = 0
  for (const row of owners) {
    const queued = yield* enqueuePendingProcessing(row.owner, row)
    if (queued.analyze) analyze++
    if (queued.embed) embed++
  }
  const summary: SweepSummary = { owners: owners.length, analyze, embed }
  if (analyze + embed > 0) {
    // pending mail no job was going to take: something lost its job (counts only, never mail or owners)
    yield* Effect.logWarning("pending mail without a job: queued its analysis/embedding", summary)
  }
  return summary
}).pipe(Effect.withSpan("analysis.pendingSweep"))

/** The sweep in each worker, every MAIL_PENDING_SWEEP_SECONDS (the first one interval after start). */
export const PendingMailSweepLive = Layer.effectDiscard(
  Effect.gen(function* () {
    const config = yield* MailProcessingConfig
    yield* sweepPendingMail.pipe(
      Effect.catch((error) =>
        Effect.logWarning("pending mail sweep failed; the next pass tries again", { reason: error.message })
      ),
      Effect.delay(`${config.pendingSweepSeconds} seconds`),
      Effect.forever,
      Effect.forkScoped
    )
  })
)
