import { Queue, Worker } from "bullmq"
import { Effect, Exit, Layer, Schedule } from "effect"
import { AppConfig } from "../platform/Config.ts"
import { Redis } from "../platform/Redis.ts"
import { JobReconciler } from "./JobReconciler.ts"
import { JobsConfig } from "./JobsConfig.ts"
import { JobStore } from "./JobStore.ts"

const queueName = "maintenance"
const pruneScheduler = "prune-job-records"

/**
 * Periodic clean-up (what celery beat ran): a BullMQ job scheduler, upserted
 * here and only here at every worker start, fires once an hour; whichever
 * worker takes it deletes job records that ended more than JOB_RETENTION_DAYS
 * ago. Upserting is idempotent, so any number of workers can start.
 *
 * And the job reconciler (JobReconciler): at worker start and every JOB_RECONCILE_INTERVAL_MS, a
 * job record without a queue entry is queued again or ended (docs/jobs.md, "Guarantees").
 */
export const MaintenanceLive = Layer.effectDiscard(
  Effect.gen(function* () {
    const config = yield* AppConfig
    const redis = yield* Redis
    const store = yield* JobStore
    const context = yield* Effect.context<never>()
    const run = Effect.runPromiseExitWith(context)

    const queue = yield* Effect.acquireRelease(
      Effect.sync(() => new Queue(queueName, { connection: redis.client, prefix: redis.prefix })),
      (queue) => Effect.promise(() => queue.close()).pipe(Effect.timeout("3 seconds"), Effect.ignore)
    )
    queue.on("error", () => {})
    yield* Effect.tryPromise(() =>
      queue.upsertJobScheduler(
        pruneScheduler,
        { every: 60 * 60 * 1000 },
        { name: "prune", data: {}, opts: { removeOnComplete: true, removeOnFail: { count: 100 } } }
      )
    ).pipe(Effect.catch((error) => Effect.logWarning("maintenance schedule not upserted", String(error))))

    const prune = store.prune(config.jobRetentionDays).pipe(
      Effect.tap((deleted) =>
        deleted > 0
          ? Effect.logInfo("pruned job records", { deleted, olderThanDays: config.jobRetentionDays })
          : Effect.void
      ),
      Effect.withSpan("maintenance.prune")
    )
    const reconciler = yield* JobReconciler
    const jobsConfig = yield* JobsConfig
    yield* reconciler.reconcile.pipe(
      Effect.catch((error) =>
        Effect.logWarning("job records not reconciled; the next pass tries again", error.message)
      ),
      Effect.repeat(Schedule.spaced(jobsConfig.reconcileIntervalMillis)),
      Effect.forkScoped
    )

    const connection = yield* redis.connection("worker:maintenance", "blocking")
    yield* Effect.acquireRelease(
      Effect.sync(() => {
        const worker = new Worker(
          queueName,
          async () => {
            const exit = await run(prune)
            if (Exit.isFailure(exit)) throw new Error("prune failed; the next run tries again")
            return { deleted: exit.value }
          },
          { connection, prefix: redis.prefix, concurrency: 1 }
        )
        worker.on("error", () => {})
        return worker
      }),
      (worker) => Effect.promise(() => worker.close()).pipe(Effect.timeout("10 seconds"), Effect.ignore)
    )
  })
).pipe(Layer.provide(JobReconciler.layer))
