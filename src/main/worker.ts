import { Layer } from "effect"
import { JobsLive, WorkerLive, WorkerOpsHttpLive } from "./layers.ts"
import { launch } from "./program.ts"

launch("worker", Layer.mergeAll(WorkerLive, WorkerOpsHttpLive).pipe(Layer.provide(JobsLive)), { migrate: false })
