import { NodeHttpServer } from "@effect/platform-node"
import { Layer } from "effect"
import { HttpRouter } from "effect/http"
import { createServer } from "node:http"
import { withJsonClientErrors } from "../../src/platform/JsonClientErrors.ts"
import { HttpAppLive } from "../../src/main/httpLayers.ts"
import { JobsLive, PlatformLive } from "../../src/main/layers.ts"
import { UsersLive } from "../../src/users/UsersLive.ts"
import { configLayer, withTestEnv } from "../harness/TestEnv.ts"
import { testAuthEnv } from "../users/helpers.ts"

/**
 * The real API (every group, real authentication) on an ephemeral port of a Node server made as
 * src/main/api.ts makes it (with its clientError handling), over this file's own database and Redis.
 */
export const servedApiLayer = (overrides: Record<string, string> = {}) =>
  withTestEnv(
    (env) =>
      HttpRouter.serve(HttpAppLive(UsersLive), { disableLogger: true, disableListenLog: true }).pipe(
        Layer.provideMerge(
          NodeHttpServer.layer(() => withJsonClientErrors(createServer()), { port: 0, host: "127.0.0.1" })
        ),
        Layer.provideMerge(Layer.mergeAll(JobsLive, UsersLive)),
        Layer.provideMerge(PlatformLive),
        Layer.provide(configLayer(env))
      ),
    { ...testAuthEnv, ...overrides }
  )
