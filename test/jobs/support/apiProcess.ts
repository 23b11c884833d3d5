/**
 * The API as a real child process for tests that kill it (SIGKILL) or cut its Redis: the same
 * composition as src/main/api.ts, with the tests' header authentication (x-test-user) instead of
 * sessions. Started by spawnApi (test/jobs/support/spawnApi.ts); never part of a program.
 */
import { NodeHttpServer } from "@effect/platform-node"
import { Effect, Layer } from "effect"
import { createServer } from "node:http"
import { HttpAppLive, serve } from "../../../src/main/httpLayers.ts"
import { JobsLive } from "../../../src/main/layers.ts"
import { launch } from "../../../src/main/program.ts"
import { AppConfig } from "../../../src/platform/Config.ts"
import { TestAuthenticationLive } from "../../harness/TestAuthentication.ts"

const Program = serve(HttpAppLive(TestAuthenticationLive), { disableLogger: true }).pipe(
  Layer.provide(
    Layer.unwrap(
      Effect.map(AppConfig, (config) => NodeHttpServer.layer(createServer, { port: config.port, host: "127.0.0.1" }))
    )
  ),
  Layer.provide(JobsLive)
)

launch("api", Program, { migrate: false })
