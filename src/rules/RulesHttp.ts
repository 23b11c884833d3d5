import { Effect, Layer, Option, Schema, SchemaIssue } from "effect"
import { HttpRouter } from "effect/http"
import { HttpApiBuilder } from "effect/http-api"
import { AccountNotFound } from "../contract/accounts/Account.ts"
import { Api } from "../contract/Api.ts"
import { NotFound, ValidationError } from "../contract/http/ApiErrors.ts"
import { CursorDate, CursorSeq, CursorUuid, cursorCodec } from "../http/Cursor.ts"
import { rateLimited, unavailable } from "../http/errorMapping.ts"
import { Jobs } from "../jobs/Jobs.ts"
import { CurrentUser } from "../contract/users/CurrentUser.ts"
import { RulesApplyJob } from "../contract/jobs/RulesApplyJob.ts"
import { confirmationRequired, previewApply } from "./ApplyPreview.ts"
import { dryRunMessages } from "./RuleExecutor.ts"
import { RuleEvaluator } from "./RuleEvaluator.ts"
import { RuleMail, type RuleMessage } from "./RuleMail.ts"
import { RuleNotFound } from "../contract/rules/RuleSchemas.ts"
import { RuleStore, toRuleView } from "./RuleStore.ts"
import { RegexSyntaxLive } from "./regex.ts"
import { RunJournal } from "./RunJournal.ts"
import { RulesUndoJob } from "../contract/jobs/RulesUndoJob.ts"
import { RuleTestLimits } from "../contract/rules/RulesApi.ts"

const formatter = SchemaIssue.makeFormatterStandardSchemaV1()

/** A rule that is not valid after a PATCH: the same 400 the request decoder gives. */
const invalidRule = (error: { readonly issue: SchemaIssue.Issue }) =>
  Effect.fail(
    new ValidationError({
      message: "the rule after this change is not valid",
      issues: formatter(error.issue).issues.map((issue) => ({
        path: [
          "payload",
          ...(issue.path ?? []).map((segment) =>
            String(typeof segment === "object" && segment !== null && "key" in segment ? segment.key : segment)
          )
        ].join("."),
        message: issue.message
      }))
    })
  )

/** Keyset position of the execution log (`GET /rules/log`): the last entry's sequence number. */
const logCursor = cursorCodec(Schema.Struct({ seq: CursorSeq }))
/** Keyset position of `GET /rules/runs`: the last run's created_at and id. */
const runCursor = cursorCodec(Schema.Struct({ createdAt: CursorDate, id: CursorUuid }))

