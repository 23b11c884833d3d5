/**
 * The rules API's schemas: rules as stored and shown, the execution log, dry-run answers, runs and
 * their journal, and the errors the endpoints answer with. Shared by the HTTP contract and the
 * rules services (RuleStore, RuleExecutor, RunJournalStore), which keep their logic.
 */
import { Schema } from "effect"
import { MatchMode, RuleAction, RuleActions, RuleCondition, RuleConditions, RuleName, RulePriority } from "./Rule.ts"

export const RuleId = Schema.String.pipe(Schema.check(Schema.isUUID()), Schema.brand("RuleId"))
export type RuleId = typeof RuleId.Type

/** No such rule among the current user's (another user's rule is not found either). */
export class RuleNotFound extends Schema.TaggedError<RuleNotFound>()(
  "RuleNotFound",
  { message: Schema.String },
  { httpApiStatus: 404 }
) {
  static forId(id: string): RuleNotFound {
    return new RuleNotFound({ message: `no rule with id ${id}` })
  }
}

/** The user already has the maximum number of rules. */
export class RuleLimitReached extends Schema.TaggedError<RuleLimitReached>()(
  "RuleLimitReached",
  { message: Schema.String, limit: Schema.Int },
  { httpApiStatus: 409 }
) {}

/** What a `rules.apply` run did (the job's result). */
export const ApplySummary = Schema.Struct({
  /** Enabled rules that ran. */
  rules: Schema.Int,
  /** Messages evaluated. */
  messages: Schema.Int,
  /** Messages at least one rule matched. */
  matched: Schema.Int,
  /** Messages at least one change was applied to. */
  changed: Schema.Int,
  actionsApplied: Schema.Int,
  actionsFailed: Schema.Int,
  /** Messages with at least one failed change. */
  failedMessages: Schema.Int,
  /** Execution log rows written. */
  runs: Schema.Int,
  /** Messages whose evaluation ran over its time limit (nothing was done to them). */
  evaluationTimeouts: Schema.Int,
  /** The run stopped at the confirmed count: more messages would change now than the user confirmed. */
  stoppedAtConfirmedCount: Schema.Boolean
})
export type ApplySummary = typeof ApplySummary.Type

/** A rule as the API shows it. */
export class RuleView extends Schema.Class<RuleView>("Rule")({
  id: RuleId,
  name: Schema.String,
  enabled: Schema.Boolean,
  match: MatchMode,
  priority: Schema.Int,
  stopProcessing: Schema.Boolean,
  conditions: Schema.Array(RuleCondition),
  actions: Schema.Array(RuleAction),
  createdAt: Schema.Date,
  updatedAt: Schema.Date
}) {}

/** Every field optional; the rule after the change is validated as a whole. */
export const RulePatch = Schema.Struct({
  name: Schema.optionalKey(RuleName),
  enabled: Schema.optionalKey(Schema.Boolean),
  match: Schema.optionalKey(MatchMode),
  priority: Schema.optionalKey(RulePriority),
  stopProcessing: Schema.optionalKey(Schema.Boolean),
  conditions: Schema.optionalKey(RuleConditions),
  actions: Schema.optionalKey(RuleActions)
}).annotate({ identifier: "RulePatch" })
export type RulePatch = typeof RulePatch.Type

export const RunActionStatus = Schema.Literals(["applied", "failed"])
export type RunActionStatus = typeof RunActionStatus.Type
export const RunOutcome = Schema.Literals(["applied", "partial", "failed"])
export type RunOutcome = typeof RunOutcome.Type
export const RunTrigger = Schema.Literals(["manual", "new_mail"])
export type RunTrigger = typeof RunTrigger.Type

export const RunAction = Schema.Struct({ action: RuleAction, status: RunActionStatus })
export type RunAction = typeof RunAction.Type

