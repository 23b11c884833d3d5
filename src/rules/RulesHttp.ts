import { Effect, Layer, Schema, SchemaIssue } from "effect"
import { HttpRouter } from "effect/http"
import { HttpApiBuilder } from "effect/http-api"
import { Api } from "../contract/Api.ts"
import { ValidationError } from "../contract/http/ApiErrors.ts"
import { CursorDate, CursorSeq, CursorUuid, cursorCodec } from "../http/Cursor.ts"
import { rateLimited, unavailable } from "../http/errorMapping.ts"
import { CurrentUser } from "../contract/users/CurrentUser.ts"
import { RuleStore, toRuleView } from "./RuleStore.ts"
import { RegexSyntaxLive } from "./regex.ts"
import { RunJournalStore } from "./RunJournalStore.ts"
import { Rules } from "./Rules.ts"
import { RuleEvaluator } from "./RuleEvaluator.ts"
import { RuleMailStore } from "./RuleMailStore.ts"

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
    const journal = yield* RunJournalStore
    const rules = yield* Rules
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
        CurrentUser.use((user) => rules.test(user.id, params.id, payload)).pipe(
          Effect.catchTag("DatabaseError", unavailable)
        )
      )
      .handle("apply", ({ payload }) =>
        CurrentUser.use((user) => rules.apply(user.id, payload)).pipe(
          Effect.catchTag(["DatabaseError", "QueueUnavailable"], unavailable),
          Effect.catchTag("SubmitRateLimited", rateLimited)
        )
      )
      .handle("archiveEmail", ({ params }) =>
        CurrentUser.use((user) => rules.archive(user.id, params.id)).pipe(
          Effect.catchTag(["DatabaseError", "QueueUnavailable"], unavailable),
          Effect.catchTag("SubmitRateLimited", rateLimited)
        )
      )
      .handle("log", ({ query }) =>
        Effect.gen(function* () {
          const user = yield* CurrentUser
          const beforeSeq = query.cursor === undefined ? undefined : (yield* logCursor.decode(query.cursor)).seq
          const page = yield* rules.log(user.id, {
            ruleId: query.ruleId,
            emailId: query.emailId,
            jobId: query.jobId,
            outcome: query.outcome,
            limit: query.limit ?? 50,
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
          const before = query.cursor === undefined ? undefined : yield* runCursor.decode(query.cursor)
          const page = yield* rules.runs(user.id, query.limit ?? 50, before)
          return {
            items: page.items,
            nextCursor: page.next === undefined ? null : runCursor.encode(page.next)
          }
        }).pipe(Effect.catchTag("DatabaseError", unavailable))
      )
      .handle("run", ({ params }) =>
        CurrentUser.use((user) => journal.get(user.id, params.id)).pipe(Effect.catchTag("DatabaseError", unavailable))
      )
      .handle("undo", ({ params }) =>
        CurrentUser.use((user) => rules.undo(user.id, params.id)).pipe(
          Effect.catchTag(["DatabaseError", "QueueUnavailable"], unavailable),
          Effect.catchTag("SubmitRateLimited", rateLimited)
        )
      )
  })
)

/** The `rules` API group with its services (needs Jobs, SqlClient and UserScope from the program). */
export const RulesHttpLive = RulesHandlers.pipe(
  Layer.provide(
    Rules.layer.pipe(
      Layer.provideMerge(
        Layer.mergeAll(RuleStore.layer, RuleMailStore.layer, RunJournalStore.layer, RuleEvaluator.layerConfig)
      )
    )
  ),
  // Rule payloads (RuleInput, RulePatch) are decoded with their regexes checked by re2js. The
  // builder decodes with the services of this layer's context (Layer.provide; without it every
  // rules write answered 500), while its types ask for them per request (provideRequest).
  Layer.provide(RegexSyntaxLive),
  HttpRouter.provideRequest(RegexSyntaxLive)
)
