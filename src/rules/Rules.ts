/**
 * The rules' use cases that take more than one step: the dry run, starting and undoing a run, and
 * the two logs. `RulesHttp.ts` decodes the request, calls one of these (or one RuleStore call) and
 * maps the errors; the keyset cursors stay there because they are the wire form of a position.
 */
import { Context, Effect, Layer, Option } from "effect"
import { AccountNotFound } from "../contract/accounts/Account.ts"
import { Conflict, NotFound, ValidationError } from "../contract/http/ApiErrors.ts"
import { EmailNotFound } from "../contract/emails/EmailId.ts"
import type { JobAccepted, QueueUnavailable, SubmitRateLimited } from "../contract/jobs/Job.ts"
import { RulesApplyJob } from "../contract/jobs/RulesApplyJob.ts"
import { RulesUndoJob } from "../contract/jobs/RulesUndoJob.ts"
import {
  type RulesApplyRequest,
  type RuleTestRequest,
  type RuleTestResponse,
  RuleTestLimits
} from "../contract/rules/RulesApi.ts"
import {
  type ApplyConfirmationRequired,
  RuleNotFound,
  type RunNotFound,
  type RunSummary
} from "../contract/rules/RuleSchemas.ts"
import type { UserId } from "../contract/users/UserId.ts"
import { Jobs } from "../jobs/Jobs.ts"
import type { DatabaseError } from "../platform/Database.ts"
import { confirmationRequired, previewApply } from "./ApplyPreview.ts"
import { RuleEvaluator } from "./RuleEvaluator.ts"
import { dryRunMessages } from "./RuleExecutor.ts"
import { RuleMailStore, type RuleMessage } from "./RuleMailStore.ts"
import { type RunPage, type RunQuery, RuleStore } from "./RuleStore.ts"
import { RunJournalStore } from "./RunJournalStore.ts"

/** A position in the list of runs: the last run's created_at and id. */
export interface RunPosition {
  readonly createdAt: Date
  readonly id: string
}

export interface RunsPage {
  readonly items: ReadonlyArray<RunSummary>
  /** Set when there is a next page: the position of the last item. */
  readonly next: RunPosition | undefined
}

export interface RulesShape {
  /** Runs the rule over one message or the latest ones without changing anything. */
  readonly test: (
    owner: UserId,
    ruleId: string,
    request: typeof RuleTestRequest.Type
  ) => Effect.Effect<typeof RuleTestResponse.Type, ValidationError | RuleNotFound | NotFound | DatabaseError>
  /** Starts a `rules.apply` run on past mail, only with the count the caller was shown (`confirm`). */
  readonly apply: (
    owner: UserId,
    request: typeof RulesApplyRequest.Type
  ) => Effect.Effect<
    JobAccepted,
    RuleNotFound | AccountNotFound | ApplyConfirmationRequired | QueueUnavailable | SubmitRateLimited | DatabaseError
  >
  /**
   * Archives one message (the `e` key): a `rules.apply` run of one ad-hoc rule that moves it to its
   * account's special-use Archive mailbox, so the move, the stored state, the log and the undo journal
   * are a rule run's. Conflict when the account has no Archive or the message is in it already.
   */
  readonly archive: (
    owner: UserId,
    emailId: string
  ) => Effect.Effect<JobAccepted, EmailNotFound | Conflict | QueueUnavailable | SubmitRateLimited | DatabaseError>
  /** The execution log; the rule and the email filtered on must be the owner's. */
  readonly log: (owner: UserId, query: RunQuery) => Effect.Effect<RunPage, RuleNotFound | NotFound | DatabaseError>
  /** Runs, newest first, `limit` at a time. */
  readonly runs: (
    owner: UserId,
    limit: number,
    before: RunPosition | undefined
  ) => Effect.Effect<RunsPage, DatabaseError>
  /** Queues the undo of one of the owner's runs and notes it in the run. */
  readonly undo: (
    owner: UserId,
    runId: string
  ) => Effect.Effect<JobAccepted, RunNotFound | QueueUnavailable | SubmitRateLimited | DatabaseError>
}

