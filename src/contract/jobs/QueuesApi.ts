import { Schema } from "effect"
import { HttpApiEndpoint, HttpApiGroup } from "effect/http-api"
import { AdminOnly } from "../admin/AdminOnly.ts"
import { ServiceUnavailable } from "../http/ApiErrors.ts"
import { Authentication } from "../users/CurrentUser.ts"
import { ActiveJob, QueueStats, RegisteredKind, WorkerInfo } from "./QueueViews.ts"

export const QueuesOverview = Schema.Struct({
  queues: Schema.Array(QueueStats),
  workers: Schema.Array(WorkerInfo),
  registered: Schema.Array(RegisteredKind),
  active: Schema.Array(ActiveJob)
})

/** What `celery inspect` showed, for administrators: counts per state, live workers, kinds, active jobs. */
export class QueuesApi extends HttpApiGroup.make("queues")
  .add(HttpApiEndpoint.get("overview", "/admin/queues", { success: QueuesOverview, error: ServiceUnavailable }))
  .middleware(AdminOnly)
  .middleware(Authentication)
  .prefix("/api/v1") {}
