import { Effect, Schema, Stream } from "effect"
import { HttpApiBuilder } from "effect/http-api"
import { Api } from "../contract/Api.ts"
import { ServiceUnavailable } from "../contract/http/ApiErrors.ts"
import { CursorDate, CursorUuid, cursorCodec } from "../http/Cursor.ts"
import { unavailable } from "../http/errorMapping.ts"
import { CurrentUser } from "../contract/users/CurrentUser.ts"
import { JobView } from "../contract/jobs/Job.ts"
import { Jobs } from "./Jobs.ts"

/** Keyset position: the last job of the page (jobs are listed newest first, by created_at then id). */
const jobCursor = cursorCodec(Schema.Struct({ createdAt: CursorDate, id: CursorUuid }))

export const JobsHttpLive = HttpApiBuilder.group(
  Api,
  "jobs",
  Effect.fn(function* (handlers) {
    const jobs = yield* Jobs
    return handlers
      .handle("list", ({ query }) =>
        Effect.gen(function* () {
          const user = yield* CurrentUser
          const limit = query.limit ?? 50
          const before = query.cursor === undefined ? undefined : yield* jobCursor.decode(query.cursor)
          const items = yield* jobs.list(user.id, { state: query.state, kind: query.kind, limit: limit + 1, before })
          const page = items.slice(0, limit)
          const last = page.at(-1)
          return {
            items: page,
            nextCursor:
              items.length > limit && last !== undefined
                ? jobCursor.encode({ createdAt: last.createdAt, id: last.id })
                : null
          }
        }).pipe(Effect.catchTag("DatabaseError", unavailable))
      )
      .handle("get", ({ params }) =>
        CurrentUser.use((user) => jobs.status(user.id, params.id)).pipe(
          Effect.map(({ view, waiting }) => ({ ...view, waiting })),
          Effect.catchTag("DatabaseError", unavailable)
        )
      )
      .handle("cancel", ({ params }) =>
        CurrentUser.use((user) => jobs.cancel(user.id, params.id)).pipe(
          Effect.catchTag(["DatabaseError", "QueueUnavailable"], unavailable)
        )
      )
      .handle("events", ({ params }) =>
        Effect.gen(function* () {
          const user = yield* CurrentUser
          const items = yield* jobs.watch(user.id, params.id)
          let current: JobView | undefined
          return items.pipe(
            Stream.mapEffect((item) =>
              Effect.gen(function* () {
                if (item._tag === "snapshot") {
                  current = item.job
                  return { event: "state" as const, data: item.job }
                }
                const { event } = item
                const previous = current
                if (event.state === "running" && previous !== undefined && previous.state === "running") {
                  current = new JobView({ ...previous, progress: event.progress ?? previous.progress })
                  return { event: "progress" as const, data: current }
                }
                // a new state: read the record for its result or error
                current = yield* jobs.get(user.id, params.id)
                return { event: "state" as const, data: current }
              })
            ),
            Stream.catchTag(["DatabaseError", "JobNotFound"], (error) =>
              Stream.fail(new ServiceUnavailable({ message: error.message }))
            )
          )
        }).pipe(Effect.catchTag("DatabaseError", unavailable))
      )
  })
)
