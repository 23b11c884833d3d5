import { type Duration, Effect, Layer, Metric, Schedule } from "effect"
import { queueJobs } from "../platform/Metrics.ts"
import { JobInspector } from "./JobInspector.ts"

const states = ["waiting", "active", "delayed", "failed", "prioritized"] as const

/**
 * Publishes the depth of every queue as the `queue_jobs` gauge. Every worker
 * reports the same numbers, so dashboards aggregate with max(), not sum().
 */
export const QueueMetricsLive = (interval: Duration.Input = "10 seconds") =>
  Layer.effectDiscard(
    Effect.gen(function* () {
      const inspector = yield* JobInspector
      const sample = inspector.stats.pipe(
        Effect.flatMap((queues) =>
          Effect.forEach(queues, (queue) =>
            Effect.forEach(states, (state) =>
              Metric.update(Metric.withAttributes(queueJobs, { queue: queue.queue, state }), queue[state])
            )
          )
        ),
        Effect.catchTag("QueueUnavailable", (error) => Effect.logDebug("queue depth not sampled", error.message))
      )
      yield* sample.pipe(Effect.repeat(Schedule.spaced(interval)), Effect.forkScoped)
    })
  )
