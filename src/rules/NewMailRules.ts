import { Effect } from "effect"
import { ApplyLimits, RulesApplyJob } from "../contract/jobs/RulesApplyJob.ts"
import type { UserId } from "../contract/users/UserId.ts"
import { Jobs, type Submitted } from "../jobs/Jobs.ts"
import { RuleStore } from "./RuleStore.ts"

/**
 * For the mail pipeline (src/main/mailFollowUps.ts), after analysis has saved new mail: submits `rules.apply` for
 * those messages when the user has an enabled rule (one job per 1,000 ids). Returns the submitted
 * jobs (none when the user has no enabled rule). Needs only what every worker has
 * (Jobs, SqlClient, UserScope). Outside RulesApplyProcessor.ts so that what submits the job does not load its
 * processor (the API program composes the follow-ups too).
 */
export const enqueueRulesForNewMail = (ownerId: UserId, emailIds: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    if (emailIds.length === 0) return []
    const jobs = yield* Jobs
    if (!(yield* (yield* RuleStore).hasEnabled(ownerId))) return []
    const unique = [...new Set(emailIds)]
    const payloads: Array<{ readonly trigger: "new_mail"; readonly emailIds: ReadonlyArray<string> }> = []
    for (let i = 0; i < unique.length; i += ApplyLimits.maxEmailIds) {
      payloads.push({ trigger: "new_mail", emailIds: unique.slice(i, i + ApplyLimits.maxEmailIds) })
    }
    // one batched submit (one statement, one fair-share call, one addBulk) for all the chunks
    const submitted: ReadonlyArray<Submitted> = yield* jobs.submitMany(RulesApplyJob, payloads, { ownerId })
    return submitted
  }).pipe(
    // RuleStore needs only what the callers have (SqlClient, UserScope): built here, so the callers
    // (the pipeline's follow-ups) need not provide the rules feature's layers
    Effect.provide(RuleStore.layer),
    Effect.withSpan("rules.enqueueForNewMail", { attributes: { "emails.count": emailIds.length } })
  )
