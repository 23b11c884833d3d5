import { Layer } from "effect"
import { HttpRouter } from "effect/http"
import { HttpApiBuilder, HttpApiScalar } from "effect/http-api"
import { DebugHttpLive } from "../debug/DebugHttp.ts"
import { PingJob, PingProcessor } from "../debug/PingJob.ts"
import { HealthHttpLive } from "../health/HealthHttp.ts"
import { Api } from "../http/Api.ts"
import { RequestLimitsLive } from "../http/RequestLimits.ts"
import { ValidationErrorsLive } from "../http/ValidationErrors.ts"
import { JobEvents } from "../jobs/JobEvents.ts"
import { JobKinds } from "../jobs/JobKinds.ts"
import { Jobs } from "../jobs/Jobs.ts"
import { JobsHttpLive } from "../jobs/JobsHttp.ts"
import { JobStore } from "../jobs/JobStore.ts"
import { WorkerIdentity, WorkerRuntimeLive } from "../jobs/WorkerRuntime.ts"
import { AppConfig } from "../platform/Config.ts"
import { DatabaseLive } from "../platform/Database.ts"
import { Redis } from "../platform/Redis.ts"
import type { Authentication } from "../users/CurrentUser.ts"

/** Configuration, PostgreSQL and Redis: what every program stands on. */
export const PlatformLive = Layer.mergeAll(DatabaseLive, Redis.layer).pipe(Layer.provideMerge(AppConfig.layer))

/** Every job kind of the installation. */
export const jobKinds = [PingJob]

/** The job system as producers see it (records, queues, events). */
export const JobsLive = Jobs.layer.pipe(
  Layer.provideMerge(Layer.mergeAll(JobStore.layer, JobEvents.layer, JobKinds.layer(jobKinds)))
)

/** Every processor the worker runs. */
export const WorkerLive = WorkerRuntimeLive([PingProcessor]).pipe(Layer.provide(WorkerIdentity.layer))

/** The HTTP application: API groups, OpenAPI document, docs page. */
export const HttpAppLive = (authentication: Layer.Layer<Authentication, never, never>) =>
  Layer.mergeAll(
    HttpApiBuilder.layer(Api, { openapiPath: "/openapi.json" }).pipe(
      Layer.provide([HealthHttpLive, JobsHttpLive, DebugHttpLive]),
      Layer.provide([ValidationErrorsLive, authentication])
    ),
    HttpApiScalar.layer(Api, { path: "/docs" }),
    RequestLimitsLive
  )

export const serve = HttpRouter.serve
