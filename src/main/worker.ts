import { Layer } from "effect"
import { JobsLive, WorkerLive } from "./layers.ts"
import { launch } from "./program.ts"

launch("worker", WorkerLive.pipe(Layer.provide(JobsLive)), { migrate: false })
