import { Schema } from "effect"
import { HttpApiEndpoint, HttpApiGroup, HttpApiSchema } from "effect/http-api"
import { AccountNotFound } from "../accounts/Account.ts"
import { Conflict, NotFound, ServiceUnavailable, ValidationError } from "../http/ApiErrors.ts"
import { EmailId, EmailNotFound } from "../emails/EmailId.ts"
import { JobAccepted } from "../jobs/Job.ts"
import { TooManyRequestsWithRetryAfter } from "../users/UserErrors.ts"
import { Authentication } from "../users/CurrentUser.ts"
import { IsoDateTime } from "./RuleSchemas.ts"
import { ApplyConfirmationRequired } from "./RuleSchemas.ts"
import { MailboxPath, RuleInput } from "./Rule.ts"
import { DryRunTruncation, RuleTestResult, SkippedMessage } from "./RuleSchemas.ts"
import { RuleId, RuleLimitReached, RuleNotFound, RulePatch, RuleRunView, RuleView, RunOutcome } from "./RuleSchemas.ts"
import { RunDetail, RunNotFound, RunSummary } from "./RuleSchemas.ts"

const Uuid = Schema.String.pipe(Schema.check(Schema.isUUID()))

export const RuleIdParams = { id: RuleId }

export const RuleList = Schema.Struct({
  /** In the order they run: ascending priority, ties by creation. */
  items: Schema.Array(RuleView)
})

export const RuleTestLimits = { defaultMessages: 20, maxMessages: 100 } as const

export const RuleTestRequest = Schema.Struct({
  /** One message; when absent, the newest `limit` messages a rules run would look at. */
  emailId: Schema.optionalKey(Uuid),
  limit: Schema.optionalKey(
    Schema.Int.pipe(Schema.check(Schema.isBetween({ minimum: 1, maximum: RuleTestLimits.maxMessages })))
  )
}).annotate({ identifier: "RuleTestRequest" })

export const RuleTestResponse = Schema.Struct({
  rule: Schema.Struct({ id: RuleId, name: Schema.String, enabled: Schema.Boolean }),
  /** One entry per evaluated message: whether the rule matches, every condition with the value it saw, what would change. */
  results: Schema.Array(RuleTestResult),
  /** Messages not evaluated within the request's budget. */
  skipped: Schema.Array(SkippedMessage),
  /** What was cut: text per condition (as in rules.apply), messages evaluated and skipped, and why. */
  truncated: DryRunTruncation
})

export const RulesApplyRequest = Schema.Struct({
  /** Only these rules (disabled ones are skipped); default: every enabled rule, in priority order. */
  ruleIds: Schema.optionalKey(Schema.Array(RuleId).check(Schema.isBetweenLength(1, 200))),
  accountId: Schema.optionalKey(Uuid),
  /** Only this mailbox; default: every mailbox except Sent, Drafts, Trash and virtual ones (All, Flagged). */
  mailbox: Schema.optionalKey(MailboxPath),
  /** Only mail dated at or after this. */
  since: Schema.optionalKey(IsoDateTime),
  /**
   * The number of messages this run would change, as the same request without `confirm` (a 409) reports
   * it. Required: a run on past mail starts only when the caller has seen and confirmed the number.
   */
  confirm: Schema.optionalKey(Schema.Int.pipe(Schema.check(Schema.isGreaterThanOrEqualTo(0))))
}).annotate({ identifier: "RulesApplyRequest" })

export const RunListQuery = {
  ruleId: Schema.optionalKey(RuleId),
  emailId: Schema.optionalKey(Uuid),
  jobId: Schema.optionalKey(Uuid),
  outcome: Schema.optionalKey(RunOutcome),
  limit: Schema.optionalKey(
    Schema.FiniteFromString.pipe(Schema.check(Schema.isInt(), Schema.isBetween({ minimum: 1, maximum: 200 })))
  ),
  cursor: Schema.optionalKey(Schema.String.pipe(Schema.check(Schema.isMaxLength(100))))
}

export const RunIdParams = { id: Uuid }