/** One entry of the execution log: what one rule did (or failed to do) to one message. */
export class RuleRunView extends Schema.Class<RuleRunView>("RuleRun")({
  id: Schema.String,
  rule: Schema.Struct({
    /** null when the rule has been deleted since. */
    id: Schema.NullOr(Schema.String),
    /** The rule's name when it ran. */
    name: Schema.String
  }),
  email: Schema.Struct({
    /** null when the message has been deleted since. */
    id: Schema.NullOr(Schema.String),
    subject: Schema.NullOr(Schema.String),
    /** Where the message is now. */
    mailbox: Schema.NullOr(Schema.String)
  }),
  jobId: Schema.NullOr(Schema.String),
  trigger: RunTrigger,
  /** The changes this rule asked for, in execution order, each applied or failed. */
  actions: Schema.Array(RunAction),
  outcome: RunOutcome,
  error: Schema.NullOr(Schema.Struct({ code: Schema.String, message: Schema.String })),
  createdAt: Schema.Date
}) {}

export const ObservedValue = Schema.Union([
  Schema.String,
  Schema.Number,
  Schema.Boolean,
  Schema.Null,
  Schema.Array(Schema.String)
])
export type ObservedValue = typeof ObservedValue.Type

export const ConditionResult = Schema.Struct({
  /** Position in the rule's `conditions` (0-based). */
  index: Schema.Int,
  /** e.g. "subject contains 'Rechnung'", "sender domain 'example.com'", "not (has tag 'done')". */
  description: Schema.String,
  passed: Schema.Boolean,
  /** The value the condition looked at; strings cut to about 120 characters, lists to 20 items. */
  observed: ObservedValue
})
export type ConditionResult = typeof ConditionResult.Type

export const RuleTestResult = Schema.Struct({
  email: Schema.Struct({ id: Schema.String, subject: Schema.NullOr(Schema.String), mailbox: Schema.String }),
  matched: Schema.Boolean,
  match: MatchMode,
  /** Every condition, its result and the value it looked at. */
  conditions: Schema.Array(ConditionResult),
  /** The same in one line: "matched (all): subject contains 'Rechnung': true (saw '...'); ...". */
  explanation: Schema.String,
  /** What applying this rule alone would change now (empty when it does not match or all is done). */
  changes: Schema.Array(RuleAction)
})
export type RuleTestResult = typeof RuleTestResult.Type

export const DryRunTruncation = Schema.Struct({
  /** Body characters a `contains` / `equals` body condition looks at (the same in `rules.apply`). */
  bodyCharsPerCondition: Schema.Int,
  /** Body characters a `regex` body condition looks at (the same in `rules.apply`). */
  bodyCharsPerRegexCondition: Schema.Int,
  subjectCharsPerCondition: Schema.Int,
  /** Evaluated messages whose body is longer than what this rule's body conditions look at. */
  messagesWithCutBody: Schema.Int,
  messagesEvaluated: Schema.Int,
  /** Messages not evaluated (listed in `skipped`). */
  messagesSkipped: Schema.Int,
  /** Why messages were skipped: the request's time budget ran out, or one message ran over its limit. */
  reason: Schema.NullOr(Schema.Literals(["time_budget", "evaluation_timeout", "evaluation_failed"])),
  /** The request's evaluation budget, waiting for a free evaluation thread included. */
  budgetMs: Schema.Int
})
export type DryRunTruncation = typeof DryRunTruncation.Type

export const SkippedMessage = Schema.Struct({
  email: Schema.Struct({ id: Schema.String, subject: Schema.NullOr(Schema.String), mailbox: Schema.String }),
  reason: Schema.Literals(["time_budget", "evaluation_timeout", "evaluation_failed"])
})

export const UndoStatus = Schema.Literals(["restored", "changed", "vanished", "failed"])
export type UndoStatus = typeof UndoStatus.Type

/**
 * `change`: the message itself (undo moves it back, restores its flags). `copy`: a copy the run made
 * (`before` is the original, which stays; `after` the copy; undo removes the copy). Migration 0058.
 */
