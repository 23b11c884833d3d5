import { Layer } from "effect"
import { MaintenanceLive } from "../jobs/Maintenance.ts"
import { IdleMemory } from "../platform/IdleMemory.ts"
import { JobsLive } from "./layers.ts"
import { WorkerLive, WorkerOpsHttpLive } from "./workerLayers.ts"
import { launch } from "./program.ts"

/**
 * The job worker, with its metrics and liveness endpoint on WORKER_METRICS_PORT. Only this program
 * gives free malloc memory back when idle (IdleMemory, WORKER_IDLE_TRIM_MS); start.ts's API + worker
 * process does not.
 */
export const WorkerProgram = Layer.mergeAll(WorkerLive, WorkerOpsHttpLive, MaintenanceLive).pipe(
  Layer.provide(IdleMemory.layer),
  Layer.provide(JobsLive)
)

if (import.meta.main) launch("worker", WorkerProgram, { migrate: false })
