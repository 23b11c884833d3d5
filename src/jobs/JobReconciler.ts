import { Context, Effect, Exit, Layer, Option, Schema } from "effect"
import type { DatabaseError } from "../platform/Database.ts"
import { JobEvents } from "./JobEvents.ts"
import { Jobs, queueCall } from "./Jobs.ts"
import { JobKinds } from "./JobKinds.ts"
import { JobsConfig } from "./JobsConfig.ts"
import { type JobRecord, JobStore, type Outcome } from "./JobStore.ts"

/** What one reconciler pass did. */
export interface ReconcileSummary {
  /** Waiting records older than the grace period that were compared with the queue. */
  readonly checked: number
  /** Records without a queue entry, queued again under their own id. */
  readonly requeued: number
  /** Records ended because they cannot run (unknown kind, invalid payload, cancel requested, ended in the queue). */
  readonly ended: number
  /** Records that could not be checked this pass (Redis or PostgreSQL failed); the next pass tries again. */
  readonly failed: number
  /** Succeeded jobs marked to run again whose rerun no worker submitted (it died first), submitted now. */
  readonly rerun: number
}

type Verdict = "ok" | "requeued" | "ended"

const pageSize = 200

/**
 * The guarantee behind `Jobs.submit`: a job record is written to PostgreSQL before its queue entry
 * is added to Redis, and no interruption handling can cover a process that dies between the two
 * (SIGKILL, OOM, power) or a Redis that loses the add. This pass finds every `queued` or `retrying`
 * record unchanged for longer than the grace period whose BullMQ job does not exist, and queues it
 * again under its own id (BullMQ ignores an add for an id it still holds), or ends it with a reason
 * when it cannot run. The grace period keeps it away from submits in flight and from a first
 * delivery's late claim (a running job's record reads `queued` for its first ~50 ms); it only acts
 * on what the queue says is absent or ended, never on a job BullMQ holds. Idempotent, so several
 * workers may run it at once.
 */
export class JobReconciler extends Context.Service<
  JobReconciler,
  {
    /** One pass with the configured grace period (JOB_RECONCILE_GRACE_MS). */
    readonly reconcile: Effect.Effect<ReconcileSummary, DatabaseError>
    /** One pass over records unchanged for longer than `graceMillis`. */
    readonly reconcileOlderThan: (graceMillis: number) => Effect.Effect<ReconcileSummary, DatabaseError>
  }
>()("mail-helper/JobReconciler") {
  static readonly layer = Layer.effect(
    JobReconciler,
    Effect.gen(function* () {
      const jobs = yield* Jobs
      const store = yield* JobStore
      const kinds = yield* JobKinds
      const events = yield* JobEvents
      const config = yield* JobsConfig

      const end = (record: JobRecord, outcome: Outcome) =>
        Effect.gen(function* () {
          const { changed } = yield* store.finish(record.view.id, outcome)
          if (!changed) return "ok" as const
          yield* Effect.logWarning("reconciler ended a job record that cannot run", {
            jobId: record.view.id,
            kind: record.view.kind,
            state: outcome.state,
            reason: outcome.state === "succeeded" ? "" : outcome.message
          })
          yield* events.publish(
            { jobId: record.view.id, state: outcome.state, progress: record.view.progress },
            { ownerId: record.ownerId, kind: record.view.kind }
          )
          return "ended" as const
        })

      const check = (record: JobRecord) =>
        Effect.gen(function* () {
          const id = record.view.id
          const kind = kinds.get(record.view.kind)
          if (kind === undefined) {
            return yield* end(record, {
              state: "failed",
              code: "unknown_kind",
              message: `job kind ${record.view.kind} is not registered in this installation; the job cannot run`
            })
          }
          const decoded = Schema.decodeUnknownExit(kind.payload)(record.payload)
          if (Exit.isFailure(decoded)) {
            return yield* end(record, {
              state: "failed",
              code: "invalid_payload",
              message: `the job's payload is no longer valid for ${kind.name}; the job cannot run`
            })
          }
          const queue = yield* jobs.queue(kind.name)
          const state = yield* queueCall("getJobState", () => queue.getJobState(id))
          if (state === "completed" || state === "failed") {
            // the queue ended the job but its outcome never reached the record (the worker's write failed)
            const job = yield* queueCall("getJob", () => queue.getJob(id))
            return yield* end(
              record,
              state === "completed"
                ? { state: "succeeded", result: job?.returnvalue ?? null }
                : { state: "failed", code: "failed", message: job?.failedReason ?? "failed in the queue" }
            )
          }
          if (state !== "unknown") return "ok" as const
          // No queue entry. Read the record again: a job that ran and ended since the list was read
          // (its entry then removed by removeOnComplete) has a final state by now, and must not run twice.
          const fresh = yield* store.find(id)
          if (Option.isNone(fresh) || !["queued", "retrying"].includes(fresh.value.view.state)) return "ok" as const
          if (fresh.value.view.cancelRequested) {
            return yield* end(fresh.value, { state: "cancelled", message: "cancelled before it started" })
          }
          yield* jobs.requeue(fresh.value)
          yield* Effect.logWarning("reconciler queued a job record that had no queue entry", {
            jobId: id,
            kind: kind.name,
            state: fresh.value.view.state
          })
          return "requeued" as const
        }).pipe(
          Effect.catchTag("UnknownJobKind", (error) =>
            end(record, { state: "failed", code: "unknown_kind", message: error.message })
          ),
          Effect.map((verdict): Verdict | "failed" => verdict),
          Effect.catch((error) =>
            Effect.as(
              Effect.logWarning("reconciler could not check a job record", {
                jobId: record.view.id,
                error: error.message
              }),
              "failed" as const
            )
          )
        )

      const reconcileOlderThan = (graceMillis: number) =>
        Effect.gen(function* () {
          const counts = { checked: 0, requeued: 0, ended: 0, failed: 0, rerun: 0 }
          let after: { updatedAt: Date; id: string } | undefined
          for (;;) {
            const page = yield* store.listWaiting(graceMillis, pageSize, after)
            const verdicts = yield* Effect.forEach(page, check, { concurrency: 10 })
            counts.checked += page.length
            for (const verdict of verdicts) if (verdict !== "ok") counts[verdict]++
            const last = page.at(-1)
            if (page.length < pageSize || last === undefined) break
            after = { updatedAt: last.view.updatedAt, id: last.view.id }
          }
          // reruns a worker owed and did not submit (JobKind.rerunOnJoin): the mark outlives the worker
          const owed = yield* store.listRerunsDue(graceMillis, pageSize)
          const reruns = yield* Effect.forEach(
            owed,
            (record) =>
              jobs.rerun(record.view.id).pipe(
                Effect.as(true),
                Effect.catch((error) =>
                  Effect.as(
                    Effect.logWarning("reconciler could not submit a job's rerun", {
                      jobId: record.view.id,
                      error: error.message
                    }),
                    false
                  )
                )
              ),
            { concurrency: 10 }
          )
          counts.rerun = reruns.filter((done) => done).length
          counts.failed += reruns.length - counts.rerun
          if (counts.rerun > 0) {
            yield* Effect.logWarning("reconciler submitted reruns no worker submitted", { rerun: counts.rerun })
          }
          if (counts.requeued + counts.ended + counts.failed > 0)
            yield* Effect.logInfo("job records reconciled", counts)
          return counts
        }).pipe(Effect.withSpan("JobReconciler.reconcile"))

      return JobReconciler.of({ reconcile: reconcileOlderThan(config.reconcileGraceMillis), reconcileOlderThan })
    })
  )
}
