import { Layer } from "effect"
import { MaintenanceLive } from "../jobs/Maintenance.ts"
import { ApiProgram } from "./api.ts"
import { JobsLive } from "./layers.ts"
import { WorkerLive } from "./workerLayers.ts"
import { launch } from "./program.ts"

/**
 * API and worker in one process, for a small install and the first run:
 * migrates first; the API's /metrics covers both (no second metrics port).
 */
launch("start", Layer.mergeAll(ApiProgram, Layer.mergeAll(WorkerLive, MaintenanceLive).pipe(Layer.provide(JobsLive))), {
  migrate: true
})
