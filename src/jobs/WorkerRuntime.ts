import { DelayedError, type Job, UnrecoverableError, WaitingError, Worker } from "bullmq"
import { Cause, Context, Duration, Effect, Exit, Fiber, Layer, Metric, Option, Schedule, Schema } from "effect"
import { Headers, HttpTraceContext } from "effect/http"
import { hostname } from "node:os"
import { AppConfig } from "../platform/Config.ts"
import { type DatabaseError, logDatabaseError } from "../platform/Database.ts"
import { IdleMemory } from "../platform/IdleMemory.ts"
import {
  jobDuration,
  jobImapSlotRequeues,
  jobsCompleted,
  jobWait,
  jobYields,
  jobBulkHeld,
  withAttributesMemo
} from "../platform/Metrics.ts"
import { Redis } from "../platform/Redis.ts"
import { perJobSpan } from "../platform/Telemetry.ts"
import { CurrentJob, type ProgressUpdate } from "./CurrentJob.ts"
import { isTerminal, type JobProgress } from "../contract/jobs/Job.ts"
import { backoffStrategyName, cancelChannel, JobEnvelope } from "./JobEnvelope.ts"
import { JobEvents, type JobOwnership } from "./JobEvents.ts"
import { type JobError, PermanentJobError, TransientJobError } from "../contract/jobs/JobKind.ts"
import { retryDelayMillis } from "./RetryBackoff.ts"
import type { JobProcessor } from "./JobProcessor.ts"
import { type AttemptInfo, type ClaimedJob, JobStore, type Outcome } from "./JobStore.ts"
import { attemptSoftLimitMillis, checkTimeLimits, makeSoftTimeLimit } from "./SoftTimeLimit.ts"
import { assignTurns, bandScores, bands, fallbackPriority, imapSlotBusyCode, yieldedCode } from "./FairShare.ts"
import { JobLimits } from "./JobLimits.ts"
import { Jobs } from "./Jobs.ts"
import { JobsConfig } from "./JobsConfig.ts"

/**
 * KEYS[1] the sorted set of one user's running jobs of one kind (member job id, score the time its
 * claim expires). ARGV[1] now, ARGV[2] the claim's expiry, ARGV[3] the job id, ARGV[4] the limit.
 * Drops expired claims (a worker killed while running them), then claims a slot: 1, or 0 when the
 * user runs as many jobs of the kind as the limit allows. A job that holds a slot already (handed
 * over after a stall) keeps it.
 */
const claimSlotScript = `
redis.call("ZREMRANGEBYSCORE", KEYS[1], "-inf", ARGV[1])
if redis.call("ZSCORE", KEYS[1], ARGV[3]) then
  redis.call("ZADD", KEYS[1], ARGV[2], ARGV[3])
  return 1
end
if redis.call("ZCARD", KEYS[1]) >= tonumber(ARGV[4]) then return 0 end
redis.call("ZADD", KEYS[1], ARGV[2], ARGV[3])
redis.call("PEXPIREAT", KEYS[1], ARGV[2])
return 1
`

/** How long a job past its owner's limit waits before it asks again (jittered). */
const quotaRetryMillis = 500

/**
 * How long a bulk job handed to one of the interactive slots (JOB_INTERACTIVE_SLOTS) waits there for
 * a bulk slot of its kind to free before it goes back to waiting with its turn. The slot stays busy
 * meanwhile: it bounds how often such a slot takes a bulk job only to hand it back (a queue with
 * thousands of bulk jobs and no interactive one would otherwise cycle through them at Redis's pace).
 */
const bulkLaneHoldMillis = 100

/**
 * The code of a TransientJobError that means "every IMAP connection slot of the account stayed taken
 * for IMAP_SLOT_WAIT_MS" (MailSync, RuleExecutor): contention, not a failure of the job. Such an
 * attempt goes back to waiting like a job over its quota, without spending an attempt, at most
 * `maxImapSlotRequeues` times per job; past that the wait is an ordinary transient failure (it spends
 * an attempt and retries with backoff), so a slot that never frees cannot keep a job waiting forever.
 * Each requeue counts in job_imap_slot_requeues_total; reaching the bound is logged as a warning.
 */
export const maxImapSlotRequeues = 60
/** The pause before a job sent back by a busy account asks again (jittered; it already waited IMAP_SLOT_WAIT_MS). */
const imapSlotRequeueMillis = 1_000
/**
 * The pause before a bulk job that yielded its slot to interactive work is back among the waiting
 * (jittered): short, since its bulk turn already keeps it behind every waiting interactive job.
 * A yield needs no bound: a job asks only after a batch of the attempt is done (yieldToInteractive),
 * so every attempt makes progress and a job yields at most once per batch of its backlog.
 */
const yieldRequeueMillis = 100

