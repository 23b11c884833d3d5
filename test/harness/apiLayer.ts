import { NodeHttpServer } from "@effect/platform-node"
import { Context, Effect, Layer } from "effect"
import { HttpRouter } from "effect/http"
import { HttpAppLive } from "../../src/main/httpLayers.ts"
import { JobsLive, PlatformLive } from "../../src/main/layers.ts"
import { TestAuthenticationLive } from "./TestAuthentication.ts"
import { configLayer, makeTestEnv, type TestEnv } from "./TestEnv.ts"

/** The environment the in-process API runs on, so worker processes can join the same database and queues. */
export class ApiEnv extends Context.Service<ApiEnv, TestEnv>()("test/ApiEnv") {}

/**
 * The whole API (every group, test authentication) served in this process on a test server, with
 * the jobs and platform layers, over a fresh test environment that is provided as `ApiEnv`.
 */
export const apiTestLayer = (overrides: Record<string, string> = {}) =>
  Layer.unwrap(
    Effect.map(makeTestEnv(overrides), (env) =>
      Layer.mergeAll(
        HttpRouter.serve(HttpAppLive(TestAuthenticationLive), { disableLogger: true, disableListenLog: true }).pipe(
          Layer.provideMerge(NodeHttpServer.layerTest)
        ),
        Layer.succeed(ApiEnv, env)
      ).pipe(Layer.provideMerge(JobsLive), Layer.provideMerge(PlatformLive), Layer.provide(configLayer(env)))
    )
  )
