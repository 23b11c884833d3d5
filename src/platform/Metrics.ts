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

const residentMemory = Metric.gauge("process_resident_memory_bytes", { description: "Resident set size in bytes" })
const heapUsed = Metric.gauge("nodejs_heap_used_bytes", { description: "V8 heap in use, in bytes" })
const eventLoopLag = Metric.gauge("nodejs_eventloop_lag_seconds", {
  description: "Event-loop delay (p99 over the last interval) in seconds"
})

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
