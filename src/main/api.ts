import { NodeHttpServer } from "@effect/platform-node"
import { Effect, Layer } from "effect"
import { createServer } from "node:http"
import { withJsonClientErrors } from "../platform/JsonClientErrors.ts"
import { AppConfig } from "../platform/Config.ts"
import { UsersLive } from "../users/UsersLive.ts"
import { HttpAppLive, serve } from "./httpLayers.ts"
import { JobsLive } from "./layers.ts"
import { launch } from "./program.ts"

/** The HTTP API on HOST:PORT. */
export const ApiProgram = serve(HttpAppLive(UsersLive)).pipe(
  Layer.provide(
    Layer.unwrap(
      Effect.map(AppConfig, (config) =>
        NodeHttpServer.layer(() => withJsonClientErrors(createServer()), { port: config.port, host: config.host })
      )
    )
  ),
  Layer.provide(JobsLive)
)

if (import.meta.main) launch("api", ApiProgram, { migrate: false })
