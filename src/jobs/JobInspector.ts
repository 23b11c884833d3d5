import type { Queue } from "bullmq"
import { Context, Duration, Effect, Layer, Option } from "effect"
import type { DatabaseError } from "../platform/Database.ts"
import { QueueUnavailable } from "../contract/jobs/Job.ts"
import type { ActiveJob, QueueStats, RegisteredKind, UserQueueStats, WorkerInfo } from "../contract/jobs/QueueViews.ts"
import { JobKinds } from "./JobKinds.ts"
import { Jobs } from "./Jobs.ts"
import { JobStore } from "./JobStore.ts"

const workerName = (connectionName: string): string => {
  const marker = connectionName.indexOf(":w:")
  return marker === -1 ? connectionName : connectionName.slice(marker + 3)
}

export interface JobInspectorShape {
  readonly registered: Effect.Effect<ReadonlyArray<typeof RegisteredKind.Type>>
  readonly stats: Effect.Effect<ReadonlyArray<QueueStats>, QueueUnavailable>
  /** Jobs BullMQ holds as active, joined with their durable records. */
  readonly active: Effect.Effect<ReadonlyArray<typeof ActiveJob.Type>, QueueUnavailable | DatabaseError>
  readonly workers: Effect.Effect<ReadonlyArray<typeof WorkerInfo.Type>, QueueUnavailable>
  /** Per user: waiting and running jobs, and the oldest wait (from the durable records; top 200). */
  readonly users: Effect.Effect<ReadonlyArray<typeof UserQueueStats.Type>, DatabaseError>
}

export class JobInspector extends Context.Service<JobInspector, JobInspectorShape>()("mail-helper/JobInspector") {
  static readonly layer = Layer.effect(
    JobInspector,
    Effect.gen(function* () {
      const kinds = yield* JobKinds
      const jobs = yield* Jobs
      const store = yield* JobStore
      const call = <A>(what: string, f: () => Promise<A>) =>
        Effect.tryPromise({
          try: f,
          catch: () => new QueueUnavailable({ message: `queue unavailable (${what})` })
        }).pipe(
          Effect.timeoutOrElse({
            duration: "3 seconds",
            orElse: () => Effect.fail(new QueueUnavailable({ message: `queue unavailable (${what} timed out)` }))
          })
        )
      const eachQueue = <A, E>(f: (name: string, queue: Queue) => Effect.Effect<A, E>) =>
        Effect.forEach(
          kinds.all,
          // every registered kind has a queue, so a miss is a bug
          (kind) => Effect.flatMap(Effect.orDie(jobs.queue(kind.name)), (queue) => f(kind.name, queue)),
          { concurrency: 4 }
        )

      const registered = Effect.succeed(
        kinds.all.map((kind) => ({
          name: kind.name,
          description: kind.description,
          concurrency: kind.concurrency,
          timeoutMillis: Duration.toMillis(Duration.fromInputUnsafe(kind.timeout)),
          retryOnTimeout: kind.retryOnTimeout,
          attempts: kind.retry.attempts,
          deduplicated: kind.deduplicationKey !== undefined,
          userVisible: kind.userVisible
        }))
      )

      const stats = eachQueue((name, queue) =>
        Effect.gen(function* () {
          const counts = yield* call("getJobCounts", () =>
            queue.getJobCounts("waiting", "active", "delayed", "failed", "completed", "prioritized")
          )
          const workers = yield* call("getWorkersCount", () => queue.getWorkersCount())
          return {
            queue: name,
            // with fair share every job waits in BullMQ's prioritized set (its priority is its turn):
            // waiting counts both, as an operator means it; `prioritized` still shows the share
            waiting: (counts["waiting"] ?? 0) + (counts["prioritized"] ?? 0),
            active: counts["active"] ?? 0,
            delayed: counts["delayed"] ?? 0,
            failed: counts["failed"] ?? 0,
            completed: counts["completed"] ?? 0,
            prioritized: counts["prioritized"] ?? 0,
            workers
          }
        })
      )

      const active = Effect.map(
        eachQueue((name, queue) =>
          Effect.gen(function* () {
            const bullJobs = yield* call("getActive", () => queue.getActive(0, 200))
            const rows = yield* Effect.forEach(bullJobs, (job) =>
              job.id === undefined ? Effect.succeed(Option.none()) : store.find(job.id)
            )
            return rows.flatMap((row) =>
              Option.isNone(row)
                ? []
                : [
                    {
                      id: row.value.view.id,
                      kind: name,
                      ownerId: row.value.ownerId,
                      state: row.value.view.state,
                      attempt: row.value.view.attempts,
                      worker: row.value.worker,
                      startedAt: row.value.view.startedAt,
                      progress: row.value.view.progress
                    }
                  ]
            )
          })
        ),
        (perQueue) => perQueue.flat()
      )

      const workers = Effect.map(
        eachQueue((name, queue) =>
          Effect.map(
            call("getWorkers", () => queue.getWorkers()),
            (list) =>
              list.map((worker) => ({
                queue: name,
                // BullMQ names the connection `<prefix>:<queue>:w:<worker name>`; the worker name is ours
                name: workerName(worker["rawname"] ?? worker["name"] ?? ""),
                address: worker["addr"] ?? "",
                idleSeconds: Number(worker["idle"] ?? 0)
              }))
          )
        ),
        (perQueue) => perQueue.flat()
      )

      const users = Effect.map(store.userQueueStats(200), (rows) =>
        rows.map((row) => ({
          userId: row.user_id,
          waiting: row.waiting,
          running: row.running,
          oldestWaitSeconds: row.oldest_wait_seconds
        }))
      )

      return JobInspector.of({ registered, stats, active, workers, users })
    })
  )
}