export class Rules extends Context.Service<Rules, RulesShape>()("mail-helper/Rules") {
  static readonly layer = Layer.effect(
    Rules,
    Effect.gen(function* () {
      const store = yield* RuleStore
      const mail = yield* RuleMailStore
      const jobs = yield* Jobs
      const evaluator = yield* RuleEvaluator
      const journal = yield* RunJournalStore

      const test: RulesShape["test"] = (owner, ruleId, request) =>
        Effect.gen(function* () {
          if (request.emailId !== undefined && request.limit !== undefined) {
            return yield* new ValidationError({
              message: "give emailId or limit, not both",
              issues: [{ path: "payload.limit", message: "not allowed together with emailId" }]
            })
          }
          const rule = yield* store.get(owner, ruleId)
          let messages: ReadonlyArray<RuleMessage>
          if (request.emailId === undefined) {
            messages = yield* mail.latest(owner, request.limit ?? RuleTestLimits.defaultMessages)
          } else {
            const found = yield* mail.byId(owner, request.emailId)
            if (Option.isNone(found)) return yield* new NotFound({ message: `no email with id ${request.emailId}` })
            messages = [found.value]
          }
          const answer = yield* dryRunMessages(rule, messages).pipe(Effect.provideService(RuleEvaluator, evaluator))
          return {
            rule: { id: rule.id, name: rule.input.name, enabled: rule.input.enabled },
            ...answer
          }
        })

      const apply: RulesShape["apply"] = (owner, request) =>
        Effect.gen(function* () {
          if (request.ruleIds !== undefined) {
            const known = yield* store.existing(owner, request.ruleIds)
            const missing = request.ruleIds.find((id) => !known.has(id))
            if (missing !== undefined) return yield* RuleNotFound.forId(missing)
          }
          if (request.accountId !== undefined && !(yield* mail.hasAccount(owner, request.accountId))) {
            return yield* AccountNotFound.forId(request.accountId)
          }
          // past mail: the run starts only with the count the caller was shown
          const preview = yield* previewApply(owner, request.ruleIds, {
            accountId: request.accountId,
            mailbox: request.mailbox,
            since: request.since === undefined ? undefined : new Date(request.since)
          }).pipe(
            Effect.provideService(RuleStore, store),
            Effect.provideService(RuleMailStore, mail),
            Effect.provideService(RuleEvaluator, evaluator)
          )
          if (request.confirm !== preview.count) {
            return yield* confirmationRequired(preview, request.confirm)
          }
          const submitted = yield* jobs.submitForUser(
            RulesApplyJob,
            {
              trigger: "manual",
              ...(request.ruleIds === undefined ? {} : { ruleIds: request.ruleIds }),
              ...(request.accountId === undefined ? {} : { accountId: request.accountId }),
              ...(request.mailbox === undefined ? {} : { mailbox: request.mailbox }),
              ...(request.since === undefined ? {} : { since: request.since }),
              confirmedCount: preview.count
            },
            // rules on past mail are a backlog: bulk (docs/jobs.md)
            { ownerId: owner, workClass: "bulk" }
          )
          return { jobId: submitted.jobId, state: submitted.state }
        })

      const archive: RulesShape["archive"] = (owner, emailId) =>
        Effect.gen(function* () {
          const found = yield* mail.byId(owner, emailId)
          if (Option.isNone(found)) return yield* EmailNotFound.forId(emailId)
          const message = found.value
          const archivePath = yield* mail.archiveMailbox(owner, message.accountId)
          if (Option.isNone(archivePath)) {
            return yield* new Conflict({
              message: "this account has no Archive mailbox (a folder with the \\Archive special use) to archive to"
            })
          }
          if (archivePath.value === message.mailboxPath) {
            return yield* new Conflict({ message: `the message is in ${archivePath.value} already` })
          }
          const submitted = yield* jobs.submitForUser(
            RulesApplyJob,
            {
              trigger: "manual",
              emailIds: [message.id],
              adhocMove: { name: "Archive", mailbox: message.mailboxPath, moveTo: archivePath.value }
            },
            { ownerId: owner }
          )
          return { jobId: submitted.jobId, state: submitted.state }
        }).pipe(Effect.withSpan("Rules.archive"))

      const log: RulesShape["log"] = (owner, query) =>
        Effect.gen(function* () {
          if (query.ruleId !== undefined) yield* store.get(owner, query.ruleId)
          if (query.emailId !== undefined && Option.isNone(yield* mail.byId(owner, query.emailId))) {
            return yield* new NotFound({ message: `no email with id ${query.emailId}` })
          }
          return yield* store.listRuns(owner, query)
        })

      const runs: RulesShape["runs"] = (owner, limit, before) =>
        journal.list(owner, limit + 1, before).pipe(
          Effect.map((items) => {
            const page = items.slice(0, limit)
            const last = page.at(-1)
            return {
              items: page,
              next: items.length > limit && last !== undefined ? { createdAt: last.createdAt, id: last.id } : undefined
            }
          })
        )

      const undo: RulesShape["undo"] = (owner, runId) =>
        Effect.gen(function* () {
          // another user's run is not found (row-level security and the user filter)
          yield* journal.get(owner, runId)
          const submitted = yield* jobs.submitForUser(RulesUndoJob, { runId }, { ownerId: owner })
          yield* journal.requestUndo(owner, runId, submitted.jobId)
          return { jobId: submitted.jobId, state: submitted.state }
        })

      return Rules.of({
        archive,
        test,
        apply,
        log,
        runs,
        undo
      })
    })
  )
}
