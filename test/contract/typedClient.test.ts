import { NodeHttpServer } from "@effect/platform-node"
import { assert, layer } from "@effect/vitest"
import { Effect, Layer, Schema } from "effect"
import { HttpClient, HttpClientRequest, HttpRouter } from "effect/http"
import { HttpApiClient } from "effect/http-api"
import { Api } from "../../src/contract/Api.ts"
import { JobId, JobNotFound } from "../../src/contract/jobs/Job.ts"
import { HttpAppLive } from "../../src/main/httpLayers.ts"
import { JobsLive, PlatformLive } from "../../src/main/layers.ts"
import { TestAuthenticationLive } from "../harness/TestAuthentication.ts"
import { configLayer, withTestEnv } from "../harness/TestEnv.ts"

/**
 * The contract is enough for a typed client: `HttpApiClient.make(Api)` (what the web app will use)
 * talks to the real server, encodes requests from the contract's schemas and decodes successes and
 * domain errors back into them.
 */
const TestLayer = withTestEnv((env) =>
  HttpRouter.serve(HttpAppLive(TestAuthenticationLive), { disableLogger: true, disableListenLog: true }).pipe(
    Layer.provideMerge(NodeHttpServer.layerTest),
    Layer.provideMerge(JobsLive),
    Layer.provideMerge(PlatformLive),
    Layer.provide(configLayer(env))
  )
)

const alice = "11111111-1111-4111-8111-111111111111"

/** NodeHttpServer.layerTest's HttpClient already points at the test server. */
const clientFor = (user: string) =>
  HttpApiClient.make(Api, {
    transformClient: HttpClient.mapRequest(HttpClientRequest.setHeader("x-test-user", user))
  })

layer(TestLayer, { timeout: 60_000 })("a typed client built from the contract", (it) => {
  it.effect("calls the API and decodes answers and domain errors with the contract's schemas", () =>
    Effect.gen(function* () {
      const client = yield* clientFor(alice)
      assert.deepStrictEqual(yield* client.health.live(), { status: "ok" })
      const accepted = yield* client.debug.ping({ payload: { message: "typed" } })
      const job = yield* client.jobs.get({ params: { id: accepted.jobId } })
      assert.strictEqual(job.id, accepted.jobId)
      assert.strictEqual(job.kind, "debug.ping")
      const unknownId = Schema.decodeUnknownSync(JobId)("00000000-0000-4000-8000-000000000000")
      const missing = yield* client.jobs.get({ params: { id: unknownId } }).pipe(Effect.flip)
      assert.instanceOf(missing, JobNotFound)
    })
  )
})
