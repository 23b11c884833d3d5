import { Schema } from "effect"
import { HttpApiEndpoint, HttpApiGroup, HttpApiSchema } from "effect/http-api"
import { ServiceUnavailable } from "../http/ApiErrors.ts"
import { Authentication } from "../users/CurrentUser.ts"
import { JobAlreadyFinished, JobId, JobNotFound, JobState, JobStatusView, JobView } from "./Job.ts"

export const JobIdParams = { id: JobId }

export const JobPage = Schema.Struct({
  items: Schema.Array(JobView),
  /** Pass as `cursor` to get the next (older) page; null on the last page. */
  nextCursor: Schema.NullOr(Schema.String)
})

export const JobListQuery = {
  state: Schema.optionalKey(JobState),
  kind: Schema.optionalKey(Schema.String.pipe(Schema.check(Schema.isMaxLength(100)))),
  limit: Schema.optionalKey(
    Schema.FiniteFromString.pipe(Schema.check(Schema.isInt(), Schema.isBetween({ minimum: 1, maximum: 100 })))
  ),
  cursor: Schema.optionalKey(Schema.String.pipe(Schema.check(Schema.isMaxLength(200))))
}

/**
 * One Server-Sent Event: `event: progress` or `event: state`, data = the job as `GET /jobs/:id` shows it.
 * `toCodecJson` makes the data's dates ISO strings both ways: with `JobView` alone the server wrote them
 * (JSON.stringify of a Date) but a client decoding the event expected Date objects and failed.
 */
export const JobStreamEvent = Schema.Struct({
  event: Schema.Literals(["state", "progress"]),
  data: Schema.fromJsonString(Schema.toCodecJson(JobView))
})

export const JobNotFound404 = JobNotFound.pipe(HttpApiSchema.status(404))
export const Unavailable503 = ServiceUnavailable

export class JobsApi extends HttpApiGroup.make("jobs")
  .add(
    HttpApiEndpoint.get("list", "/jobs", {
      query: JobListQuery,
      success: JobPage,
      error: Unavailable503
    })
  )
  .add(
    HttpApiEndpoint.get("get", "/jobs/:id", {
      params: JobIdParams,
      success: JobStatusView,
      error: [JobNotFound404, Unavailable503]
    })
  )
  .add(
    HttpApiEndpoint.get("events", "/jobs/:id/events", {
      params: JobIdParams,
      success: HttpApiSchema.StreamSse({ events: JobStreamEvent, error: ServiceUnavailable }),
      error: [JobNotFound404, Unavailable503]
    })
  )
  .add(
    HttpApiEndpoint.delete("cancel", "/jobs/:id", {
      params: JobIdParams,
      success: JobView.pipe(HttpApiSchema.status(202)),
      error: [JobNotFound404, JobAlreadyFinished.pipe(HttpApiSchema.status(409)), Unavailable503]
    })
  )
  .middleware(Authentication)
  .prefix("/api/v1") {}
