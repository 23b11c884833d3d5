import { NodeHttpServer } from "@effect/platform-node"
import { Effect, Layer } from "effect"
import { HttpRouter, HttpServerResponse } from "effect/http"
import { HttpApiBuilder, HttpApiScalar } from "effect/http-api"
import { PrometheusMetrics } from "effect/observability"
import { createServer } from "node:http"
import { SyncTickJob } from "../accounts/AccountSchedules.ts"
import { AccountsHttpLayer } from "../accounts/AccountsLive.ts"
import { AdminHttpLive } from "../admin/AdminHttp.ts"
import { MailProcessingLive } from "../analysis/AnalysisLive.ts"
import { AnalyzeMailJob, AnalyzeMailProcessor } from "../analysis/jobs/AnalyzeMailJob.ts"
import { EmbedMailJob, EmbedMailProcessor } from "../analysis/jobs/EmbedMailJob.ts"
import { DebugHttpLive } from "../debug/DebugHttp.ts"
import { PingJob, PingProcessor } from "../debug/PingJob.ts"
import { EmailsHttpLayer } from "../emails/EmailsLive.ts"
import { HealthHttpLive } from "../health/HealthHttp.ts"
import { QueueDashboardLive } from "../ops/QueueDashboard.ts"
import { Api } from "../http/Api.ts"
import { RequestLimitsLive } from "../http/RequestLimits.ts"
import { RequestMetricsLive } from "../http/RequestMetrics.ts"
import { ValidationErrorsLive } from "../http/ValidationErrors.ts"
import { JobEvents } from "../jobs/JobEvents.ts"
import { JobInspector } from "../jobs/JobInspector.ts"
import { JobKinds } from "../jobs/JobKinds.ts"
import { Jobs } from "../jobs/Jobs.ts"
import { JobsHttpLive } from "../jobs/JobsHttp.ts"
import { QueuesHttpLive } from "../jobs/QueuesHttp.ts"
import { JobStore } from "../jobs/JobStore.ts"
import { QueueMetricsLive } from "../jobs/QueueMetrics.ts"
import { WorkerIdentity, WorkerRuntimeLive } from "../jobs/WorkerRuntime.ts"
import { AppConfig } from "../platform/Config.ts"
import { DatabaseLive, SystemDatabase } from "../platform/Database.ts"
import { ProcessMetricsLive } from "../platform/Metrics.ts"
import { Redis } from "../platform/Redis.ts"
import { RulesApplyJob, RulesApplyProcessor } from "../rules/ApplyJob.ts"
import { SearchConfig } from "../search/SearchConfig.ts"
import { SearchIndexJob, SearchIndexProcessor } from "../search/SearchIndexJob.ts"
import { RulesHttpLive } from "../rules/RulesHttp.ts"
import { RuleExecutorLive } from "../rules/RulesLive.ts"
import { MailSyncProcessor } from "../sync/MailSync.ts"
import { SyncJob } from "../sync/SyncJob.ts"
import { SyncSchedulerWorkerLive, SyncServicesLive } from "../sync/SyncLive.ts"
import { AuthHttpLive } from "../users/AuthHttp.ts"
import type { Authentication } from "../users/CurrentUser.ts"
import { UsersLive } from "../users/UsersLive.ts"
import { UserScope } from "../users/UserScope.ts"

/** Configuration, PostgreSQL and Redis: what every program stands on. */
export const PlatformLive = Layer.mergeAll(
  UserScope.layer.pipe(Layer.provideMerge(DatabaseLive)),
  SystemDatabase.layer,
  Redis.layer
).pipe(Layer.provideMerge(AppConfig.layer))

/** Every job kind of the installation. */
export const jobKinds = [PingJob, SyncJob, SyncTickJob, RulesApplyJob, AnalyzeMailJob, EmbedMailJob, SearchIndexJob]

/** The job system as producers see it (records, queues, events). */
export const JobsLive = Jobs.layer.pipe(
  Layer.provideMerge(Layer.mergeAll(JobStore.layer, JobEvents.layer, JobKinds.layer(jobKinds)))
)

/** Every processor the worker runs. */
export const WorkerLive = Layer.mergeAll(
  WorkerRuntimeLive<
    | Effect.Services<typeof MailSyncProcessor>
    | Effect.Services<typeof RulesApplyProcessor>
    | Effect.Services<typeof AnalyzeMailProcessor>
    | Effect.Services<typeof EmbedMailProcessor>
    | Effect.Services<typeof SearchIndexProcessor>
  >([
    PingProcessor,
    MailSyncProcessor,
    RulesApplyProcessor,
    AnalyzeMailProcessor,
    EmbedMailProcessor,
    SearchIndexProcessor
  ]).pipe(Layer.provide(WorkerIdentity.layer)),
  SyncSchedulerWorkerLive
).pipe(
  Layer.provide(SyncServicesLive),
  Layer.provide(RuleExecutorLive),
  Layer.provide(MailProcessingLive),
  Layer.provide(SearchConfig.layer)
)

/** The worker's own small HTTP server: Prometheus metrics and a liveness probe on WORKER_METRICS_PORT. */
export const WorkerOpsHttpLive = Layer.unwrap(
  Effect.gen(function* () {
    const config = yield* AppConfig
    return HttpRouter.serve(
      Layer.mergeAll(
        PrometheusMetrics.layerHttp({ path: "/metrics" }),
        HttpRouter.add("GET", "/health/live", HttpServerResponse.jsonUnsafe({ status: "ok" }))
      ),
      { disableLogger: true }
    ).pipe(Layer.provide(NodeHttpServer.layer(createServer, { port: config.workerMetricsPort, host: config.host })))
  })
).pipe(Layer.provide(Layer.mergeAll(ProcessMetricsLive, QueueMetricsLive().pipe(Layer.provide(JobInspector.layer)))))

/** The HTTP application: API groups, OpenAPI document, docs page. */
export const HttpAppLive = <E, R>(authentication: Layer.Layer<Authentication, E, R>) =>
  Layer.mergeAll(
    HttpApiBuilder.layer(Api, { openapiPath: "/openapi.json" }).pipe(
      Layer.provide([
        HealthHttpLive,
        JobsHttpLive,
        DebugHttpLive,
        AuthHttpLive,
        AdminHttpLive,
        QueuesHttpLive,
        AccountsHttpLayer,
        RulesHttpLive,
        EmailsHttpLayer
      ]),
      Layer.provide(JobInspector.layer),
      Layer.provide([ValidationErrorsLive, authentication]),
      Layer.provide(RequestMetricsLive),
      Layer.provide(UsersLive)
    ),
    HttpApiScalar.layer(Api, { path: "/docs" }),
    QueueDashboardLive.pipe(Layer.provide(authentication), Layer.provide(UsersLive)),
    PrometheusMetrics.layerHttp({ path: "/metrics" }),
    RequestLimitsLive,
    ProcessMetricsLive
  )

export const serve = HttpRouter.serve
