import { Effect, Layer } from "effect"
import { HttpApiBuilder } from "effect/http-api"
import { Api } from "../contract/Api.ts"
import { unavailable } from "../http/errorMapping.ts"
import { JobInspector } from "./JobInspector.ts"
import { JobLimitsAdmin } from "./JobLimitsAdmin.ts"

const QueuesHandlers = HttpApiBuilder.group(
  Api,
  "queues",
  Effect.fn(function* (handlers) {
    const inspector = yield* JobInspector
    const limits = yield* JobLimitsAdmin
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

/** The queues group with its API-only use cases (JobLimitsAdmin). */
export const QueuesHttpLive = QueuesHandlers.pipe(Layer.provide(JobLimitsAdmin.layerLive))
