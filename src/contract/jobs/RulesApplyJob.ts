import { Schema } from "effect"
import { MailboxPath } from "../rules/Rule.ts"
import { ApplySummary, IsoDateTime, RunTrigger } from "../rules/RuleSchemas.ts"
import { defineJobKind } from "./JobKind.ts"

const Uuid = Schema.String.pipe(Schema.check(Schema.isUUID()))

export const ApplyLimits = {
  maxRuleIds: 200,
  /** Message ids per `rules.apply` job (larger lists are split into several jobs). */
  maxEmailIds: 1000
} as const

/**
 * A one-off rule the run applies instead of the user's stored rules (the `e` key's archive): every
 * selected message still in `mailbox` is moved to `moveTo`. It is logged by its name, journalled and
 * undone like any rule's move.
 */
export const AdhocMove = Schema.Struct({
  name: Schema.String.pipe(Schema.check(Schema.isMinLength(1), Schema.isMaxLength(200))),
  mailbox: MailboxPath,
  moveTo: MailboxPath
})
export type AdhocMove = typeof AdhocMove.Type

export const RulesApplyPayload = Schema.Struct({
  trigger: RunTrigger,
  ruleIds: Schema.optionalKey(Schema.Array(Uuid).check(Schema.isBetweenLength(1, ApplyLimits.maxRuleIds))),
  accountId: Schema.optionalKey(Uuid),
  mailbox: Schema.optionalKey(MailboxPath),
  since: Schema.optionalKey(IsoDateTime),
  emailIds: Schema.optionalKey(Schema.Array(Uuid).check(Schema.isBetweenLength(1, ApplyLimits.maxEmailIds))),
  adhocMove: Schema.optionalKey(AdhocMove),
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
