import { Duration, Effect, Layer, Metric, Schedule } from "effect"
import { monitorEventLoopDelay } from "node:perf_hooks"

/**
 * The application's Prometheus metrics, in one place so names and labels stay
 * consistent with the Grafana dashboard (otel/grafana/dashboards).
 */

const latencyBoundaries = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
const jobBoundaries = [0.01, 0.05, 0.1, 0.5, 1, 5, 15, 30, 60, 120, 300, 900]

export const httpRequests = Metric.counter("http_server_requests_total", {
  description: "HTTP requests served, by method, route template and status"
})
export const httpRequestDuration = Metric.histogram("http_server_request_duration_seconds", {
  description: "HTTP request latency in seconds, by method, route template and status",
  boundaries: latencyBoundaries
})

export const jobsCompleted = Metric.counter("jobs_completed_total", {
  description: "Job attempts that ended, by kind and outcome (succeeded, retrying, failed, cancelled)"
})
export const jobDuration = Metric.histogram("job_duration_seconds", {
  description: "Duration of one job attempt in seconds, by kind and outcome",
  boundaries: jobBoundaries
})
export const queueJobs = Metric.gauge("queue_jobs", {
  description: "Jobs in each BullMQ queue by state (waiting, active, delayed, failed, prioritized)"
})

export const syncMessages = Metric.counter("sync_messages_total", {
  description: "Messages stored by mail synchronisation"
})
export const syncErrors = Metric.counter("sync_errors_total", {
  description: "Mail synchronisation failures by reason"
})
export const analysisMessages = Metric.counter("analysis_messages_total", {
  description: "Messages analysed, by provider and outcome"
})

export const residentMemory = Metric.gauge("process_resident_memory_bytes", {
  description: "Resident set size of the process in bytes"
})
export const heapUsed = Metric.gauge("nodejs_heap_used_bytes", { description: "V8 heap in use, in bytes" })
export const eventLoopLag = Metric.gauge("nodejs_eventloop_lag_seconds", {
  description: "Event-loop delay (p99 over the last interval) in seconds"
})

/**
 * Every metric with the label names its samples carry: the contract the Grafana dashboard
 * (otel/grafana/dashboards) and the alert rules (otel/alerts.yml) are written against, checked
 * by test/ops/metrics.test.ts against real scrapes of the api and the worker.
 * Where each is exported: api = the API's /metrics, worker = the worker's WORKER_METRICS_PORT
 * (`start` runs both in one process and exports everything on the API's port).
 */
export const metricCatalogue: ReadonlyArray<{
  readonly metric: Metric.Metric<number, unknown>
  readonly labels: ReadonlyArray<string>
  readonly exportedBy: ReadonlyArray<"api" | "worker">
}> = [
  { metric: httpRequests, labels: ["method", "route", "status"], exportedBy: ["api"] },
  { metric: httpRequestDuration, labels: ["method", "route", "status"], exportedBy: ["api"] },
  { metric: jobsCompleted, labels: ["kind", "outcome"], exportedBy: ["worker"] },
  { metric: jobDuration, labels: ["kind", "outcome"], exportedBy: ["worker"] },
  { metric: queueJobs, labels: ["queue", "state"], exportedBy: ["worker"] },
  { metric: syncMessages, labels: [], exportedBy: ["worker"] },
  { metric: syncErrors, labels: ["reason"], exportedBy: ["worker"] },
  { metric: analysisMessages, labels: ["provider", "outcome"], exportedBy: ["worker"] },
  { metric: residentMemory, labels: [], exportedBy: ["api", "worker"] },
  { metric: heapUsed, labels: [], exportedBy: ["api", "worker"] },
  { metric: eventLoopLag, labels: [], exportedBy: ["api", "worker"] }
]

/** Samples process memory and event-loop delay every few seconds while the program runs. */
export const ProcessMetricsLive = Layer.effectDiscard(
  Effect.gen(function* () {
    const histogram = monitorEventLoopDelay({ resolution: 10 })
    histogram.enable()
    yield* Effect.addFinalizer(() => Effect.sync(() => histogram.disable()))
    const sample = Effect.gen(function* () {
      const memory = process.memoryUsage()
      yield* Metric.update(residentMemory, memory.rss)
      yield* Metric.update(heapUsed, memory.heapUsed)
      yield* Metric.update(eventLoopLag, histogram.percentile(99) / 1e9)
      histogram.reset()
    })
    yield* sample.pipe(Effect.repeat(Schedule.spaced(Duration.seconds(5))), Effect.forkScoped)
  })
)
