import { NodeHttpServer } from "@effect/platform-node"
import { assert, layer } from "@effect/vitest"
import { Effect, Layer, Stream } from "effect"
import { FetchHttpClient, HttpClient, HttpClientRequest, HttpRouter } from "effect/http"
import { HttpApiClient } from "effect/http-api"
import { Api } from "../../src/contract/Api.ts"
import { HttpAppLive } from "../../src/main/httpLayers.ts"
import { JobsLive, PlatformLive } from "../../src/main/layers.ts"
import { WorkerLive } from "../../src/main/workerLayers.ts"
import { TestAuthenticationLive } from "../harness/TestAuthentication.ts"
import { configLayer, withTestEnv } from "../harness/TestEnv.ts"
import { baseUrl } from "../harness/http.ts"

/**
 * The web app's client (HttpApiClient typed by src/contract/Api.ts) against the real server: what
 * the server writes must decode with the contract the browser holds. The job event stream did not
 * (dates written as strings, expected as Date objects), so a sync's progress never showed.
 */

const TestLayer = withTestEnv((env) =>
  Layer.mergeAll(
    HttpRouter.serve(HttpAppLive(TestAuthenticationLive), { disableLogger: true, disableListenLog: true }).pipe(
      Layer.provideMerge(NodeHttpServer.layerTest)
    ),
    WorkerLive
  ).pipe(Layer.provideMerge(JobsLive), Layer.provideMerge(PlatformLive), Layer.provide(configLayer(env)))
)

const alice = "11111111-1111-4111-8111-111111111111"

const client = Effect.gen(function* () {
  const base = yield* baseUrl
  return yield* HttpApiClient.make(Api, {
    baseUrl: base,
    transformClient: HttpClient.mapRequest(HttpClientRequest.setHeader("x-test-user", alice))
  })
}).pipe(Effect.provide(FetchHttpClient.layer))

layer(TestLayer, { excludeTestServices: true, timeout: "60 seconds" })("the typed client against the server", (it) => {
  it.effect("follows a job's event stream to its end, every event decoded by the contract", () =>
    Effect.gen(function* () {
      const api = yield* client
      const accepted = yield* api.debug.ping({ payload: { steps: 4, sleepMillis: 400 } })
      const stream = yield* api.jobs.events({ params: { id: accepted.jobId } })
      const events = yield* stream.pipe(Stream.runCollect)
      assert.isAtLeast(events.length, 2)
      const last = events.at(-1)
      assert.strictEqual(last?.event, "state")
      assert.strictEqual(last?.data.state, "succeeded")
      assert.instanceOf(last?.data.createdAt, Date)
      assert.deepStrictEqual(last?.data.progress, { phase: "pinging", done: 4, total: 4, message: null })
      // the list and the single job decode too (the pages read them)
      const page = yield* api.jobs.list({ query: {} })
      assert.isTrue(page.items.some((job) => job.id === accepted.jobId))
      const job = yield* api.jobs.get({ params: { id: accepted.jobId } })
      assert.instanceOf(job.finishedAt, Date)
    })
  )
})
