/**
 * The `rules.apply` job: runs a user's rules over stored mail (`RuleExecutor.apply`) for
 * `POST /api/v1/rules/apply` and, through `enqueueRulesForNewMail` (NewMailRules.ts), for newly analysed mail.
 *
 * Idempotent: a retry (or a second job over the same mail) re-plans from the stored state, and
 * `diffPlan` leaves out whatever is already true, so nothing is applied twice.
 */
import { type AdhocMove, RulesApplyJob, type RulesApplyPayload } from "../contract/jobs/RulesApplyJob.ts"
import { Effect } from "effect"
import { CurrentJob, currentOwner } from "../jobs/CurrentJob.ts"
import { TransientJobError } from "../contract/jobs/JobKind.ts"
import { makeProcessor } from "../jobs/JobProcessor.ts"
import { logDatabaseError } from "../platform/Database.ts"
import { RuleExecutor } from "./RuleExecutor.ts"
import type { RuleInput } from "../contract/rules/Rule.ts"

/** The one rule of an ad-hoc move: what is still in `mailbox` moves to `moveTo`. */
export const adhocMoveRule = (move: AdhocMove): RuleInput => ({
  name: move.name,
  enabled: true,
  match: "all",
  priority: 0,
  stopProcessing: false,
  conditions: [{ field: "mailbox", op: "equals", value: move.mailbox }],
  actions: [{ type: "moveTo", mailbox: move.moveTo }]
})

export const RulesApplyProcessor = makeProcessor(
  RulesApplyJob,
  Effect.gen(function* () {
    const executor = yield* RuleExecutor
    return (payload: RulesApplyPayload) =>
      Effect.gen(function* () {
        const job = yield* CurrentJob
        const owner = yield* currentOwner
        const outcome = yield* executor
          .apply({
            ownerId: owner,
            ruleIds: payload.ruleIds,
            adhocRules: payload.adhocMove === undefined ? undefined : [adhocMoveRule(payload.adhocMove)],
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

/** Kept here for the callers that knew it here; it lives in NewMailRules.ts, which loads no processor. */
export { enqueueRulesForNewMail } from "./NewMailRules.ts"
