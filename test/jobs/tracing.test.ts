import { NodeHttpServer } from "@effect/platform-node"
import { InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base"
import { assert, layer } from "@effect/vitest"
import { Effect, Layer, Schedule } from "effect"
import { HttpRouter } from "effect/http"
import { HttpAppLive } from "../../src/main/httpLayers.ts"
import { JobsLive, PlatformLive } from "../../src/main/layers.ts"
import { WorkerLive } from "../../src/main/workerLayers.ts"
import { tracingWith } from "../../src/platform/Telemetry.ts"
import { configLayer, withTestEnv } from "../harness/TestEnv.ts"
import { TestAuthenticationLive } from "../harness/TestAuthentication.ts"
import { baseUrl, call, field } from "../harness/http.ts"

const exporter = new InMemorySpanExporter()

const TestLayer = withTestEnv((env) =>
  Layer.mergeAll(
    HttpRouter.serve(HttpAppLive(TestAuthenticationLive), { disableLogger: true, disableListenLog: true }).pipe(
      Layer.provideMerge(NodeHttpServer.layerTest)
    ),
    WorkerLive
  ).pipe(
    Layer.provideMerge(JobsLive),
    Layer.provideMerge(PlatformLive),
    Layer.provide(tracingWith(new SimpleSpanProcessor(exporter), { serviceName: "mail-helper-test" })),
    Layer.provide(configLayer(env))
  )
)

const parentOf = (span: ReadableSpan): string | undefined => span.parentSpanContext?.spanId

layer(TestLayer, { excludeTestServices: true, timeout: "60 seconds" })("tracing", (it) => {
  it.effect("one trace runs from the HTTP request through the enqueue into the worker's job span", () =>
    Effect.gen(function* () {
      const base = yield* baseUrl
      const headers = { "x-test-user": "66666666-6666-4666-8666-666666666666" }
      const submitted = yield* call(base, "POST", "/api/v1/debug/ping", { json: { steps: 2 }, headers })
      assert.strictEqual(submitted.status, 202, submitted.text)
      const id = String(field(submitted.body, "jobId"))
      const job = yield* call(base, "GET", `/api/v1/jobs/${id}`, { headers }).pipe(
        Effect.filterOrFail((response) => field(response.body, "state") === "succeeded"),
        Effect.retry(Schedule.spaced("50 millis").pipe(Schedule.upTo({ times: 200 }))),
        Effect.orDie
      )
      const traceId = String(field(job.body, "traceId"))
      const spans = exporter.getFinishedSpans().filter((span) => span.spanContext().traceId === traceId)
      const byName = (name: string) => spans.find((span) => span.name === name)
      const request = spans.find((span) => span.name.startsWith("http.server POST") || span.name === "POST")
      const submit = byName("Jobs.submit")
      const processed = byName("job.process")
      assert.isDefined(request, `spans: ${spans.map((span) => span.name).join(", ")}`)
      assert.isDefined(submit)
      assert.isDefined(processed)
      if (request === undefined || submit === undefined || processed === undefined) return
      assert.strictEqual(processed.attributes["job.id"], id)
      assert.strictEqual(processed.attributes["job.kind"], "debug.ping")
      // the job span hangs under the request: walk its ancestors up to the request span
      const byId = new Map(spans.map((span) => [span.spanContext().spanId, span]))
      let cursor: ReadableSpan | undefined = processed
      const chain: Array<string> = []
      while (cursor !== undefined && cursor !== request) {
        chain.push(cursor.name)
        const parent = parentOf(cursor)
        cursor = parent === undefined ? undefined : byId.get(parent)
      }
      assert.strictEqual(cursor, request, `job.process ancestors: ${chain.join(" <- ")}`)
    })
  )
})
