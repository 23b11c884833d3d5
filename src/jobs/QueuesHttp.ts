import { Effect } from "effect"
import { HttpApiBuilder } from "effect/http-api"
import { Api } from "../contract/Api.ts"
import { unavailable } from "../http/errorMapping.ts"
import { JobInspector } from "./JobInspector.ts"
import { JobLimits } from "./JobLimits.ts"

export const QueuesHttpLive = HttpApiBuilder.group(
  Api,
  "queues",
  Effect.fn(function* (handlers) {
    const inspector = yield* JobInspector
    const limits = yield* JobLimits
    return handlers
      .handle("overview", () =>
        Effect.all(
          {
            queues: inspector.stats,
            workers: inspector.workers,
            registered: inspector.registered,
            active: inspector.active,
            users: inspector.users
          },
          { concurrency: 5 }
        ).pipe(Effect.catchTag(["QueueUnavailable", "DatabaseError"], unavailable))
      )
      .handle("jobLimits", ({ params }) => limits.get(params.id).pipe(Effect.catchTag("DatabaseError", unavailable)))
      .handle("setJobLimits", ({ params, payload }) =>
        limits.set(params.id, payload.limits).pipe(Effect.catchTag("DatabaseError", unavailable))
      )
  })
)
