import { Queue as BullQueue, Worker } from "bullmq"
import { Effect, Exit, Layer, Queue, Schedule } from "effect"
import type { Redis as IORedis } from "ioredis"
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
 * job record without a queue entry is queued again or ended (docs/jobs.md, "Guarantees"). And once
 * more when Redis is back after a disconnect: a restarted Redis may have lost its last second of
 * writes (AOF fsync every second), so the entries of jobs accepted just before are gone. That pass
 * runs JOB_RECONCILE_RECONNECT_GRACE_MS after the disconnect (or at the reconnect, if later) over the
 * records older than that grace: every record whose entry could have been lost is old enough by then,
 * and a submit committed since (its add still in flight) is too young to be touched.
 */
/**
 * One long-lived fiber that runs a reconciler pass after each reconnect of `client` (the connection
 * the reconciler and submits use): when the connection closes, the time is noted; when it is ready
 * again, the pass waits until `graceMillis` after that time and covers the records older than
 * `graceMillis`. Reconnects during a wait or a pass make one more pass (the latest disconnect counts:
 * its pass covers the records of every earlier one).
 */
const reconcileAfterReconnects = (client: IORedis, reconciler: JobReconciler["Service"], graceMillis: number) =>
  Effect.gen(function* () {
    const reconnects = yield* Queue.sliding<number>(1)
    let disconnectedAt: number | undefined
    const onClose = () => {
      disconnectedAt ??= Date.now()
    }
    const onReady = () => {
      if (disconnectedAt === undefined) return
      Queue.offerUnsafe(reconnects, disconnectedAt)
      disconnectedAt = undefined
    }
    yield* Effect.acquireRelease(
      Effect.sync(() => {
        client.on("close", onClose)
        client.on("ready", onReady)
      }),
      () =>
        Effect.sync(() => {
          client.off("close", onClose)
          client.off("ready", onReady)
        })
    )
    yield* Queue.take(reconnects).pipe(
      Effect.flatMap((since) =>
        Effect.logInfo("Redis is back: reconciling the job records it may have lost", {
          disconnectedMillis: Date.now() - since
        }).pipe(
          Effect.andThen(Effect.sleep(Math.max(0, since + graceMillis - Date.now()))),
          Effect.andThen(reconciler.reconcileOlderThan(graceMillis))
        )
      ),
      Effect.catch((error) =>
        Effect.logWarning("job records not reconciled after the reconnect; the next pass tries again", error.message)
      ),
      Effect.forever,
      Effect.forkScoped
    )
  })

export const MaintenanceLive = Layer.effectDiscard(
  Effect.gen(function* () {
    const config = yield* AppConfig
    const redis = yield* Redis
    const store = yield* JobStore
    const context = yield* Effect.context<never>()
    const run = Effect.runPromiseExitWith(context)

    const queue = yield* Effect.acquireRelease(
      Effect.sync(() => new BullQueue(queueName, { connection: redis.client, prefix: redis.prefix })),
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
    yield* reconcileAfterReconnects(redis.client, reconciler, jobsConfig.reconcileReconnectGraceMillis)

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
