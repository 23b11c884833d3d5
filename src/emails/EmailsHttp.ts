import { Effect, Layer, Schema } from "effect"
import { AppConfig, boundedInt } from "../platform/Config.ts"
import { HttpApiBuilder } from "effect/http-api"
import { Api } from "../contract/Api.ts"
import { ValidationError } from "../contract/http/ApiErrors.ts"
import { CursorDate, CursorUuid, cursorCodec, invalidCursor } from "../http/Cursor.ts"
import { rateLimited, unavailable } from "../http/errorMapping.ts"
import { Search } from "../search/Search.ts"
import { SearchHttpLive } from "../search/SearchHttp.ts"
import { CurrentUser } from "../contract/users/CurrentUser.ts"
import { EmailStore, type ListFilters, type SortOrder } from "./EmailStore.ts"
import { EmailsLive } from "./EmailsLive.ts"
import { Corrections } from "./Corrections.ts"
import { Reprocessing } from "./Reprocessing.ts"

/** Keyset position of `GET /emails`: the sort it belongs to, then the last message's date, id and score. */
const emailCursor = cursorCodec(
  Schema.Struct({ s: Schema.Literals(["date", "score"]), d: CursorDate, i: CursorUuid, c: Schema.Int })
)

const invalid = (issues: ReadonlyArray<{ readonly path: string; readonly message: string }>) =>
  new ValidationError({ message: `invalid request query: ${issues.map((i) => i.path).join(", ")}`, issues })

const decodeCursor = (cursor: string, sort: SortOrder) =>
  emailCursor
    .decode(cursor)
    .pipe(
      Effect.flatMap((decoded) =>
        decoded.s === sort
          ? Effect.succeed({ date: decoded.d, id: decoded.i, score: decoded.c })
          : Effect.fail(invalidCursor(`the cursor belongs to sort=${decoded.s}, not sort=${sort}`))
      )
    )

const flag = (value: "true" | "false" | undefined): boolean | undefined =>
  value === undefined ? undefined : value === "true"

const EmailsHandlers = HttpApiBuilder.group(
  Api,
  "emails",
  Effect.fn(function* (handlers) {
    const emails = yield* EmailStore
    const reprocessing = yield* Reprocessing
    const corrections = yield* Corrections
    const search = yield* Search
    return handlers
      .handle("list", ({ query }) =>
        Effect.gen(function* () {
          const user = yield* CurrentUser
          const sort = query.sort ?? "date"
          if (query.dateFrom !== undefined && query.dateTo !== undefined && query.dateFrom > query.dateTo) {
            return yield* invalid([
              { path: "query.dateFrom", message: "must not be after dateTo" },
              { path: "query.dateTo", message: "must not be before dateFrom" }
            ])
          }
          const after = query.cursor === undefined ? undefined : yield* decodeCursor(query.cursor, sort)
          const filters: ListFilters = {
            accountId: query.accountId,
            mailboxId: query.mailboxId,
            threadId: query.threadId,
            category: query.category,
            tag: query.tag?.toLowerCase(),
            minScore: query.minScore,
            urgency: query.urgency,
            importance: query.importance,
            unread: flag(query.unread),
            spam: flag(query.spam),
            analysisState: query.analysisState,
            dateFrom: query.dateFrom,
            dateTo: query.dateTo
          }
          const page = yield* emails.list(user.id, { filters, sort, limit: query.limit ?? 50, after })
          return {
            items: page.items,
            nextCursor:
              page.next === undefined
                ? null
                : emailCursor.encode({ s: sort, d: page.next.date, i: page.next.id, c: page.next.score })
          }
        }).pipe(Effect.catchTag("DatabaseError", unavailable))
      )
      .handle("matrix", ({ query }) =>
        CurrentUser.use((user) => emails.matrix(user.id, { accountId: query.accountId })).pipe(
          Effect.map((cells) => ({ cells, total: cells.reduce((sum, cell) => sum + cell.count, 0) })),
          Effect.catchTag("DatabaseError", unavailable)
        )
      )
      .handle("get", ({ params }) =>
        CurrentUser.use((user) => emails.get(user.id, params.id)).pipe(Effect.catchTag("DatabaseError", unavailable))
      )
      .handle("correct", ({ params, payload }) =>
        CurrentUser.use((user) => corrections.correct(user.id, params.id, payload)).pipe(
          Effect.catchTag(["DatabaseError", "QueueUnavailable"], unavailable)
        )
      )
      .handle("reprocess", ({ params }) =>
        CurrentUser.use((user) => reprocessing.message(user.id, params.id)).pipe(
          Effect.catchTag(["DatabaseError", "QueueUnavailable"], unavailable),
          Effect.catchTag("SubmitRateLimited", rateLimited)
        )
      )
      .handle("similar", ({ params, query }) =>
        CurrentUser.use((user) => search.similar(user.id, params.id, query.limit ?? 10)).pipe(
          Effect.catchTag("DatabaseError", unavailable)
        )
      )
      .handle("reembed", () =>
        CurrentUser.use((user) => reprocessing.reembedAll(user.id)).pipe(
          Effect.catchTag(["DatabaseError", "QueueUnavailable"], unavailable),
          Effect.catchTag("SubmitRateLimited", rateLimited)
        )
      )
  })
)

/**
 * The `emails` and `search` API groups with reprocessing over EmailsLive; needs Jobs and the platform.
 * Search's group is provided here because its hits' summaries come from emails (EmailSummaries).
 */
/**
 * The API's first GET /emails after its start (issue 16): at start, in the background, the first
 * page's statement runs for nobody on a few pool connections (EmailStore.warmUp), so the first
 * user's request finds open connections with warm catalog caches and code that ran once. A failure
 * (the database not there yet) is logged; the first request then pays as before.
 * EMAILS_WARM_UP_CONNECTIONS (default 4, at most the pool's size; 0: no warm-up): the tests' harness
 * turns it off (test/harness/TestEnv.ts), its checkouts would count in their pool figures.
 */
const EmailsWarmUp = Layer.effectDiscard(
  Effect.gen(function* () {
    const emails = yield* EmailStore
    const config = yield* AppConfig
    const connections = yield* boundedInt("EMAILS_WARM_UP_CONNECTIONS", 0, 64, 4)
    if (connections === 0) return
    yield* emails.warmUp(Math.min(connections, config.databaseMaxConnections)).pipe(
      Effect.catch((error) => Effect.logWarning("emails warm-up failed; the first list pays for it", error.message)),
      Effect.forkScoped
    )
  })
)

export const EmailsHttpLive = Layer.mergeAll(EmailsHandlers, SearchHttpLive, EmailsWarmUp).pipe(
  Layer.provide(Layer.mergeAll(Reprocessing.layer, Corrections.layer).pipe(Layer.provideMerge(EmailsLive)))
)
