import { Effect, Layer, Option, SchemaIssue } from "effect"
import { HttpApiBuilder } from "effect/http-api"
import { AccountNotFound } from "../contract/accounts/Account.ts"
import { Api } from "../contract/Api.ts"
import { NotFound, ValidationError } from "../contract/http/ApiErrors.ts"
import { rateLimited, unavailable } from "../http/errorMapping.ts"
import { Jobs } from "../jobs/Jobs.ts"
import { CurrentUser } from "../contract/users/CurrentUser.ts"
import { RulesApplyJob } from "./ApplyJob.ts"
import { confirmationRequired, previewApply } from "./ApplyPreview.ts"
import { dryRunMessages } from "./RuleExecutor.ts"
import { RuleEvaluator } from "./RuleEvaluator.ts"
import { RuleMail, type RuleMessage } from "./RuleMail.ts"
import { RuleNotFound } from "../contract/rules/RuleSchemas.ts"
import { RuleStore, toRuleView } from "./RuleStore.ts"
import { RunJournal } from "./RunJournal.ts"
import { RulesUndoJob } from "./UndoJob.ts"
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

const encodeCursor = (seq: bigint): string => Buffer.from(`runs:${seq.toString()}`).toString("base64url")
const decodeCursor = (cursor: string) => {
  const match = /^runs:(\d{1,19})$/.exec(Buffer.from(cursor, "base64url").toString("utf8"))
  return match?.[1] === undefined
    ? Effect.fail(
        new ValidationError({
          message: "invalid cursor",
          issues: [{ path: "query.cursor", message: "not a cursor returned by this endpoint" }]
        })
      )
    : Effect.succeed(BigInt(match[1]))
}

const encodeRunCursor = (createdAt: Date, id: string): string =>
  Buffer.from(`run:${createdAt.toISOString()}|${id}`).toString("base64url")
const decodeRunCursor = (cursor: string) => {
  const match = /^run:([0-9T:.Z-]{20,30})\|([0-9a-f-]{36})$/.exec(Buffer.from(cursor, "base64url").toString("utf8"))
  const createdAt = match?.[1] === undefined ? Number.NaN : Date.parse(match[1])
  return match?.[2] === undefined || Number.isNaN(createdAt)
    ? Effect.fail(
        new ValidationError({
          message: "invalid cursor",
          issues: [{ path: "query.cursor", message: "not a cursor returned by this endpoint" }]
        })
      )
    : Effect.succeed({ createdAt: new Date(createdAt), id: match[2] })
}

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
          Effect.catchTag("SubmitRateLimited", rateLimited),
          // the request schema already holds the kind's payload schema, and the kind is registered with the group
          Effect.catchTag(["InvalidJobPayload", "UnknownJobKind"], Effect.die)
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
          const beforeSeq = query.cursor === undefined ? undefined : yield* decodeCursor(query.cursor)
          const page = yield* store.listRuns(user.id, {
            ruleId: query.ruleId,
            emailId: query.emailId,
            jobId: query.jobId,
            outcome: query.outcome,
            limit,
            beforeSeq
          })
          return { items: page.items, nextCursor: page.nextSeq === undefined ? null : encodeCursor(page.nextSeq) }
        }).pipe(Effect.catchTag("DatabaseError", unavailable))
      )
      .handle("runs", ({ query }) =>
        Effect.gen(function* () {
          const user = yield* CurrentUser
          const limit = query.limit ?? 50
          const before = query.cursor === undefined ? undefined : yield* decodeRunCursor(query.cursor)
          const items = yield* journal.list(user.id, limit + 1, before)
          const page = items.slice(0, limit)
          const last = page.at(-1)
          return {
            items: page,
            nextCursor: items.length > limit && last !== undefined ? encodeRunCursor(last.createdAt, last.id) : null
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
          Effect.catchTag("SubmitRateLimited", rateLimited),
          Effect.catchTag(["InvalidJobPayload", "UnknownJobKind"], Effect.die)
        )
      )
  })
)

/** The `rules` API group with the services it needs (needs Jobs, SqlClient and UserScope from the program). */
export const RulesHttpLive = RulesHandlers.pipe(
  Layer.provide(Layer.mergeAll(RuleStore.layer, RuleMail.layer, RunJournal.layer, RuleEvaluator.layerConfig))
)
