import { Layer } from "effect"
import { MaintenanceLive } from "../jobs/Maintenance.ts"
import { JobsLive } from "./layers.ts"
import { WorkerLive, WorkerOpsHttpLive } from "./workerLayers.ts"
import { launch } from "./program.ts"

/** The job worker, with its metrics and liveness endpoint on WORKER_METRICS_PORT. */
export const WorkerProgram = Layer.mergeAll(WorkerLive, WorkerOpsHttpLive, MaintenanceLive).pipe(
  Layer.provide(JobsLive)
)

if (import.meta.main) launch("worker", WorkerProgram, { migrate: false })
