/**
 * Periodic sync: the ONE place where an account's sync interval becomes (or stops being) a BullMQ
 * job scheduler. Called when an account is created, changed or removed, when a sync changes its
 * status (auth failure: stop; fixed credentials: start again), and reconciled against every
 * account when a worker starts (and every half hour after).
 *
 * Design: a scheduler cannot create our durable job records (`jobs` rows), and a job without a
 * record is dropped by the worker runtime. So each scheduler fires a tiny `mail.sync.tick` job
 * carrying only the account id; its processor (here, not in the job runtime) looks the account up
 * and calls `Jobs.submit(MailSyncJob, …, { ownerId })`, which writes the durable record owned by the
 * account's owner — or returns the sync already queued or running for that account, so a slow sync
 * never runs twice. Ticks are internal: retried a few times, kept briefly, never shown to users.
 *
 * An account is scheduled iff it has an interval and its status is `active` or `unreachable`
 * (a server that is down now may be back at the next tick). `auth_failed` and `disabled` accounts
 * have no scheduler; the tick checks again anyway, so a race with a status change cannot start a
 * sync for them.
 */
import { SyncTickJob, SyncTickPayload } from "../contract/jobs/SyncTickJob.ts"
import { type Job, Worker } from "bullmq"
import { Context, Effect, Exit, Layer, Option, Schedule, Schema } from "effect"
import type { QueueUnavailable } from "../contract/jobs/Job.ts"
import { Jobs } from "../jobs/Jobs.ts"
import type { DatabaseError } from "../platform/Database.ts"
import { Redis } from "../platform/Redis.ts"
import { MailSyncJob } from "../contract/jobs/MailSyncJob.ts"
import type { AccountId, AccountStatus } from "../contract/accounts/Account.ts"
import { AccountStore, type ScheduleTarget } from "./AccountStore.ts"

/** The scheduler id of an account (one per account). */
export const schedulerId = (accountId: string): string => `sync:${accountId}`

const scheduledStatuses: ReadonlyArray<AccountStatus> = ["active", "unreachable"]

/** Whether an account should sync periodically. */
export const wantsSchedule = (target: Pick<ScheduleTarget, "status" | "syncIntervalMinutes">): boolean =>
  target.syncIntervalMinutes !== null && scheduledStatuses.includes(target.status)

/**
 * When a new scheduler first fires: `now` (the default: a changed interval or fixed credentials sync
 * at once), or `after interval` (a new account, whose first sync was submitted with its row).
 */
export type FirstRun = "now" | "after interval"

export interface AccountSchedulesShape {
  /** Upserts or removes the account's scheduler to match its interval and status. */
  readonly apply: (
    target: Pick<ScheduleTarget, "id" | "status" | "syncIntervalMinutes">,
    options?: { readonly firstRun: FirstRun }
  ) => Effect.Effect<void, QueueUnavailable>
  readonly remove: (accountId: string) => Effect.Effect<void, QueueUnavailable>
  /** Makes the schedulers match every account (system scope); returns what changed. */
  readonly reconcile: Effect.Effect<
    { readonly scheduled: number; readonly removed: number },
    QueueUnavailable | DatabaseError
  >
  /** The next run of an account's scheduler, if it has one (tests, inspection). */
  readonly next: (accountId: string) => Effect.Effect<Option.Option<{ every: number; next: Date }>, QueueUnavailable>
}

