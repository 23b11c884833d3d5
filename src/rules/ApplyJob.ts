/**
 * The `rules.apply` job: runs a user's rules over stored mail (`RuleExecutor.apply`) for
 * `POST /api/v1/rules/apply` and, through `enqueueRulesForNewMail`, for newly analysed mail.
 *
 * Idempotent: a retry (or a second job over the same mail) re-plans from the stored state, and
 * `diffPlan` leaves out whatever is already true, so nothing is applied twice.
 */
import { Effect, Option, Schema } from "effect"
import { SqlClient } from "effect/sql"
import { CurrentJob } from "../jobs/CurrentJob.ts"
import { defineJobKind, PermanentJobError, TransientJobError } from "../jobs/JobKind.ts"
import { makeProcessor } from "../jobs/JobProcessor.ts"
import { Jobs, type Submitted } from "../jobs/Jobs.ts"
import { fromSqlError, logDatabaseError } from "../platform/Database.ts"
import { UserId } from "../contract/users/UserId.ts"
import { UserScope } from "../users/UserScope.ts"
import { MailboxPath } from "../contract/rules/Rule.ts"
import { ApplySummary } from "../contract/rules/RuleSchemas.ts"
import { RuleExecutor } from "./RuleExecutor.ts"
import { IsoDateTime, RunTrigger } from "../contract/rules/RuleSchemas.ts"

const Uuid = Schema.String.pipe(Schema.check(Schema.isUUID()))

export const ApplyLimits = {
  maxRuleIds: 200,
  /** Message ids per `rules.apply` job (larger lists are split into several jobs). */
  maxEmailIds: 1000
} as const

export const RulesApplyPayload = Schema.Struct({
  trigger: RunTrigger,
  ruleIds: Schema.optionalKey(Schema.Array(Uuid).check(Schema.isBetweenLength(1, ApplyLimits.maxRuleIds))),
  accountId: Schema.optionalKey(Uuid),
  mailbox: Schema.optionalKey(MailboxPath),
  since: Schema.optionalKey(IsoDateTime),
  emailIds: Schema.optionalKey(Schema.Array(Uuid).check(Schema.isBetweenLength(1, ApplyLimits.maxEmailIds))),
  /** POST /rules/apply: the number of messages the user confirmed; the run changes no more. */
  confirmedCount: Schema.optionalKey(Schema.Int.pipe(Schema.check(Schema.isGreaterThanOrEqualTo(0))))
})
export type RulesApplyPayload = typeof RulesApplyPayload.Type

export const RulesApplyJob = defineJobKind({
  name: "rules.apply",
  description: "Runs a user's auto-rules over stored mail and applies their actions on the IMAP server",
  payload: RulesApplyPayload,
  result: ApplySummary,
  concurrency: 4,
  timeout: "30 minutes",
  // an attempt cut short resumes where it stopped: what is done is not planned again
  retryOnTimeout: true,
  retry: { attempts: 5, initialDelay: "2 seconds", maxDelay: "2 minutes", jitter: 0.2 },
  userVisible: true
})

const decodeOwner = Schema.decodeUnknownOption(UserId)

export const RulesApplyProcessor = makeProcessor(
  RulesApplyJob,
  Effect.gen(function* () {
    const executor = yield* RuleExecutor
    return (payload: RulesApplyPayload) =>
      Effect.gen(function* () {
        const job = yield* CurrentJob
        const owner = decodeOwner(job.ownerId)
        if (Option.isNone(owner)) {
          return yield* new PermanentJobError({ code: "invalid_owner", message: "rules.apply runs for a user" })
        }
        const outcome = yield* executor
          .apply({
            ownerId: owner.value,
            ruleIds: payload.ruleIds,
            selection: {
              accountId: payload.accountId,
              mailbox: payload.mailbox,
              since: payload.since === undefined ? undefined : new Date(payload.since),
              emailIds: payload.emailIds
            },
            jobId: job.id,
            trigger: payload.trigger,
            confirmedCount: payload.confirmedCount,
            progress: (done, total) => job.progress({ phase: "applying", done, total })
          })
          .pipe(
            Effect.catchTag("DatabaseError", (error) =>
              logDatabaseError(error).pipe(
                Effect.andThen(Effect.fail(new TransientJobError({ code: "database", message: error.message })))
              )
            )
          )
        if (outcome.transient !== null) return yield* new TransientJobError(outcome.transient)
        return outcome.summary
      })
  })
)

/**
 * For the analysis job, after it has analysed (and committed) new mail: submits `rules.apply` for
 * those messages when the user has an enabled rule (one job per 1,000 ids). Returns the submitted
 * jobs (none when the user has no enabled rule). Needs only what every worker has
 * (Jobs, SqlClient, UserScope).
 */
export const enqueueRulesForNewMail = (ownerId: UserId, emailIds: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    if (emailIds.length === 0) return []
    const sql = yield* SqlClient.SqlClient
    const scope = yield* UserScope
    const jobs = yield* Jobs
    const rows = yield* scope
      .run(
        ownerId,
        sql<{ readonly found: boolean }>`
          SELECT EXISTS (SELECT 1 FROM rules WHERE user_id = ${ownerId} AND enabled) AS found`
      )
      .pipe(Effect.mapError((error) => (error._tag === "SqlError" ? fromSqlError(error) : error)))
    if (rows[0]?.found !== true) return []
    const unique = [...new Set(emailIds)]
    const submitted: Array<Submitted> = []
    for (let i = 0; i < unique.length; i += ApplyLimits.maxEmailIds) {
      const chunk = unique.slice(i, i + ApplyLimits.maxEmailIds)
      submitted.push(yield* jobs.submit(RulesApplyJob, { trigger: "new_mail", emailIds: chunk }, { ownerId }))
    }
    return submitted
  }).pipe(Effect.withSpan("rules.enqueueForNewMail", { attributes: { "emails.count": emailIds.length } }))
