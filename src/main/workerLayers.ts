import { NodeHttpServer } from "@effect/platform-node"
import { Effect, Layer } from "effect"
import { HttpRouter, HttpServerResponse } from "effect/http"
import { createServer } from "node:http"
import { withJsonClientErrors } from "../platform/JsonClientErrors.ts"
import { AnalysisLive } from "../analysis/AnalysisLive.ts"
import { PendingMailSweepLive } from "../analysis/PendingMailSweep.ts"
import { JobInspector } from "../jobs/JobInspector.ts"
import { QueueMetricsLive } from "../jobs/QueueMetrics.ts"
import { WorkerIdentity, WorkerRuntimeLive } from "../jobs/WorkerRuntime.ts"
import { AppConfig } from "../platform/Config.ts"
import { MetricsHttpLive, ProcessMetricsLive } from "../platform/Metrics.ts"
import { RulesLive } from "../rules/RulesLive.ts"
import { ImportLive, ImportUploadCleanupLive } from "../import/ImportLive.ts"
import { SearchConfig } from "../search/SearchConfig.ts"
import { SyncSchedulerWorkerLive, SyncLive } from "../sync/SyncLive.ts"
import { WatchWorkerLive } from "../watch/WatchLive.ts"
import { WebhooksDispatcherWorkerLive, WebhooksLive } from "../webhooks/WebhooksLive.ts"
import { type ProcessorServices, processorList } from "./processors.ts"

/** Every processor the worker runs. */
export const WorkerLive = Layer.mergeAll(
  WorkerRuntimeLive<ProcessorServices>(processorList),
  SyncSchedulerWorkerLive,
  ImportUploadCleanupLive,
  WatchWorkerLive,
  WebhooksDispatcherWorkerLive,
  // pending mail whose job was lost gets one again (src/analysis/README.md, "Claims")
  PendingMailSweepLive
).pipe(
  // one id per worker process: the job runtime's locks and the account leases name the same worker
  Layer.provide(WorkerIdentity.layer),
  Layer.provide(SyncLive),
  Layer.provide(RulesLive),
  Layer.provide(ImportLive),
  Layer.provide(AnalysisLive),
  Layer.provide(WebhooksLive),
  Layer.provide(SearchConfig.layer)
)

/** The worker's own small HTTP server: Prometheus metrics and a liveness probe on WORKER_METRICS_PORT. */
export const WorkerOpsHttpLive = Layer.unwrap(
  Effect.gen(function* () {
    const config = yield* AppConfig
    return HttpRouter.serve(
      Layer.mergeAll(
        MetricsHttpLive,
        HttpRouter.add("GET", "/health/live", HttpServerResponse.jsonUnsafe({ status: "ok" }))
      ),
      { disableLogger: true }
    ).pipe(
      Layer.provide(
        NodeHttpServer.layer(() => withJsonClientErrors(createServer()), {
          port: config.workerMetricsPort,
          host: config.host
        })
      )
    )
  })
).pipe(Layer.provide(Layer.mergeAll(ProcessMetricsLive, QueueMetricsLive().pipe(Layer.provide(JobInspector.layer)))))