const RulesHandlers = HttpApiBuilder.group(
  Api,
  "rules",
  Effect.fn(function* (handlers) {
    const store = yield* RuleStore
    const mail = yield* RuleMail
    const jobs = yield* Jobs
    const evaluator = yield* RuleEvaluator
    const journal = yield* RunJournal
    const withEvaluator = Effect.provideService(RuleEvaluator, evaluator)
    return handlers
      .handle("list", () =>
        CurrentUser.use((user) => store.list(user.id)).pipe(
          Effect.map((rules) => ({ items: rules.map(toRuleView) })),
          Effect.catchTag("DatabaseError", unavailable)
        )
      )
      .handle("create", ({ payload }) =>
        CurrentUser.use((user) => store.create(user.id, payload)).pipe(
          Effect.map(toRuleView),
          Effect.catchTag("DatabaseError", unavailable)
        )
      )
      .handle("get", ({ params }) =>
        CurrentUser.use((user) => store.get(user.id, params.id)).pipe(
          Effect.map(toRuleView),
          Effect.catchTag("DatabaseError", unavailable)
        )
      )
      .handle("update", ({ params, payload }) =>
        CurrentUser.use((user) => store.update(user.id, params.id, payload)).pipe(
          Effect.map(toRuleView),
          Effect.catchTag("SchemaError", invalidRule),
          Effect.catchTag("DatabaseError", unavailable)
        )
      )
      .handle("remove", ({ params }) =>
        CurrentUser.use((user) => store.remove(user.id, params.id)).pipe(Effect.catchTag("DatabaseError", unavailable))
      )
      .handle("test", ({ params, payload }) =>
        Effect.gen(function* () {
          const user = yield* CurrentUser
          if (payload.emailId !== undefined && payload.limit !== undefined) {
            return yield* new ValidationError({
              message: "give emailId or limit, not both",
              issues: [{ path: "payload.limit", message: "not allowed together with emailId" }]
            })
          }
          const rule = yield* store.get(user.id, params.id)
          let messages: ReadonlyArray<RuleMessage>
          if (payload.emailId === undefined) {
            messages = yield* mail.latest(user.id, payload.limit ?? RuleTestLimits.defaultMessages)
          } else {
            const found = yield* mail.byId(user.id, payload.emailId)
            if (Option.isNone(found)) return yield* new NotFound({ message: `no email with id ${payload.emailId}` })
            messages = [found.value]
          }
          const answer = yield* dryRunMessages(rule, messages).pipe(Effect.provideService(RuleEvaluator, evaluator))
          return {
            rule: { id: rule.id, name: rule.input.name, enabled: rule.input.enabled },
            ...answer
          }
        }).pipe(Effect.catchTag("DatabaseError", unavailable))
      )
      .handle("apply", ({ payload }) =>
        Effect.gen(function* () {
          const user = yield* CurrentUser
          if (payload.ruleIds !== undefined) {
            const known = yield* store.existing(user.id, payload.ruleIds)
            const missing = payload.ruleIds.find((id) => !known.has(id))
            if (missing !== undefined) return yield* RuleNotFound.forId(missing)
          }
          if (payload.accountId !== undefined && !(yield* mail.hasAccount(user.id, payload.accountId))) {
            return yield* AccountNotFound.forId(payload.accountId)
          }
          // past mail: the run starts only with the count the caller was shown
          const preview = yield* previewApply(user.id, payload.ruleIds, {
            accountId: payload.accountId,
            mailbox: payload.mailbox,
            since: payload.since === undefined ? undefined : new Date(payload.since)
          }).pipe(Effect.provideService(RuleStore, store), Effect.provideService(RuleMail, mail), withEvaluator)
          if (payload.confirm !== preview.count) {
            return yield* confirmationRequired(preview, payload.confirm)
          }
          const submitted = yield* jobs.submitForUser(
            RulesApplyJob,
            {
              trigger: "manual",
              ...(payload.ruleIds === undefined ? {} : { ruleIds: payload.ruleIds }),
              ...(payload.accountId === undefined ? {} : { accountId: payload.accountId }),
              ...(payload.mailbox === undefined ? {} : { mailbox: payload.mailbox }),
              ...(payload.since === undefined ? {} : { since: payload.since }),
              confirmedCount: preview.count
            },
            { ownerId: user.id }
          )
          return { jobId: submitted.jobId, state: submitted.state }
        }).pipe(
          Effect.catchTag(["DatabaseError", "QueueUnavailable"], unavailable),
          Effect.catchTag("SubmitRateLimited", rateLimited)
        )
      )
      .handle("log", ({ query }) =>
        Effect.gen(function* () {
          const user = yield* CurrentUser
          if (query.ruleId !== undefined) yield* store.get(user.id, query.ruleId)
          if (query.emailId !== undefined && Option.isNone(yield* mail.byId(user.id, query.emailId))) {
            return yield* new NotFound({ message: `no email with id ${query.emailId}` })
          }
          const limit = query.limit ?? 50
          const beforeSeq = query.cursor === undefined ? undefined : (yield* logCursor.decode(query.cursor)).seq
          const page = yield* store.listRuns(user.id, {
            ruleId: query.ruleId,
            emailId: query.emailId,
            jobId: query.jobId,
            outcome: query.outcome,
            limit,
            beforeSeq
          })
          return {
            items: page.items,
            nextCursor: page.nextSeq === undefined ? null : logCursor.encode({ seq: page.nextSeq })
          }
        }).pipe(Effect.catchTag("DatabaseError", unavailable))
      )
      .handle("runs", ({ query }) =>
        Effect.gen(function* () {
          const user = yield* CurrentUser
          const limit = query.limit ?? 50
          const before = query.cursor === undefined ? undefined : yield* runCursor.decode(query.cursor)
          const items = yield* journal.list(user.id, limit + 1, before)
          const page = items.slice(0, limit)
          const last = page.at(-1)
          return {
            items: page,
            nextCursor:
              items.length > limit && last !== undefined
                ? runCursor.encode({ createdAt: last.createdAt, id: last.id })
                : null
          }
        }).pipe(Effect.catchTag("DatabaseError", unavailable))
      )
      .handle("run", ({ params }) =>
        CurrentUser.use((user) => journal.get(user.id, params.id)).pipe(Effect.catchTag("DatabaseError", unavailable))
      )
      .handle("undo", ({ params }) =>
        Effect.gen(function* () {
          const user = yield* CurrentUser
          // another user's run is not found (row-level security and the user filter)
          yield* journal.get(user.id, params.id)
          const submitted = yield* jobs.submitForUser(RulesUndoJob, { runId: params.id }, { ownerId: user.id })
          yield* journal.requestUndo(user.id, params.id, submitted.jobId)
          return { jobId: submitted.jobId, state: submitted.state }
        }).pipe(
          Effect.catchTag(["DatabaseError", "QueueUnavailable"], unavailable),
          Effect.catchTag("SubmitRateLimited", rateLimited)
        )
      )
  })
)

/** The `rules` API group with the services it needs (needs Jobs, SqlClient and UserScope from the program). */
export const RulesHttpLive = RulesHandlers.pipe(
  Layer.provide(Layer.mergeAll(RuleStore.layer, RuleMail.layer, RunJournal.layer, RuleEvaluator.layerConfig)),
  // Rule payloads (RuleInput, RulePatch) are decoded with their regexes checked by re2js. The
  // builder decodes with the services of this layer's context (Layer.provide; without it every
  // rules write answered 500), while its types ask for them per request (provideRequest).
  Layer.provide(RegexSyntaxLive),
  HttpRouter.provideRequest(RegexSyntaxLive)
)
