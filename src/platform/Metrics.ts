import { Config, Duration, Effect, Layer, Metric, Option, Redacted, Schedule, Schema } from "effect"
import { HttpRouter, HttpServerRequest, HttpServerResponse } from "effect/http"
import { PrometheusMetrics } from "effect/observability"
import { createHash, timingSafeEqual } from "node:crypto"
import { monitorEventLoopDelay } from "node:perf_hooks"
import { AppConfig } from "./Config.ts"

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
export const jobWait = Metric.histogram("job_wait_seconds", {
  description:
    "Time from a job's submit to its first start in seconds, by kind and class of work (no user label: users are unbounded)",
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

export const watchLeasedAccounts = Metric.gauge("watch_leased_accounts", {
  description: "Accounts this worker holds a lease on (src/watch/AccountLeases.ts)"
})
export const watchLiveWorkers = Metric.gauge("watch_live_workers", {
  description: "Live workers sharing the accounts, as this worker's last heartbeat saw them"
})
export const watchLeaseEvents = Metric.counter("watch_lease_events_total", {
  description:
    "Account lease events by event: acquired, released (moved or drained), lost (renewal refused or local deadline passed)"
})
export const eventsPublished = Metric.counter("events_published_total", {
  description: "User events published to the event streams (SSE, webhooks), by type"
})
export const eventsPublishFailed = Metric.counter("events_publish_failed_total", {
  description: "User events that could not be published (Redis unavailable), by type; the work went on"
})
export const webhookDeliveries = Metric.counter("webhook_deliveries_total", {
  description:
    "Webhook delivery attempts by outcome: delivered, retrying, failed (last attempt), disabled (this failure disabled the webhook), refused_destination, skipped, error"
})
export const eventStreamsOpen = Metric.gauge("event_streams_open", {
  description: "Server-sent event streams (GET /api/v1/events) open on this API process"
})
export const aiTokenBudgetExhausted = Metric.counter("ai_token_budget_exhausted_total", {
  description:
    "AI jobs (mail.analyze, mail.embed) stopped because their owner's daily token budget was used up, by kind"
})
export const imapSlotWaits = Metric.counter("imap_connection_slot_waits_total", {
  description:
    "Waits for a per-account IMAP connection slot, by outcome: immediate (a slot was free), acquired (after waiting), timed_out"
})
export const jobImapSlotRequeues = Metric.counter("job_imap_slot_requeues_total", {
  description:
    "Jobs that found no IMAP connection slot of their account and went back to waiting without spending an attempt (outcome requeued), or, past the bound of such waits, spent one (limit_reached), by kind"
})
export const jobYields = Metric.counter("job_yields_total", {
  description:
    "Attempts that gave their slot to waiting interactive work between batches and went back to waiting without spending an attempt (bulk jobs, and syncs past their first page), by kind"
})
export const jobBulkHeld = Metric.counter("job_bulk_held_total", {
  description:
    "Bulk jobs that reached one of a worker's interactive-only slots (JOB_INTERACTIVE_SLOTS) while their kind's bulk slots were taken, and went back to waiting with their turn, by kind"
})
export const imapSlotLeasesLost = Metric.counter("imap_connection_slot_leases_lost_total", {
  description:
    "IMAP connection slot leases found expired at renewal (the holder stalled longer than IMAP_SLOT_LEASE_TTL_MS), by outcome: reacquired (a slot was free) or lost (the holder stops using its connection)"
})
export const imapSlotWaitDuration = Metric.histogram("imap_connection_slot_wait_seconds", {
  description: "Time spent waiting for a per-account IMAP connection slot, in seconds, by outcome",
  boundaries: [0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60]
})
export const watchAccounts = Metric.gauge("watch_accounts", {
  description: "Accounts this worker watches (connected or reconnecting)"
})
export const watchConnections = Metric.gauge("watch_connections", {
  description: "Open watching IMAP connections of this worker, by mode (notify, idle)"
})
export const watchReconnects = Metric.counter("watch_reconnects_total", {
  description: "Watching connections re-established after they broke, by reason"
})
export const watchLag = Metric.histogram("watch_lag_seconds", {
  description: "From a change heard on a watching connection to its targeted sync having stored it",
  boundaries: [0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300]
})

export const dbPoolConnections = Metric.gauge("db_pool_connections", {
  description: "Open connections of each database pool (app, system) by state: in_use (checked out) or idle"
})
export const dbPoolWaiting = Metric.gauge("db_pool_waiting", {
  description: "Checkouts waiting for a connection of each database pool (app, system): the pool is exhausted"
})
export const dbPoolAcquireDuration = Metric.histogram("db_pool_acquire_duration_seconds", {
  description: "Time to check a connection out of each database pool (app, system), waiting and connecting included",
  boundaries: [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
})

export const residentMemory = Metric.gauge("process_resident_memory_bytes", {
  description: "Resident set size of the process in bytes"
})
export const heapUsed = Metric.gauge("nodejs_heap_used_bytes", { description: "V8 heap in use, in bytes" })
export const eventLoopLag = Metric.gauge("nodejs_eventloop_lag_seconds", {
  description: "Event-loop delay (p99 over the last interval) in seconds"
})

/**
 * `metric` with attributes, made once per distinct set of attributes and reused after: a path that
 * runs per job attempt should not build a labelled metric (and hash its attributes) every time.
 */
export const withAttributesMemo = <Input, State>(
  metric: Metric.Metric<Input, State>
): ((attributes: Readonly<Record<string, string>>) => Metric.Metric<Input, State>) => {
  const made = new Map<string, Metric.Metric<Input, State>>()
  return (attributes) => {
    const key = Object.entries(attributes).flat().join("\u0000")
    let labelled = made.get(key)
    if (labelled === undefined) {
      labelled = Metric.withAttributes(metric, attributes)
      made.set(key, labelled)
    }
    return labelled
  }
}

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
  { metric: jobWait, labels: ["kind", "class"], exportedBy: ["worker"] },
  { metric: queueJobs, labels: ["queue", "state"], exportedBy: ["worker"] },
  { metric: syncMessages, labels: [], exportedBy: ["worker"] },
  { metric: syncErrors, labels: ["reason"], exportedBy: ["worker"] },
  { metric: analysisMessages, labels: ["provider", "outcome"], exportedBy: ["worker"] },
  { metric: aiTokenBudgetExhausted, labels: ["kind"], exportedBy: ["worker"] },
  { metric: imapSlotWaits, labels: ["outcome"], exportedBy: ["api", "worker"] },
  { metric: imapSlotWaitDuration, labels: ["outcome"], exportedBy: ["api", "worker"] },
  { metric: jobImapSlotRequeues, labels: ["kind", "outcome"], exportedBy: ["worker"] },
  { metric: jobYields, labels: ["kind"], exportedBy: ["worker"] },
  { metric: jobBulkHeld, labels: ["kind"], exportedBy: ["worker"] },
  { metric: imapSlotLeasesLost, labels: ["outcome"], exportedBy: ["api", "worker"] },
  { metric: watchAccounts, labels: [], exportedBy: ["worker"] },
  { metric: watchLeasedAccounts, labels: [], exportedBy: ["worker"] },
  { metric: watchLiveWorkers, labels: [], exportedBy: ["worker"] },
  { metric: watchLeaseEvents, labels: ["event"], exportedBy: ["worker"] },
  { metric: watchConnections, labels: ["mode"], exportedBy: ["worker"] },
  { metric: watchReconnects, labels: ["reason"], exportedBy: ["worker"] },
  { metric: watchLag, labels: [], exportedBy: ["worker"] },
  { metric: dbPoolConnections, labels: ["pool", "state"], exportedBy: ["api", "worker"] },
  { metric: dbPoolWaiting, labels: ["pool"], exportedBy: ["api", "worker"] },
  { metric: dbPoolAcquireDuration, labels: ["pool"], exportedBy: ["api", "worker"] },
  { metric: eventsPublished, labels: ["type"], exportedBy: ["api", "worker"] },
  { metric: eventsPublishFailed, labels: ["type"], exportedBy: ["api", "worker"] },
  { metric: eventStreamsOpen, labels: [], exportedBy: ["api"] },
  { metric: webhookDeliveries, labels: ["outcome"], exportedBy: ["worker"] },
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

/**
 * METRICS_TOKEN: the bearer token Prometheus sends (`authorization` in its scrape config). At least
 * 32 characters (`openssl rand -hex 24`); a shorter one stops start-up naming the variable.
 */
export const metricsTokenConfig = Config.option(
  Config.schema(Schema.String.pipe(Schema.check(Schema.isMinLength(32))), "METRICS_TOKEN")
).pipe(Config.map(Option.map((token) => Redacted.make(token))))

const digest = (value: string) => createHash("sha256").update(value).digest()

const bearer = (authorization: string | undefined): string | undefined =>
  authorization === undefined ? undefined : /^bearer +(\S+) *$/i.exec(authorization)?.[1]

const refusal = (status: 401 | 404, tag: string, message: string, headers: Record<string, string> = {}) =>
  HttpServerResponse.jsonUnsafe({ _tag: tag, message }, { status, headers })

/**
 * `GET /metrics` (Prometheus text) on a listener's router (the API's port and the worker's
 * WORKER_METRICS_PORT alike), guarded:
 * - with METRICS_TOKEN set, only `Authorization: Bearer <METRICS_TOKEN>` is served (compared in
 *   constant time, over SHA-256 digests so the length does not leak either); anything else is a
 *   401 JSON error with `WWW-Authenticate: Bearer`;
 * - without it, production does not serve metrics at all (404 JSON error): the API's port is
 *   public, and the worker's binds HOST (every interface by default) too; development and tests
 *   keep them open.
 */
export const MetricsHttpLive = Layer.effectDiscard(
  Effect.gen(function* () {
    const router = yield* HttpRouter.HttpRouter
    const app = yield* AppConfig
    const token = yield* metricsTokenConfig
    const expected = Option.map(token, (value) => digest(Redacted.value(value)))
    const closed = Option.isNone(expected) && app.environment === "production"
    const exposition = Effect.map(PrometheusMetrics.format(), (body) =>
      HttpServerResponse.text(body, { contentType: "text/plain; version=0.0.4; charset=utf-8" })
    )
    const handler = Effect.gen(function* () {
      if (closed) {
        return refusal(404, "NotFound", "metrics are not served on this port in production unless METRICS_TOKEN is set")
      }
      if (Option.isSome(expected)) {
        const request = yield* HttpServerRequest.HttpServerRequest
        const given = bearer(request.headers["authorization"])
        if (given === undefined || !timingSafeEqual(digest(given), expected.value)) {
          return refusal(401, "Unauthorized", "metrics need `Authorization: Bearer <METRICS_TOKEN>`", {
            "www-authenticate": 'Bearer realm="metrics"'
          })
        }
      }
      return yield* exposition
    })
    yield* router.add("GET", "/metrics", handler)
  })
)