export class AccountSchedules extends Context.Service<AccountSchedules, AccountSchedulesShape>()(
  "mail-helper/AccountSchedules"
) {
  static readonly layer = Layer.effect(
    AccountSchedules,
    Effect.gen(function* () {
      const jobs = yield* Jobs
      const store = yield* AccountStore

      const upsert = (accountId: AccountId, minutes: number, firstRun: "now" | "spread" | "after interval") =>
        jobs.schedule(SyncTickJob, schedulerId(accountId), { everyMillis: minutes * 60_000, firstRun }, { accountId })

      const remove = (accountId: string) => jobs.unschedule(SyncTickJob, schedulerId(accountId))

      const apply = (
        target: Pick<ScheduleTarget, "id" | "status" | "syncIntervalMinutes">,
        options?: { readonly firstRun: FirstRun }
      ) =>
        (wantsSchedule(target) && target.syncIntervalMinutes !== null
          ? upsert(target.id, target.syncIntervalMinutes, options?.firstRun ?? "now")
          : remove(target.id)
        ).pipe(Effect.withSpan("AccountSchedules.apply", { attributes: { "account.id": target.id } }))

      const reconcile = Effect.gen(function* () {
        const targets = yield* store.scheduleTargets
        const existing = new Set((yield* jobs.schedulers(SyncTickJob)).map((scheduler) => scheduler.id))
        const wanted = new Set<string>()
        let scheduled = 0
        for (const target of targets) {
          if (!wantsSchedule(target) || target.syncIntervalMinutes === null) continue
          const id = schedulerId(target.id)
          wanted.add(id)
          // an existing scheduler with the same interval keeps its next run
          yield* upsert(target.id, target.syncIntervalMinutes, existing.has(id) ? "now" : "spread")
          scheduled++
        }
        let removed = 0
        for (const id of existing) {
          if (id.startsWith("sync:") && !wanted.has(id)) {
            yield* jobs.unschedule(SyncTickJob, id)
            removed++
          }
        }
        return { scheduled, removed }
      }).pipe(Effect.withSpan("AccountSchedules.reconcile"))

      const next = (accountId: string) =>
        jobs
          .scheduler(SyncTickJob, schedulerId(accountId))
          .pipe(
            Effect.map(
              Option.flatMap((scheduler) =>
                scheduler.everyMillis === undefined || scheduler.next === undefined
                  ? Option.none()
                  : Option.some({ every: scheduler.everyMillis, next: scheduler.next })
              )
            )
          )

      return AccountSchedules.of({ apply, remove, reconcile, next })
    })
  )
}

const decodeTick = Schema.decodeUnknownOption(SyncTickPayload)

/**
 * The tick's processor: looks up the account across users (system scope; a tick has no owner)
 * and submits its sync as the owner. Exported for tests.
 */
export const runTick = (accountId: string) =>
  Effect.gen(function* () {
    const store = yield* AccountStore
    const schedules = yield* AccountSchedules
    const jobs = yield* Jobs
    const target = yield* store.scheduleTarget(accountId)
    if (Option.isNone(target) || !wantsSchedule(target.value)) {
      // deleted, auth_failed or disabled meanwhile: a stale scheduler
      if (Option.isNone(target)) yield* schedules.remove(accountId)
      else yield* schedules.apply(target.value)
      return { submitted: false }
    }
    const submitted = yield* jobs.submit(MailSyncJob, { accountId: target.value.id }, { ownerId: target.value.userId })
    return { submitted: submitted.created }
  }).pipe(Effect.withSpan("AccountSchedules.tick", { attributes: { "account.id": accountId } }))

/**
 * The worker side: consumes the tick queue and reconciles the schedulers at start and every half
 * hour (a Redis that lost its data, or an account changed while Redis was down, heals itself).
 */
export const SyncTickWorkerLive = Layer.effectDiscard(
  Effect.gen(function* () {
    const redis = yield* Redis
    const schedules = yield* AccountSchedules
    const context = yield* Effect.context<AccountStore | AccountSchedules | Jobs>()
    const run = Effect.runPromiseExitWith(context)
    const connection = yield* redis.connection(`worker:${SyncTickJob.name}`, "blocking")
    yield* Effect.acquireRelease(
      Effect.sync(() => {
        const worker = new Worker(
          SyncTickJob.name,
          async (job: Job) => {
            const payload = decodeTick(job.data)
            // a malformed tick is nothing to retry
            if (Option.isNone(payload)) return { submitted: false }
            const exit = await run(runTick(payload.value.accountId))
            if (Exit.isSuccess(exit)) return exit.value
            throw new Error("sync tick failed; retried by the queue")
          },
          { connection, prefix: redis.prefix, concurrency: SyncTickJob.concurrency }
        )
        worker.on("error", () => {})
        return worker
      }),
      (worker) => Effect.promise(() => worker.close()).pipe(Effect.timeout("10 seconds"), Effect.ignore)
    )
    const reconcile = schedules.reconcile.pipe(
      Effect.tap((outcome) => Effect.logInfo("sync schedules reconciled", outcome)),
      Effect.catch((error) => Effect.logWarning("sync schedules not reconciled", error.message))
    )
    yield* reconcile.pipe(Effect.repeat(Schedule.spaced("30 minutes")), Effect.forkScoped)
  })
)
