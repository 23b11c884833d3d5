/**
 * The job runtime tells the worker program's IdleMemory (src/platform/IdleMemory.ts) when an attempt
 * starts and ends, so its idle trim never runs during a job. Against a real worker (debug.ping).
 */
import { NodeHttpServer } from "@effect/platform-node"
import { assert, layer } from "@effect/vitest"
import { Effect, Layer, Schedule } from "effect"
import { HttpRouter } from "effect/http"
import { HttpAppLive } from "../../src/main/httpLayers.ts"
import { JobsLive, PlatformLive } from "../../src/main/layers.ts"
import { WorkerLive } from "../../src/main/workerLayers.ts"
import { IdleMemory } from "../../src/platform/IdleMemory.ts"
import { configLayer, withTestEnv } from "../harness/TestEnv.ts"
import { TestAuthenticationLive } from "../harness/TestAuthentication.ts"
import { baseUrl, call, field } from "../harness/http.ts"

const seen = { started: 0, ended: 0, runningAtEnd: [] as Array<number> }
const RecordingIdleMemory = Layer.succeed(
  IdleMemory,
  IdleMemory.of({
    jobStarted: Effect.sync(() => {
      seen.started += 1
    }),
    jobEnded: Effect.sync(() => {
      seen.ended += 1
      seen.runningAtEnd.push(seen.started - seen.ended)
    })
  })
)

const TestLayer = withTestEnv((env) =>
  Layer.mergeAll(
    HttpRouter.serve(HttpAppLive(TestAuthenticationLive), { disableLogger: true, disableListenLog: true }).pipe(
      Layer.provideMerge(NodeHttpServer.layerTest)
    ),
    WorkerLive.pipe(Layer.provide(RecordingIdleMemory))
  ).pipe(Layer.provideMerge(JobsLive), Layer.provideMerge(PlatformLive), Layer.provide(configLayer(env)))
)

const alice = "51111111-1111-4111-8111-111111111111"

layer(TestLayer, { excludeTestServices: true, timeout: "60 seconds" })("idle memory hooks of the job runtime", (it) => {
  it.effect("an attempt reports its start and its end", () =>
    Effect.gen(function* () {
      const base = yield* baseUrl
      assert.strictEqual(seen.started, 0)
      const response = yield* call(base, "POST", "/api/v1/debug/ping", {
        json: { sleepMillis: 300 },
        headers: { "x-test-user": alice }
      })
      assert.strictEqual(response.status, 202, response.text)
      const id = String(field(response.body, "jobId"))
      yield* call(base, "GET", `/api/v1/jobs/${id}`, { headers: { "x-test-user": alice } }).pipe(
        Effect.flatMap((job) =>
          field(job.body, "state") === "succeeded" && seen.ended > 0 ? Effect.void : Effect.fail(job.text)
        ),
        Effect.retry(Schedule.spaced("50 millis").pipe(Schedule.upTo({ times: 400 }))),
        Effect.orDie
      )
      assert.strictEqual(seen.started, 1)
      assert.strictEqual(seen.ended, 1)
      assert.deepStrictEqual(seen.runningAtEnd, [0])
    })
  )
})
