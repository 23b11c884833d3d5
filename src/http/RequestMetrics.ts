import { Effect, Exit, Metric } from "effect"
import { HttpRouter, HttpServerError, HttpServerRequest } from "effect/http"
import { httpRequestDuration, httpRequests } from "../platform/Metrics.ts"

/**
 * Counts and times every routed request by method, route template (not the
 * raw URL, so ids do not explode the label set) and final status.
 */
export const RequestMetricsLive = HttpRouter.middleware((httpApp) =>
  Effect.gen(function* () {
    const request = yield* HttpServerRequest.HttpServerRequest
    const route = yield* HttpRouter.RouteContext
    const started = performance.now()
    const exit = yield* Effect.exit(httpApp)
    const status = Exit.isSuccess(exit)
      ? exit.value.status
      : (yield* HttpServerError.causeResponse(exit.cause))[0].status
    const attributes = { method: request.method, route: String(route.route.path), status: String(status) }
    yield* Metric.update(Metric.withAttributes(httpRequests, attributes), 1)
    yield* Metric.update(Metric.withAttributes(httpRequestDuration, attributes), (performance.now() - started) / 1000)
    return yield* exit
  })
).layer
