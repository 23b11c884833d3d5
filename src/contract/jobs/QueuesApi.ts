import { Schema } from "effect"
import { HttpApiEndpoint, HttpApiGroup } from "effect/http-api"
import { AdminOnly } from "../admin/AdminOnly.ts"
import { ServiceUnavailable, ValidationError } from "../http/ApiErrors.ts"
import { Authentication } from "../users/CurrentUser.ts"
import { UserNotFound } from "../users/UserErrors.ts"
import { UserId } from "../users/UserId.ts"
import { ActiveJob, QueueStats, RegisteredKind, UserQueueStats, WorkerInfo } from "./QueueViews.ts"

export const QueuesOverview = Schema.Struct({
  queues: Schema.Array(QueueStats),
  workers: Schema.Array(WorkerInfo),
  registered: Schema.Array(RegisteredKind),
  active: Schema.Array(ActiveJob),
  /** Per user: jobs waiting and running, and how long the oldest has waited (users with none are left out). */
  users: Schema.Array(UserQueueStats)
})

export const JobLimitView = Schema.Struct({
  kind: Schema.String.pipe(Schema.check(Schema.isMaxLength(100))),
  /** Jobs of the kind the user may run at once; 0: no limit. */
  maxConcurrent: Schema.Int.pipe(Schema.check(Schema.isBetween({ minimum: 0, maximum: 100_000 })))
})

export const UserJobLimitsView = Schema.Struct({
  /** JOB_USER_CONCURRENCY: the limit of every kind not listed (0: no limit). */
  defaultConcurrency: Schema.Int,
  limits: Schema.Array(JobLimitView)
})

export const SetJobLimitsRequest = Schema.Struct({
  /** Replaces every limit of the user; a kind left out takes the default again. */
  limits: Schema.Array(JobLimitView).pipe(Schema.check(Schema.isMaxLength(100)))
})

const UserIdParams = { id: UserId }

/** What `celery inspect` showed, for administrators: counts per state, live workers, kinds, active jobs. */
export class QueuesApi extends HttpApiGroup.make("queues")
  .add(HttpApiEndpoint.get("overview", "/admin/queues", { success: QueuesOverview, error: ServiceUnavailable }))
  .add(
    HttpApiEndpoint.get("jobLimits", "/admin/users/:id/job-limits", {
      params: UserIdParams,
      success: UserJobLimitsView,
      error: [UserNotFound, ServiceUnavailable]
    })
  )
  .add(
    HttpApiEndpoint.put("setJobLimits", "/admin/users/:id/job-limits", {
      params: UserIdParams,
      payload: SetJobLimitsRequest,
      success: UserJobLimitsView,
      error: [UserNotFound, ValidationError, ServiceUnavailable]
    })
  )
  .middleware(AdminOnly)
  .middleware(Authentication)
  .prefix("/api/v1") {}
