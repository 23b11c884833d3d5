import { Layer } from "effect"
import { JobInspector } from "../jobs/JobInspector.ts"
import { MaintenanceLive } from "../jobs/Maintenance.ts"
import { QueueMetricsLive } from "../jobs/QueueMetrics.ts"
import { ApiProgram } from "./api.ts"
import { JobsLive } from "./layers.ts"
import { WorkerLive } from "./workerLayers.ts"
import { launch } from "./program.ts"

/**
 * API and worker in one process, for a small install and the first run:
 * migrates first; the API's /metrics covers both (no second metrics port),
 * including the queue depths (`queue_jobs`) the separate worker samples.
 */
launch(
  "start",
  Layer.mergeAll(
    ApiProgram,
    Layer.mergeAll(WorkerLive, MaintenanceLive, QueueMetricsLive().pipe(Layer.provide(JobInspector.layer))).pipe(
      Layer.provide(JobsLive)
    )
  ),
  { migrate: true }
)