/** Identity of this worker process, as BullMQ and the job records show it. */
export class WorkerIdentity extends Context.Service<WorkerIdentity, { readonly name: string }>()(
  "mail-helper/WorkerIdentity"
) {
  static readonly layer = Layer.sync(WorkerIdentity, () =>
    WorkerIdentity.of({ name: `${hostname()}:${process.pid}:${crypto.randomUUID().slice(0, 8)}` })
  )
}

/** How one BullMQ attempt ends. */
type Disposition =
  | { readonly _tag: "done"; readonly result: unknown }
  | { readonly _tag: "retry"; readonly message: string }
  | { readonly _tag: "fail"; readonly message: string }
  /**
   * Back to delayed without spending an attempt (BullMQ's DelayedError), to start again after
   * `delayMillis`; with `priority`, under that turn (a job that lowered itself to bulk) instead of its own.
   */
  | { readonly _tag: "wait"; readonly delayMillis: number; readonly priority?: number }

class Cancelled extends Schema.TaggedError<Cancelled>()("Cancelled", {
  reason: Schema.Literals(["user", "shutdown"])
}) {}

/** How long an attempt runs before its record is claimed (first attempts) and `running` is published. */
const startDelay = Duration.millis(50)

type AttemptOutcome = Outcome["state"]

interface RunningJob {
  readonly abort: (reason: "user" | "shutdown") => void
}

const decodeEnvelope = Schema.decodeUnknownOption(JobEnvelope)

/**
 * A job's bookkeeping (claim, final state) waits out a database outage of up to ten minutes
 * instead of handing the attempt back to BullMQ at once: every hand-back spends one of the
 * kind's attempts, and a job whose attempts ran out while the database was down kept a
 * `running` record for ever (found by scripts/drills/postgres-restart.ts). BullMQ keeps
 * renewing the job's lock meanwhile, so no other worker takes it.
 */
const bookkeepingRetry = Schedule.min([Schedule.exponential("200 millis"), Schedule.spaced("5 seconds")]).pipe(
  Schedule.upTo({ duration: "10 minutes" })
)
const patiently = <A>(jobId: string, statement: Effect.Effect<A, DatabaseError>) =>
  statement.pipe(
    Effect.tapError((error) =>
      logDatabaseError(error).pipe(
        Effect.andThen(Effect.logWarning("job bookkeeping waits for the database", { jobId, error: error.message }))
      )
    ),
    Effect.retry(bookkeepingRetry)
  )

/**
 * How an attempt ends, from its exit: what the job's record says (Outcome) and what BullMQ is told
 * (Disposition). A user's cancel ends the job; a worker shutdown is transient (another worker
 * takes the job); a defect is permanent, its cause only in the log.
 */
const attemptEnding = (
  exit: Exit.Exit<unknown, JobError | Cancelled>,
  finalAttempt: boolean
): { readonly outcome: Outcome; readonly disposition: Disposition } => {
  if (Exit.isSuccess(exit)) {
    return { outcome: { state: "succeeded", result: exit.value }, disposition: { _tag: "done", result: exit.value } }
  }
  const error = Cause.findErrorOption(exit.cause)
  if (Option.isSome(error) && error.value._tag === "Cancelled" && error.value.reason === "user") {
    return {
      outcome: { state: "cancelled", message: "cancelled while running" },
      disposition: { _tag: "fail", message: "cancelled" }
    }
  }
  const failure = Option.isSome(error)
    ? error.value._tag === "Cancelled"
      ? { transient: true, code: "shutdown", message: "interrupted by worker shutdown" }
      : { transient: error.value._tag === "TransientJobError", code: error.value.code, message: error.value.message }
    : { transient: false, code: "internal", message: "internal error" }
  const retry = failure.transient && !finalAttempt
  return {
    outcome: { state: retry ? "retrying" : "failed", code: failure.code, message: failure.message },
    disposition: { _tag: retry ? "retry" : "fail", message: `${failure.code}: ${failure.message}` }
  }
}

/**
 * Consumes every registered kind's queue and runs one Effect per job: hard
 * time limit, typed retry decisions, bounded-rate progress, cancellation from
 * any API instance, and graceful shutdown within the configured grace period.
 */