export const JournalKind = Schema.Literals(["change", "copy"])
export type JournalKind = typeof JournalKind.Type

export const JournalEntry = Schema.Struct({
  id: Schema.String,
  kind: JournalKind,
  /** null when the message has been deleted from our database since. */
  emailId: Schema.NullOr(Schema.String),
  accountId: Schema.String,
  subject: Schema.NullOr(Schema.String),
  /** The server actions carried out on this message, e.g. ["markRead", "delete"]. */
  actions: Schema.Array(Schema.String),
  before: Schema.Struct({
    mailbox: Schema.String,
    uidValidity: Schema.Number,
    uid: Schema.Number,
    flags: Schema.Array(Schema.String)
  }),
  after: Schema.Struct({
    mailbox: Schema.String,
    uidValidity: Schema.Number,
    uid: Schema.Number,
    flags: Schema.Array(Schema.String)
  }),
  /** null until an undo looked at it. */
  undo: Schema.NullOr(
    Schema.Struct({ status: UndoStatus, detail: Schema.NullOr(Schema.String), at: Schema.NullOr(Schema.Date) })
  ),
  createdAt: Schema.Date
})
export type JournalEntry = typeof JournalEntry.Type

export const RunSummary = Schema.Struct({
  id: Schema.String,
  jobId: Schema.NullOr(Schema.String),
  trigger: RunTrigger,
  /** The count the user confirmed (POST /rules/apply); null for runs on new mail. */
  confirmedCount: Schema.NullOr(Schema.Int),
  /** Messages changed on the server (journal rows). */
  messages: Schema.Int,
  /** Of those, messages an undo has put back. */
  restored: Schema.Int,
  undo: Schema.NullOr(Schema.Struct({ jobId: Schema.NullOr(Schema.String), requestedAt: Schema.Date })),
  createdAt: Schema.Date
})
export type RunSummary = typeof RunSummary.Type

export const RunDetail = Schema.Struct({
  run: RunSummary,
  /** The journal in the order the actions were recorded (at most `JournalLimits.maxListed`). */
  journal: Schema.Array(JournalEntry),
  journalTotal: Schema.Int
})
export type RunDetail = typeof RunDetail.Type

/** No such run among the current user's (another user's run is not found either). */
export class RunNotFound extends Schema.TaggedError<RunNotFound>()(
  "RunNotFound",
  { message: Schema.String },
  { httpApiStatus: 404 }
) {
  static forId(id: string): RunNotFound {
    return new RunNotFound({ message: `no rule run with id ${id}` })
  }
}

/** An ISO 8601 date-time ("2025-03-01" or "2025-03-01T08:00:00Z"). */
export const IsoDateTime = Schema.String.pipe(
  Schema.check(
    Schema.isMaxLength(40),
    Schema.makeFilter((s: string) =>
      /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?$/.test(s) &&
      !Number.isNaN(Date.parse(s))
        ? undefined
        : "expected an ISO 8601 date or date-time, e.g. 2025-03-01 or 2025-03-01T08:00:00Z"
    )
  )
).annotate({ description: "ISO 8601 date or date-time" })

/** `POST /rules/apply` without a matching `confirm`: nothing was started; the answer carries the count to confirm. */
export class ApplyConfirmationRequired extends Schema.TaggedError<ApplyConfirmationRequired>()(
  "ApplyConfirmationRequired",
  {
    message: Schema.String,
    /** The number to send as `confirm`. */
    count: Schema.Int,
    /** true: messages the run would change now; false: they could not be counted in time, this is every selected message. */
    exact: Schema.Boolean,
    /** Messages the run looks at. */
    selected: Schema.Int,
    /** What the request confirmed (null: nothing). */
    confirmed: Schema.NullOr(Schema.Int)
  },
  { httpApiStatus: 409 }
) {}