export const ApplyRunQuery = {
  limit: Schema.optionalKey(
    Schema.FiniteFromString.pipe(Schema.check(Schema.isInt(), Schema.isBetween({ minimum: 1, maximum: 200 })))
  ),
  cursor: Schema.optionalKey(Schema.String.pipe(Schema.check(Schema.isMaxLength(200))))
}

export const ApplyRunPage = Schema.Struct({
  items: Schema.Array(RunSummary),
  /** Pass as `cursor` for the next (older) page; null on the last page. */
  nextCursor: Schema.NullOr(Schema.String)
})

export const RunPageResponse = Schema.Struct({
  items: Schema.Array(RuleRunView),
  /** Pass as `cursor` for the next (older) page; null on the last page. */
  nextCursor: Schema.NullOr(Schema.String)
})

/** Auto-rules: CRUD, dry run, apply to stored mail (confirmed), runs with their journal and undo, execution log (src/rules/README.md). */
export class RulesApi extends HttpApiGroup.make("rules")
  .add(
    HttpApiEndpoint.get("list", "/rules", {
      success: RuleList,
      error: ServiceUnavailable
    })
  )
  .add(
    HttpApiEndpoint.post("create", "/rules", {
      payload: RuleInput,
      success: RuleView.pipe(HttpApiSchema.status(201)),
      error: [RuleLimitReached, ServiceUnavailable]
    })
  )
  // static paths before `/rules/:id`
  .add(
    HttpApiEndpoint.get("log", "/rules/log", {
      query: RunListQuery,
      success: RunPageResponse,
      error: [RuleNotFound, NotFound, ValidationError, ServiceUnavailable]
    })
  )
  .add(
    HttpApiEndpoint.get("runs", "/rules/runs", {
      query: ApplyRunQuery,
      success: ApplyRunPage,
      error: [ValidationError, ServiceUnavailable]
    })
  )
  .add(
    HttpApiEndpoint.get("run", "/rules/runs/:id", {
      params: RunIdParams,
      success: RunDetail,
      error: [RunNotFound, ServiceUnavailable]
    })
  )
  .add(
    HttpApiEndpoint.post("undo", "/rules/runs/:id/undo", {
      params: RunIdParams,
      success: JobAccepted.pipe(HttpApiSchema.status(202)),
      error: [RunNotFound, TooManyRequestsWithRetryAfter, ServiceUnavailable]
    })
  )
  .add(
    HttpApiEndpoint.post("apply", "/rules/apply", {
      payload: RulesApplyRequest,
      success: JobAccepted.pipe(HttpApiSchema.status(202)),
      error: [
        RuleNotFound,
        AccountNotFound,
        ApplyConfirmationRequired,
        TooManyRequestsWithRetryAfter,
        ServiceUnavailable
      ]
    })
  )
  .add(
    // the `e` key: a `rules.apply` run of one ad-hoc rule (move to the account's Archive)
    HttpApiEndpoint.post("archiveEmail", "/emails/:id/archive", {
      params: { id: EmailId },
      success: JobAccepted.pipe(HttpApiSchema.status(202)),
      // 409: the account has no special-use Archive mailbox, or the message is in it already
      error: [EmailNotFound, Conflict, TooManyRequestsWithRetryAfter, ServiceUnavailable]
    })
  )
  .add(
    HttpApiEndpoint.get("get", "/rules/:id", {
      params: RuleIdParams,
      success: RuleView,
      error: [RuleNotFound, ServiceUnavailable]
    })
  )
  .add(
    HttpApiEndpoint.patch("update", "/rules/:id", {
      params: RuleIdParams,
      payload: RulePatch,
      success: RuleView,
      error: [RuleNotFound, ValidationError, ServiceUnavailable]
    })
  )
  .add(
    HttpApiEndpoint.delete("remove", "/rules/:id", {
      params: RuleIdParams,
      success: HttpApiSchema.NoContent,
      error: [RuleNotFound, ServiceUnavailable]
    })
  )
  .add(
    HttpApiEndpoint.post("test", "/rules/:id/test", {
      params: RuleIdParams,
      payload: RuleTestRequest,
      success: RuleTestResponse,
      error: [RuleNotFound, NotFound, ValidationError, ServiceUnavailable]
    })
  )
  .middleware(Authentication)
  .prefix("/api/v1") {}