export const WorkerRuntimeLive = <R>(processors: ReadonlyArray<Effect.Effect<JobProcessor, never, R>>) =>
  Layer.effectDiscard(
    Effect.gen(function* () {
      const config = yield* AppConfig
      const redis = yield* Redis
      const store = yield* JobStore
      const events = yield* JobEvents
      const identity = yield* WorkerIdentity
      const limits = yield* JobLimits
      const jobs = yield* Jobs
      const { interactiveSlots } = yield* JobsConfig
      const built = yield* Effect.all(processors)
      // a soft time limit at or after the hard one: a defect at start-up, naming the kind
      yield* Effect.try({ try: () => checkTimeLimits(built.map((p) => p.kind)), catch: (error) => error }).pipe(
        Effect.orDie
      )
      // JOB_CONCURRENCY: a kind this worker does not run is a typo that would change nothing: stop
      const unknownKinds = [...config.jobConcurrency.keys()].filter((name) => !built.some((p) => p.kind.name === name))
      if (unknownKinds.length > 0) {
        return yield* Effect.die(
          new Error(
            `JOB_CONCURRENCY names ${unknownKinds.join(", ")}, which this worker does not run (it runs ${built.map((p) => p.kind.name).join(", ")})`
          )
        )
      }
      /** The worker's slots for a kind: JOB_CONCURRENCY's, else the kind's own. */
      const slotsOf = (kind: { readonly name: string; readonly concurrency: number }) =>
        config.jobConcurrency.get(kind.name) ?? kind.concurrency
      const context = yield* Effect.context<never>()
      const runExit = Effect.runPromiseExitWith(context)
      const running = new Map<string, RunningJob>()
      // the worker program's idle memory release (src/main/worker.ts), told when attempts start and end;
      // absent in the API + worker process (start.ts)
      const idleMemory = yield* Effect.serviceOption(IdleMemory)
      const jobStarted = Option.match(idleMemory, { onNone: () => Effect.void, onSome: (idle) => idle.jobStarted })
      const jobEnded = Option.match(idleMemory, { onNone: () => Effect.void, onSome: (idle) => idle.jobEnded })
      // labelled metrics, each made once per kind and label (withAttributesMemo)
      const completedMetric = withAttributesMemo(jobsCompleted)
      const durationMetric = withAttributesMemo(jobDuration)
      const yieldsMetric = withAttributesMemo(jobYields)
      const bulkHeldMetric = withAttributesMemo(jobBulkHeld)
      const requeuesMetric = withAttributesMemo(jobImapSlotRequeues)
      const waitMetric = withAttributesMemo(jobWait)

      /**
       * Progress is written at most once per interval; what is pending when the
       * attempt ends goes into the final statement, so a short job costs no
       * progress write at all.
       */
      const progressReporter = (jobId: string, job: JobOwnership) => {
        let lastWrite = Date.now()
        let latest: JobProgress | undefined
        let pending = false
        const report = (update: ProgressUpdate) =>
          Effect.suspend(() => {
            latest = {
              phase: update.phase.slice(0, 100),
              done: Math.max(0, Math.trunc(update.done)),
              total: update.total === undefined || update.total === null ? null : Math.max(0, Math.trunc(update.total)),
              message: update.message === undefined || update.message === null ? null : update.message.slice(0, 500)
            }
            pending = true
            if (Date.now() - lastWrite < config.progressWriteIntervalMillis) return Effect.void
            const progress = latest
            lastWrite = Date.now()
            pending = false
            return store.saveProgress(jobId, progress).pipe(
              Effect.catchTag("DatabaseError", (error) =>
                logDatabaseError(error).pipe(Effect.andThen(Effect.logWarning("progress not saved", error.message)))
              ),
              Effect.andThen(events.publish({ jobId, state: "running", progress }, job))
            )
          })
        return {
          report,
          /** The progress the final statement should save (if any is unwritten), and the latest for events. */
          unwritten: (): JobProgress | undefined => (pending ? latest : undefined),
          latest: (): JobProgress | null => latest ?? null
        }
      }

      const countRequeue = (kindName: string, outcome: "requeued" | "limit_reached") =>
        Metric.update(requeuesMetric({ kind: kindName, outcome }), 1)

      /**
       * True when the attempt ended only because no IMAP connection slot of its account was free and
       * the job may go back to waiting without spending an attempt (fewer than `maxImapSlotRequeues`
       * such waits so far, counted in Redis per job so every worker sees them). When Redis cannot
       * count, the wait is an ordinary transient failure.
       */
      const imapSlotRequeue = (exit: Exit.Exit<unknown, JobError | Cancelled>, jobId: string, kindName: string) =>
        Effect.gen(function* () {
          if (Exit.isSuccess(exit)) return false
          const error = Cause.findErrorOption(exit.cause)
          if (Option.isNone(error) || error.value._tag !== "TransientJobError") return false
          if (error.value.code !== imapSlotBusyCode) return false
          const key = redis.key("fair", "imap-slot-requeues", jobId)
          const count = yield* redis.use("count IMAP slot requeues", (client) =>
            client
              .multi()
              .incr(key)
              .pexpire(key, 24 * 3600 * 1000)
              .exec()
              .then((replies) => Number(replies?.[0]?.[1] ?? Number.NaN))
          )
          if (Number.isFinite(count) && count <= maxImapSlotRequeues) {
            yield* countRequeue(kindName, "requeued")
            if (count === 1) yield* Effect.logInfo("no IMAP slot of the account free; the job waits", { jobId })
            return true
          }
          yield* countRequeue(kindName, "limit_reached")
          yield* Effect.logWarning("IMAP slots of the account busy too long; the wait now spends an attempt", {
            jobId,
            requeues: maxImapSlotRequeues
          })
          return false
        }).pipe(
          Effect.catch((error) =>
            Effect.as(
              Effect.logWarning("IMAP slot requeues not counted; the wait spends an attempt", {
                jobId,
                error: error.message
              }),
              false
            )
          )
        )

      /** Per kind: the jobs this worker's BullMQ worker has handed to us and not yet finished (its busy slots). */
      const busySlots = new Map<string, number>()
      /**
       * Per kind: the bulk attempts this worker runs now (bulk turn at their start, or lowered since by
       * CurrentJob.continueAsBulk). Bulk work keeps to the kind's own slots (`slotsOf`); the
       * JOB_INTERACTIVE_SLOTS above them are for interactive work only.
       */
      const busyBulk = new Map<string, number>()
      const enterBulk = (kindName: string) => busyBulk.set(kindName, (busyBulk.get(kindName) ?? 0) + 1)
      const leaveBulk = (kindName: string) => busyBulk.set(kindName, Math.max(0, (busyBulk.get(kindName) ?? 0) - 1))
      const bulkLaneFull = (kindName: string, slots: number) => (busyBulk.get(kindName) ?? 0) >= slots
      /**
       * CurrentJob.shouldYield: a job of the bulk class (its BullMQ priority in the bulk band; without
       * fair share there are no priorities and no job yields), every slot of its kind in this worker
       * busy, and an interactive job of the kind waiting for its turn (one ZCOUNT of the interactive
       * band of the queue's prioritized set). A job held back by its owner's limit or an IMAP slot is
       * delayed, not prioritized: it could not take the slot, and it is not counted.
       */
      const shouldYield = (
        job: Job,
        kindName: string,
        concurrency: number,
        lowered: () => boolean
      ): Effect.Effect<boolean> =>
        Effect.suspend(() => {
          if (job.priority < bands.bulk.low && !lowered()) return Effect.succeed(false)
          if ((busySlots.get(kindName) ?? 0) < concurrency) return Effect.succeed(false)
          const { min, max } = bandScores(bands.interactive)
          return redis
            .use("look for waiting interactive work", (client) =>
              client.zcount(`${job.queueQualifiedName}:prioritized`, min, max)
            )
            .pipe(
              Effect.map((waiting) => waiting > 0),
              Effect.catch((error) =>
                Effect.as(
                  Effect.logWarning("waiting interactive work not looked up; the job goes on", error.message),
                  false
                )
              )
            )
        })

      /** True when the attempt ended because the job yielded to interactive work (`yieldToInteractive`). */
      const yieldedAttempt = (exit: Exit.Exit<unknown, JobError | Cancelled>) => {
        if (Exit.isSuccess(exit)) return false
        const error = Cause.findErrorOption(exit.cause)
        return Option.isSome(error) && error.value._tag === "TransientJobError" && error.value.code === yieldedCode
      }

      /**
       * A bulk turn for a job that lowered itself to bulk (CurrentJob.continueAsBulk) and yielded:
       * the submit's script (FairShare.ts) over the job's queue, as if its owner submitted it as bulk
       * now. When Redis does not answer, the bulk class's last turn (still behind every interactive job).
       */
      const bulkTurn = (job: Job, kindName: string, ownerId: string | null): Effect.Effect<number> =>
        Effect.map(
          assignTurns(redis, job.queueQualifiedName, kindName, "bulk", [ownerId]),
          ([turn]) => turn ?? fallbackPriority("bulk")
        )

      const processJob = (processor: JobProcessor, job: Job) =>
        Effect.gen(function* () {
          const kind = processor.kind
          const envelope = decodeEnvelope(job.data)
          if (Option.isNone(envelope)) {
            yield* Effect.logError("job envelope is malformed; dropping it", { bullJobId: job.id })
            return { _tag: "fail", message: "malformed job envelope" } satisfies Disposition
          }
          const { jobId, payload } = envelope.value
          const attemptInfo: AttemptInfo = {
            attempt: job.attemptsMade + 1,
            worker: identity.name,
            startedAt: new Date()
          }
          const attempt = attemptInfo.attempt
          // A first delivery starts at once and claims its record a moment later, so a short job
          // costs one statement (its outcome) instead of two. A retry, a job handed over after a
          // stall (it may have ended just before its worker died) and an envelope without its
          // owner claim first: one statement in the common case, and only when it cannot claim
          // do we look at why.
          const startsAtOnce =
            envelope.value.ownerId !== undefined && job.attemptsMade === 0 && job.stalledCounter === 0
          const claimed: Option.Option<ClaimedJob> = startsAtOnce
            ? Option.some({
                ownerId: envelope.value.ownerId ?? null,
                maxAttempts: job.opts.attempts ?? 1,
                progress: null
              })
            : yield* patiently(jobId, store.markRunning(jobId, attemptInfo))
          if (Option.isNone(claimed)) {
            const found = yield* patiently(jobId, store.find(jobId))
            if (Option.isNone(found)) {
              yield* Effect.logError("job has no durable record; dropping it", { jobId })
              return { _tag: "fail", message: "job record missing" } satisfies Disposition
            }
            if (isTerminal(found.value.view.state)) {
              // e.g. finished just before a crash, then handed out again by stalled-job recovery
              return { _tag: "done", result: found.value.view.result } satisfies Disposition
            }
            yield* patiently(jobId, store.finish(jobId, { state: "cancelled", message: "cancelled before it started" }))
            yield* events.publish(
              { jobId, state: "cancelled", progress: found.value.view.progress },
              { ownerId: found.value.ownerId, kind: found.value.view.kind }
            )
            return { _tag: "fail", message: "cancelled" } satisfies Disposition
          }
          const record = claimed.value
          const ownership = { ownerId: record.ownerId, kind: kind.name }
          const progress = progressReporter(jobId, ownership)
          const attemptStarted = performance.now()
          const recordAttempt = (outcome: AttemptOutcome) => {
            const attributes = { kind: kind.name, outcome }
            return Effect.all([
              Metric.update(completedMetric(attributes), 1),
              Metric.update(durationMetric(attributes), (performance.now() - attemptStarted) / 1000)
            ])
          }
          const timeoutMillis = Math.min(
            Duration.toMillis(Duration.fromInputUnsafe(kind.timeout)),
            envelope.value.timeoutMillis ?? Number.POSITIVE_INFINITY
          )
          const soft = yield* makeSoftTimeLimit(
            kind,
            attemptSoftLimitMillis(kind, envelope.value.softTimeoutMillis, timeoutMillis)
          )
          let abortWith: ((reason: "user" | "shutdown") => void) | undefined
          const aborted = Effect.callback<never, Cancelled>((resume) => {
            abortWith = (reason) => resume(Effect.fail(new Cancelled({ reason })))
          })
          running.set(jobId, { abort: (reason) => abortWith?.(reason) })
          // CurrentJob.continueAsBulk: the rest of the job is bulk work (only with fair share: a job
          // without a priority has no class to lower)
          let lowered = false
          // a job that started on an interactive turn and lowers itself counts as bulk from then on
          const startedBulk = job.priority >= bands.bulk.low
          let countedBulk = false
          const continueAsBulk = Effect.sync(() => {
            if (job.priority > 0) lowered = true
            if (lowered && !startedBulk && !countedBulk) {
              countedBulk = true
              enterBulk(kind.name)
            }
          })
          yield* jobStarted
          // Once the attempt has lasted a moment: the late claim (a record that cannot be claimed
          // was cancelled meanwhile: the attempt is interrupted as cancelled), then the `running`
          // event. A short job goes from queued straight to its final state and event.
          let lateClaimIssued = false
          const lateStart = Effect.sleep(startDelay).pipe(
            Effect.andThen(
              startsAtOnce
                ? Effect.suspend(() => {
                    lateClaimIssued = true
                    return patiently(jobId, store.markRunning(jobId, attemptInfo))
                  })
                : Effect.succeed(claimed)
            ),
            Effect.flatMap(
              Option.match({
                onNone: () => Effect.sync(() => abortWith?.("user")),
                onSome: (claim) =>
                  events.publish({ jobId, state: "running", progress: progress.latest() ?? claim.progress }, ownership)
              })
            ),
            Effect.catchTag("DatabaseError", (error) =>
              logDatabaseError(error).pipe(
                Effect.andThen(
                  Effect.logWarning("late claim failed; the outcome will still be recorded", error.message)
                )
              )
            )
          )
          const starter = yield* Effect.forkChild(lateStart)
          const parent = Option.fromNullishOr(envelope.value.traceparent).pipe(
            Option.flatMap((traceparent) => HttpTraceContext.fromHeaders(Headers.fromInput({ traceparent })))
          )

          const exit = yield* processor.run(payload).pipe(
            Effect.provideService(
              CurrentJob,
              CurrentJob.of({
                id: jobId,
                kind: kind.name,
                ownerId: record.ownerId,
                attempt,
                maxAttempts: record.maxAttempts,
                progress: progress.report,
                softTimeLimit: soft.limit,
                shouldYield: shouldYield(job, kind.name, slotsOf(kind) + interactiveSlots, () => lowered),
                continueAsBulk
              })
            ),
            soft.arm,
            Effect.timeoutOrElse({
              duration: Duration.millis(timeoutMillis),
              orElse: () => {
                const ignored =
                  soft.passed() && soft.limit.millis !== null
                    ? ` (it did not stop at its soft time limit of ${Duration.format(Duration.millis(soft.limit.millis))})`
                    : ""
                const message = `attempt exceeded its time limit of ${Duration.format(Duration.millis(timeoutMillis))}${ignored}`
                return Effect.fail(
                  kind.retryOnTimeout
                    ? new TransientJobError({ code: "timeout", message })
                    : new PermanentJobError({ code: "timeout", message })
                )
              }
            }),
            Effect.raceFirst(aborted),
            // inside the span, so the line carries the trace id of the request that enqueued the job
            Effect.tapError((error) =>
              error._tag === "Cancelled" || (error._tag === "TransientJobError" && error.code === yieldedCode)
                ? Effect.void
                : Effect.logWarning("job attempt failed", { code: error.code, message: error.message, attempt })
            ),
            Effect.annotateLogs({ jobId, userId: record.ownerId ?? "" }),
            Effect.withSpan(
              "job.process",
              {
                kind: "consumer",
                attributes: { "job.id": jobId, "job.kind": kind.name, "job.attempt": attempt },
                ...Option.match(parent, { onNone: () => ({}), onSome: (span) => ({ parent: span }) })
              },
              perJobSpan
            ),
            Effect.exit,
            Effect.ensuring(
              Effect.sync(() => {
                running.delete(jobId)
                if (countedBulk) leaveBulk(kind.name)
              }).pipe(Effect.andThen(jobEnded))
            )
          )
          // a claim already sent must land before the outcome (a late `running` must not follow `retrying`)
          yield* lateClaimIssued ? Fiber.join(starter) : Fiber.interrupt(starter)
          const unwritten = progress.unwritten()
          const lastProgress = progress.latest() ?? record.progress

          if (Exit.isFailure(exit) && Option.isNone(Cause.findErrorOption(exit.cause))) {
            yield* Effect.logError("job died", Cause.pretty(exit.cause))
          }
          // back to `queued` with the attempt not counted and no attempt metric; the job waits
          // `base`-`2 × base` ms in BullMQ's delayed set and keeps its turn
          const backToWaiting = (
            code: string,
            message: string,
            base: number
          ): Effect.Effect<Disposition, DatabaseError> =>
            Effect.gen(function* () {
              const wait: Outcome = { state: "queued", code, message }
              yield* patiently(jobId, store.finish(jobId, wait, unwritten, { ...attemptInfo, attempt: attempt - 1 }))
              yield* events.publish({ jobId, state: "queued", progress: lastProgress }, ownership)
              return { _tag: "wait", delayMillis: base + Math.floor(Math.random() * base) }
            })
          if (yield* imapSlotRequeue(exit, jobId, kind.name)) {
            // no IMAP slot of the account was free (GET /jobs/:id says `waiting: imap slot` from the code)
            return yield* backToWaiting(
              imapSlotBusyCode,
              "waiting for an IMAP connection slot of the account",
              imapSlotRequeueMillis
            )
          }
          if (yieldedAttempt(exit)) {
            // a bulk job gave its slot to interactive work (GET /jobs/:id says `fair share`)
            yield* Effect.logInfo("bulk job yielded its slot to interactive work", { jobId })
            yield* Metric.update(yieldsMetric({ kind: kind.name }), 1)
            const wait = yield* backToWaiting(
              yieldedCode,
              "yielded its slot to interactive work; waiting for its turn",
              yieldRequeueMillis
            )
            // a job that lowered itself to bulk waits under a bulk turn from now on, not its interactive one
            return wait._tag === "wait" && lowered && job.priority < bands.bulk.low
              ? { ...wait, priority: yield* bulkTurn(job, kind.name, record.ownerId) }
              : wait
          }
          // one path for every ending: metrics, the record's final (or retrying) state, the event
          const ending = attemptEnding(exit, attempt >= record.maxAttempts)
          yield* recordAttempt(ending.outcome.state)
          const finished = yield* patiently(jobId, store.finish(jobId, ending.outcome, unwritten, attemptInfo))
          yield* events.publish({ jobId, state: ending.outcome.state, progress: lastProgress }, ownership)
          // a submit joined the job while it ran (JobKind.rerunOnJoin): it runs once more, as a new job.
          // The mark stays on the record until the rerun is submitted: should this fail, or the worker
          // die first, the reconciler submits it (docs/jobs.md, "Run again when it ends")
          if (finished.rerun) {
            yield* jobs.rerun(jobId).pipe(
              Effect.catch((error) =>
                Effect.logWarning("job's rerun not submitted; the reconciler submits it", {
                  jobId,
                  error: error.message
                })
              )
            )
          }
          return ending.disposition
        }).pipe(
          // bookkeeping itself failed (database down): let BullMQ retry the attempt later
          Effect.catchTag("DatabaseError", (error) =>
            logDatabaseError(error).pipe(Effect.as<Disposition>({ _tag: "retry", message: error.message }))
          ),
          Effect.annotateLogs({ kind: processor.kind.name, bullJobId: job.id ?? "" })
        )

      const recordWait = (job: Job, kindName: string, declared: "interactive" | "bulk") =>
        Effect.suspend(() => {
          // only a first start (a job held back by its owner's limit counts its whole wait): a retry's
          // wait is its backoff, not the submit's wait
          if (job.attemptsMade > 0 || job.stalledCounter > 0) return Effect.void
          const workClass =
            job.priority === undefined || job.priority === 0
              ? declared
              : job.priority >= bands.bulk.low
                ? "bulk"
                : "interactive"
          return Metric.update(
            waitMetric({ kind: kindName, class: workClass }),
            Math.max(0, Date.now() - job.timestamp) / 1000
          )
        })

      const slotsKey = (kindName: string, owner: string) => redis.key("fair", kindName, "running", owner)

      /**
       * The owner's per-kind limit (JobLimits): true when the job may start (and holds a slot until
       * `releaseSlot`), false when the owner already runs as many jobs of the kind as allowed. Without
       * an owner, without a limit, or when Redis or the database cannot say, the job starts.
       */
      const claimSlot = (job: Job, kindName: string, owner: string, holdMillis: number) =>
        Effect.gen(function* () {
          const limit = yield* limits.limitFor(owner, kindName)
          if (limit <= 0) return true
          const now = Date.now()
          const answer = yield* redis.use("claim job slot", (client) =>
            client.eval(claimSlotScript, 1, slotsKey(kindName, owner), now, now + holdMillis, job.id ?? "", limit)
          )
          return answer !== 0
        }).pipe(
          Effect.catch((error) =>
            Effect.as(Effect.logWarning("job limit not checked; the job starts", { error: error.message }), true)
          )
        )
      const releaseSlot = (kindName: string, owner: string, jobId: string) =>
        redis
          .use("release job slot", (client) => client.zrem(slotsKey(kindName, owner), jobId))
          .pipe(Effect.catch((error) => Effect.logWarning("job slot not released; it expires", error.message)))

      /**
       * A bulk job handed to a slot while its kind's bulk slots are all taken (it came through one of
       * the interactive-only slots): it waits there up to `bulkLaneHoldMillis` for a bulk slot to
       * free, then, if none did, goes back to waiting with its turn (BullMQ's moveToWait keeps its
       * priority; no attempt spent, nothing recorded: its record stays `queued`, and GET /jobs/:id
       * says `waiting: fair share`). Returns when the job may run.
       */
      const holdForBulkLane = async (job: Job, token: string | undefined, kindName: string, slots: number) => {
        const until = Date.now() + bulkLaneHoldMillis
        while (Date.now() < until) {
          await new Promise((resolve) => setTimeout(resolve, 10))
          if (!bulkLaneFull(kindName, slots)) return
        }
        await runExit(Metric.update(bulkHeldMetric({ kind: kindName }), 1))
        await job.moveToWait(token)
        throw new WaitingError()
      }

      const workers: Array<Worker> = []
      for (const processor of built) {
        const kind = processor.kind
        const connection = yield* redis.connection(`worker:${kind.name}`, "blocking")
        /** One BullMQ attempt of a job of this kind: the owner's limit, then the job, then what BullMQ is told. */
        const runJob = async (job: Job, token: string | undefined): Promise<unknown> => {
          const owner = Option.getOrNull(
            Option.flatMap(decodeEnvelope(job.data), (envelope) => Option.fromNullishOr(envelope.ownerId))
          )
          if (owner !== null) {
            // a claim outlives the attempt's time limit only by the lock: a worker killed while
            // running the job frees its slot by then at the latest
            const holdMillis = Duration.toMillis(Duration.fromInputUnsafe(kind.timeout)) + config.jobLockMillis * 2
            const admitted = await runExit(claimSlot(job, kind.name, owner, holdMillis))
            if (Exit.isSuccess(admitted) && !admitted.value) {
              // past the owner's limit: back to delayed, keeping its priority (its turn) and without
              // spending an attempt (BullMQ's DelayedError), so the record stays `queued` and
              // GET /jobs/:id says `waiting: quota`
              await job.moveToDelayed(
                Date.now() + quotaRetryMillis + Math.floor(Math.random() * quotaRetryMillis),
                token
              )
              throw new DelayedError()
            }
          }
          await runExit(recordWait(job, kind.name, kind.workClass ?? "interactive"))
          const exit = await runExit(processJob(processor, job)).finally(() =>
            owner === null || job.id === undefined ? undefined : runExit(releaseSlot(kind.name, owner, job.id))
          )
          if (Exit.isFailure(exit)) throw new Error("job runtime failed")
          const disposition = exit.value
          switch (disposition._tag) {
            case "done":
              return disposition.result
            case "retry":
              throw new Error(disposition.message)
            case "fail":
              throw new UnrecoverableError(disposition.message)
            case "wait":
              // keeps its priority (its turn), or takes the one it was given (promotion from delayed
              // reads the job's `priority`); BullMQ counts no attempt for a DelayedError
              if (disposition.priority !== undefined) await job.changePriority({ priority: disposition.priority })
              await job.moveToDelayed(Date.now() + disposition.delayMillis, token)
              throw new DelayedError()
          }
        }
        const worker = yield* Effect.acquireRelease(
          Effect.sync(
            () =>
              new Worker(
                kind.name,
                async (job, token) => {
                  busySlots.set(kind.name, (busySlots.get(kind.name) ?? 0) + 1)
                  const bulk = job.priority >= bands.bulk.low
                  try {
                    if (bulk && bulkLaneFull(kind.name, slotsOf(kind)))
                      await holdForBulkLane(job, token, kind.name, slotsOf(kind))
                    if (bulk) enterBulk(kind.name)
                    try {
                      return await runJob(job, token)
                    } finally {
                      if (bulk) leaveBulk(kind.name)
                    }
                  } finally {
                    busySlots.set(kind.name, (busySlots.get(kind.name) ?? 1) - 1)
                  }
                },
                {
                  connection,
                  prefix: redis.prefix,
                  name: identity.name,
                  // the kind's slots, which bulk work may fill, and the interactive-only ones above them
                  concurrency: slotsOf(kind) + interactiveSlots,
                  lockDuration: config.jobLockMillis,
                  stalledInterval: config.jobStalledIntervalMillis,
                  maxStalledCount: 2,
                  settings: {
                    backoffStrategy: (attemptsMade, type) =>
                      type === backoffStrategyName ? retryDelayMillis(kind.retry, attemptsMade) : 1_000
                  }
                }
              )
          ),
          (worker) => closeGracefully(worker, kind.name)
        )
        worker.on("error", (error) => {
          runExit(Effect.logWarning("worker error", { kind: kind.name, error: error.message }))
        })
        // BullMQ can fail a job without our processor (stalled too often): reconcile the record.
        worker.on("failed", (job) => {
          if (job === undefined) return
          const envelope = decodeEnvelope(job.data)
          if (Option.isNone(envelope)) return
          const jobId = envelope.value.jobId
          runExit(
            Effect.gen(function* () {
              // only when BullMQ gave up: an attempt it will retry (delayed) is not stranded, even
              // when our bookkeeping could not record its outcome
              if ((yield* Effect.tryPromise(() => job.getState())) !== "failed") return
              const record = yield* patiently(jobId, store.find(jobId))
              // `queued`: a first attempt that stalled before its late claim
              const state = Option.map(record, (r) => r.view.state)
              const stranded = Option.exists(state, (s) => s === "running" || s === "queued")
              if (Option.isSome(record) && stranded && !running.has(jobId)) {
                yield* patiently(
                  jobId,
                  store.finish(jobId, { state: "failed", code: "stalled", message: job.failedReason })
                )
                yield* events.publish(
                  { jobId, state: "failed", progress: record.value.view.progress },
                  { ownerId: record.value.ownerId, kind: record.value.view.kind }
                )
              }
            }).pipe(
              Effect.catch((error) =>
                Effect.logWarning("could not reconcile the record of a failed job", { jobId, error: String(error) })
              )
            )
          )
        })
        workers.push(worker)
      }

      const closeGracefully = (worker: Worker, kindName: string) =>
        Effect.gen(function* () {
          const graceful = yield* Effect.promise(() => worker.close()).pipe(
            Effect.timeoutOption(Duration.seconds(config.shutdownGraceSeconds))
          )
          if (Option.isNone(graceful)) {
            yield* Effect.logWarning("grace period over; interrupting running jobs", { kind: kindName })
            for (const job of running.values()) job.abort("shutdown")
            yield* Effect.promise(() => worker.close(true)).pipe(Effect.timeout("5 seconds"), Effect.ignore)
          }
          yield* Effect.logInfo("worker closed", { kind: kindName })
        })

      // Cancellation requests reach every worker; the one running the job interrupts it.
      const cancelSubscriber = yield* redis.connection("worker:cancel", "blocking")
      cancelSubscriber.on("message", (_channel: string, jobId: string) => running.get(jobId)?.abort("user"))
      yield* Effect.promise(() => cancelSubscriber.subscribe(cancelChannel(redis.key)))

      yield* Effect.logInfo("worker started", {
        worker: identity.name,
        kinds: built.map((p) => `${p.kind.name}×${slotsOf(p.kind)}`).join(", ")
      })
    })
  )
