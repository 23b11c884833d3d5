import { Effect } from "effect"
import { HttpApiBuilder } from "effect/http-api"
import { Api } from "../contract/Api.ts"
import { unavailable } from "../http/errorMapping.ts"
import { JobInspector } from "./JobInspector.ts"

export const QueuesHttpLive = HttpApiBuilder.group(
  Api,
  "queues",
  Effect.fn(function* (handlers) {
    const inspector = yield* JobInspector
    return handlers.handle("overview", () =>
      Effect.all(
        {
          queues: inspector.stats,
          workers: inspector.workers,
          registered: inspector.registered,
          active: inspector.active
        },
        { concurrency: 4 }
      ).pipe(Effect.catchTag(["QueueUnavailable", "DatabaseError"], unavailable))
    )
  })
)
