import { Queue } from "bullmq"
import { createHash } from "node:crypto"
import { Context, Duration, Effect, Exit, Layer, Option, Schema, type Scope, Stream, type Tracer } from "effect"
import { HttpTraceContext } from "effect/http"
import { SqlError } from "effect/sql"
import { type DatabaseError, fromSqlError } from "../platform/Database.ts"
import { perJobSpan } from "../platform/Telemetry.ts"
import { Redis } from "../platform/Redis.ts"
import { UserId } from "../contract/users/UserId.ts"
import {
  isTerminal,
  JobAlreadyFinished,
  type JobAccepted,
  JobId,
  type JobNotFound,
  type JobView,
  type JobWaiting,
  QueueUnavailable,
  type SubmitRateLimited,
  UnknownJobKind
} from "../contract/jobs/Job.ts"
import { backoffStrategyName, cancelChannel, type JobEnvelope } from "./JobEnvelope.ts"
import { type JobEvent, JobEvents } from "./JobEvents.ts"
import { type AnyJobKind, type JobKind, lowerClass, type WorkClass } from "../contract/jobs/JobKind.ts"
import { assignTurns, imapSlotBusyCode, yieldedCode } from "./FairShare.ts"
import { JobKinds } from "./JobKinds.ts"
import { JobsConfig } from "./JobsConfig.ts"
import { type JobRecord, type ListQuery, JobStore, type NewJob } from "./JobStore.ts"
import { SubmitLimiter } from "./SubmitLimiter.ts"
import { UserScope } from "../users/UserScope.ts"

export class InvalidJobPayload extends Schema.TaggedError<InvalidJobPayload>()("InvalidJobPayload", {
  message: Schema.String
}) {}

export interface SubmitOptions {
  /** The user the job acts for; null for system jobs. */
  readonly ownerId: UserId | null
  /** A hard time limit tighter than the kind's own. */
  readonly timeout?: Duration.Input | undefined
  /** A soft time limit tighter than the kind's (CurrentJob.softTimeLimit); ignored unless before the hard one. */
  readonly softTimeout?: Duration.Input | undefined
  /** A lower class than the kind's (`bulk` for an interactive kind); a higher one is ignored. */
  readonly workClass?: WorkClass | undefined
}

/** Why a queued job has not started: its turn has not come (fair share), or its owner's limit is reached. */
export type Waiting = JobWaiting

/** A job as GET /jobs/:id shows it: its view and why it waits, never its position among others' jobs. */
export interface JobStatus {
  readonly view: JobView
  readonly waiting: Waiting
}

export interface Submitted extends JobAccepted {
  /** False when an equal job (same de-duplication key) was already queued or running. */
  readonly created: boolean
  /**
   * True when the submit joined an equal job that had not started its attempt when the submit looked
   * (its queue entry waiting for its turn, or delayed to a later attempt) and whose payload covers
   * this one (the kind's `covers`): that job's run, which starts after this submit, does what was
   * asked. Absent or false otherwise (a new job, a kind without `covers`, a job that may have
   * started: its run may have passed what this submit is about, so the caller asks again after it).
   */
  readonly covered?: boolean
  /**
   * True when the submit joined an equal job of a kind with `rerunOnJoin` that it does not cover
   * (it may have passed the submit's work) and marked it to run once more when it succeeds: a fresh
   * job with the same payload follows it (docs/jobs.md, "Run again when it ends").
   */
  readonly rerun?: boolean
}

/** A job scheduler: its id, interval and next run (either may be unknown to BullMQ). */
export interface Scheduler {
  readonly id: string
  readonly everyMillis: number | undefined
  readonly next: Date | undefined
}

export type StreamItem =
  | { readonly _tag: "snapshot"; readonly job: JobView }
  | { readonly _tag: "event"; readonly event: JobEvent }

export interface JobsShape {
  /**
   * Records and queues a job. A kind the installation does not register, or a payload its schema
   * refuses to encode, is a bug of the caller (payloads are typed, kinds come from the catalogue):
   * a defect, raised here once rather than at every call site.
   */
  readonly submit: <P, PE, R, RE>(
    kind: JobKind<string, P, PE, R, RE>,
    payload: P,
    options: SubmitOptions
  ) => Effect.Effect<Submitted, QueueUnavailable | DatabaseError>
  /**
   * `submit` whose record commits in one transaction with `write` (the caller's own rows, in the
   * owner's row-level-security scope): both or neither. A process that dies after the commit and
   * before the queue add leaves a `queued` record that the reconciler queues again
   * (JOB_RECONCILE_GRACE_MS). Unlike `submit`, an add that certainly did not reach Redis keeps the
   * record (the rows it goes with are committed): the job is accepted and the reconciler queues it
   * once Redis answers, so this never fails with QueueUnavailable. E.g. a new account and its first
   * sync (accounts/Accounts.ts).
   */
  readonly submitWith: <A, E, R, P, PE, KR, KRE>(
    kind: JobKind<string, P, PE, KR, KRE>,
    payload: P,
    options: SubmitOptions & { readonly ownerId: UserId },
    write: Effect.Effect<A, E, R>
  ) => Effect.Effect<{ readonly written: A; readonly submitted: Submitted }, E | DatabaseError, R>
  /**
   * `submit` for work a user asks for through the API: first spends one of the user's submit tokens
   * (SubmitLimiter), failing with SubmitRateLimited past the budget. Every API handler that queues a
   * job uses this; what the system queues on its own (a sync's follow-up analysis, a scheduler tick)
   * uses `submit` and is never limited.
   */
  /**
   * Spends one of the user's submit tokens without submitting: for a request that must change
   * state before it queues its jobs (reprocess resets the message first), so that a refused
   * request changes nothing. Its jobs then go through `submit`.
   */
  readonly admit: (ownerId: UserId) => Effect.Effect<void, SubmitRateLimited | QueueUnavailable>
  readonly submitForUser: <P, PE, R, RE>(
    kind: JobKind<string, P, PE, R, RE>,
    payload: P,
    options: SubmitOptions & { readonly ownerId: UserId }
  ) => Effect.Effect<Submitted, QueueUnavailable | SubmitRateLimited | DatabaseError>
  /**
   * Queues the job of an existing record again under its own id (BullMQ ignores an add whose id it
   * still holds): the reconciler's repair for a record whose queue entry never landed or was lost.
   */
  readonly requeue: (record: JobRecord) => Effect.Effect<void, QueueUnavailable | UnknownJobKind>
  /**
   * The run a succeeded job owes (its record marked by a submit that joined it, JobKind.rerunOnJoin):
   * submits its kind again with the record's owner, payload and class through `submit` (fair share,
   * limits), then clears the mark. Called by the worker after the final write that returned the
   * mark, and by the reconciler for a mark left behind (a worker that died in between): a second
   * call finds the mark cleared, or joins the rerun, and never loses it. A record that cannot run
   * again (kind not registered, payload no longer valid) has its mark cleared with a warning.
   */
  readonly rerun: (id: string) => Effect.Effect<void, QueueUnavailable | DatabaseError>
  /**
   * Records and queues several jobs of one kind and owner at once (a sync's follow-up work): one
   * statement under the owner's row-level security, one fair-share call, one BullMQ addBulk. Each
   * job is de-duplicated as `submit` does; the results are in the payloads' order.
   */
  readonly submitMany: <P, PE, R, RE>(
    kind: JobKind<string, P, PE, R, RE>,
    payloads: ReadonlyArray<P>,
    options: SubmitOptions
  ) => Effect.Effect<ReadonlyArray<Submitted>, QueueUnavailable | DatabaseError>
  readonly get: (ownerId: UserId, id: string) => Effect.Effect<JobView, JobNotFound | DatabaseError>
  /** The job and why it waits (a queued job only; null otherwise, or when the queue cannot say). */
  readonly status: (ownerId: UserId, id: string) => Effect.Effect<JobStatus, JobNotFound | DatabaseError>
  readonly list: (ownerId: UserId, query: ListQuery) => Effect.Effect<ReadonlyArray<JobView>, DatabaseError>
  /** Removes a waiting job or interrupts a running one, on whichever worker holds it. */
  readonly cancel: (
    ownerId: UserId,
    id: string
  ) => Effect.Effect<JobView, JobNotFound | JobAlreadyFinished | QueueUnavailable | DatabaseError>
  /**
   * Cancels the owner's queued or running job of `kind` whose de-duplication key `payload` gives
   * (e.g. the sync of one account), as `cancel` does; none when there is no such job, or it ended
   * meanwhile.
   */
  readonly cancelByKey: <P, PE, R, RE>(
    ownerId: UserId,
    kind: JobKind<string, P, PE, R, RE>,
    payload: P
  ) => Effect.Effect<Option.Option<JobView>, QueueUnavailable | DatabaseError>
  /**
   * Runs `kind` every `everyMillis` through a BullMQ job scheduler named `schedulerId` (upserted: an
   * existing one with the same interval keeps its next run). A new scheduler's first run: `now`;
   * `spread`, at a random point of the first interval, so many created at once do not fire together;
   * `after interval`, one interval from now (its first run was submitted otherwise).
   * Scheduled jobs have no record: their kind must have its own worker that submits recorded jobs
   * (see accounts/AccountSchedules.ts).
   */
  readonly schedule: <P, PE, R, RE>(
    kind: JobKind<string, P, PE, R, RE>,
    schedulerId: string,
    options: { readonly everyMillis: number; readonly firstRun: "now" | "spread" | "after interval" },
    payload: P
  ) => Effect.Effect<void, QueueUnavailable>
  readonly unschedule: (kind: AnyJobKind, schedulerId: string) => Effect.Effect<void, QueueUnavailable>
  /** Every scheduler of a kind. */
  readonly schedulers: (kind: AnyJobKind) => Effect.Effect<ReadonlyArray<Scheduler>, QueueUnavailable>
  /** One scheduler of a kind, if it exists. */
  readonly scheduler: (
    kind: AnyJobKind,
    schedulerId: string
  ) => Effect.Effect<Option.Option<Scheduler>, QueueUnavailable>
  /** The job's current state, then its changes, ending after the final state. */
  readonly watch: (
    ownerId: UserId,
    id: string
  ) => Effect.Effect<Stream.Stream<StreamItem, DatabaseError>, JobNotFound | DatabaseError, Scope.Scope>
  /** The BullMQ queue of a kind, for inspection and schedulers. */
  readonly queue: (kindName: string) => Effect.Effect<Queue, UnknownJobKind>
}

/**
 * How often a submit tries again when the job it joined ended before it could mark it: each round
 * means another job of the key ended meanwhile, so more than a couple is a pathological race.
 */
const maxJoinRounds = 5

/** Keys up to this length are stored as they are (readable in the jobs table). */
const maxPlainKeyLength = 200

/**
 * The de-duplication key as the jobs table stores it: a long key (a kind's key naming a list of
 * message ids) becomes its SHA-256, so any key fits the unique index and equal keys stay equal.
 */
export const storedDeduplicationKey = (key: string): string =>
  key.length <= maxPlainKeyLength ? key : `sha256:${createHash("sha256").update(key).digest("hex")}`

const nextRun = (next: number | null | undefined): Date | undefined =>
  next === undefined || next === null ? undefined : new Date(next)

const removableStates: ReadonlyArray<string> = ["waiting", "delayed", "prioritized", "waiting-children", "paused"]

/**
 * BullMQ states of a job whose next attempt has not started: waiting (FIFO), prioritized (its fair-share
 * turn), delayed (a retry, a yield, a per-user limit or an IMAP slot), paused (its queue is). BullMQ moves a job from these
 * to `active` atomically (one Lua script), so a job seen in one of them starts its attempt after the look.
 */
const notStartedStates: ReadonlyArray<string> = ["waiting", "prioritized", "delayed", "paused"]

/** A call to BullMQ (Redis) as an Effect; a failure, or no answer within 3 s, is QueueUnavailable naming the call. */
export const queueCall = <A>(what: string, f: () => Promise<A>, timeout: Duration.Input = "3 seconds") =>
  Effect.tryPromise({
    try: f,
    catch: () => new QueueUnavailable({ message: `job queue unavailable (${what})` })
  }).pipe(
    Effect.timeoutOrElse({
      duration: timeout,
      orElse: () => Effect.fail(new QueueUnavailable({ message: `job queue unavailable (${what} timed out)` }))
    })
  )

export class Jobs extends Context.Service<Jobs, JobsShape>()("mail-helper/Jobs") {
  static readonly layer = Layer.effect(
    Jobs,
    Effect.gen(function* () {
      const redis = yield* Redis
      const store = yield* JobStore
      const events = yield* JobEvents
      const kinds = yield* JobKinds
      const config = yield* JobsConfig
      const limiter = yield* SubmitLimiter
      const scope = yield* UserScope

      const queues = new Map<string, Queue>()
      for (const kind of kinds.all) {
        const queue = yield* Effect.acquireRelease(
          Effect.sync(() => new Queue(kind.name, { connection: redis.client, prefix: redis.prefix })),
          (queue) => Effect.promise(() => queue.close()).pipe(Effect.timeout("3 seconds"), Effect.ignore)
        )
        // without a listener an unreachable Redis would surface as an unhandled 'error' event
        queue.on("error", () => {})
        queues.set(kind.name, queue)
      }
      const queueOf = (name: string) =>
        Effect.fromNullishOr(queues.get(name)).pipe(
          Effect.mapError(() => new UnknownJobKind({ message: `job kind ${name} is not registered` }))
        )

      /** The queue of a kind the caller names in code: a kind the installation lacks is a wiring bug. */
      const registeredQueue = (kind: AnyJobKind) => Effect.orDie(queueOf(kind.name))

      /** A payload typed by its kind's schema that still cannot be encoded is the caller's bug. */
      const encodePayload = <P, PE, R, RE>(kind: JobKind<string, P, PE, R, RE>, payload: P) =>
        Schema.encodeEffect(kind.payload)(payload).pipe(
          Effect.mapError(
            (error) => new InvalidJobPayload({ message: `invalid ${kind.name} payload: ${error.message}` })
          ),
          Effect.orDie
        )

      /**
       * The turns (BullMQ priorities) of jobs of one kind and class, one per owner in order
       * (FairShare.ts), or none when fair share is off. Never fails: when Redis does not answer
       * (timed out, connection down) each job gets its class's last priority and the add that
       * follows decides, as before fair share, whether the job was queued, not sent, or unknown.
       */
      const turnsFor = (
        queue: Queue,
        kind: AnyJobKind,
        workClass: WorkClass,
        owners: ReadonlyArray<string | null>
      ): Effect.Effect<ReadonlyArray<number | undefined>> =>
        config.fairShare
          ? assignTurns(redis, queue.qualifiedName, kind.name, workClass, owners)
          : Effect.succeed(owners.map(() => undefined))

      const classOf = (kind: AnyJobKind, asked: WorkClass | undefined) =>
        lowerClass(kind.workClass ?? "interactive", asked)

      /** BullMQ options of every job of a kind (the same for a first add and a reconciler's re-add). */
      const addOptions = (kind: AnyJobKind, id: string, priority: number | undefined) => ({
        jobId: id,
        ...(priority === undefined ? {} : { priority }),
        attempts: kind.retry.attempts,
        backoff: { type: backoffStrategyName },
        // BullMQ keeps finished jobs only briefly: the durable record lives in PostgreSQL
        removeOnComplete: { age: 3600, count: 1000 },
        removeOnFail: { age: 24 * 3600, count: 5000 }
      })

      /**
       * The add of one or several new jobs, told apart by what Redis may have done with it: `added`;
       * `notSent` when the client refused to send it (ioredis fails a command at once while its
       * connection is down, the offline queue being off), so no job is queued; `unknown` when it was
       * sent and no answer came (timed out, or the connection dropped after sending): it may have landed.
       */
      const addJobs = (
        queue: Queue,
        kind: AnyJobKind,
        envelopes: ReadonlyArray<JobEnvelope>,
        priorities: ReadonlyArray<number | undefined>
      ) =>
        Effect.tryPromise({
          try: (): Promise<unknown> => {
            const [only] = envelopes
            return envelopes.length === 1 && only !== undefined
              ? queue.add(kind.name, only, addOptions(kind, only.jobId, priorities[0]))
              : queue.addBulk(
                  envelopes.map((envelope, index) => ({
                    name: kind.name,
                    data: envelope,
                    opts: addOptions(kind, envelope.jobId, priorities[index])
                  }))
                )
          },
          catch: (cause) => (cause instanceof Error ? cause.message : String(cause))
        }).pipe(
          Effect.timeoutOption(envelopes.length === 1 ? "3 seconds" : "5 seconds"),
          Effect.match({
            onSuccess: Option.match({
              onNone: () => ({ _tag: "unknown" as const, reason: "timed out" }),
              onSome: () => ({ _tag: "added" as const })
            }),
            onFailure: (message) =>
              /Stream isn't writeable|enableOfflineQueue/.test(message)
                ? { _tag: "notSent" as const, reason: message }
                : { _tag: "unknown" as const, reason: message }
          })
        )

      /**
       * The tail of `submit` and `submitMany`, once records are committed: the new jobs' turns, their
       * queue add, and what the caller is told. Added: `accepted`. Unknown (it may have landed, and a
       * worker may run it already): the records stay and the jobs are accepted; the reconciler queues
       * them again (same ids) if they did not land. Certainly not queued: the records are withdrawn and
       * QueueUnavailable says nothing was accepted; if PostgreSQL cannot take the withdrawal either,
       * the records stay and the jobs are accepted after all (the reconciler queues them once Redis is back).
       */
      const enqueueFresh = <A>(
        queue: Queue,
        kind: AnyJobKind,
        workClass: WorkClass,
        ownerId: UserId | null,
        envelopes: ReadonlyArray<JobEnvelope>,
        accepted: A
      ): Effect.Effect<A, QueueUnavailable> =>
        Effect.gen(function* () {
          if (envelopes.length === 0) return accepted
          const what = envelopes.length === 1 ? "add" : "addBulk"
          const turns = yield* turnsFor(
            queue,
            kind,
            workClass,
            envelopes.map(() => ownerId)
          )
          const added = yield* addJobs(queue, kind, envelopes, turns)
          if (added._tag === "added") return accepted
          const jobIds = envelopes.map((envelope) => envelope.jobId)
          if (added._tag === "unknown") {
            yield* Effect.logWarning("queue add unconfirmed; the jobs are accepted and the reconciler ensures them", {
              kind: kind.name,
              jobIds: jobIds.slice(0, 10).join(","),
              jobs: jobIds.length,
              reason: added.reason
            })
            return accepted
          }
          const withdrawn = yield* Effect.forEach(jobIds, (id) => store.remove(id), { discard: true }).pipe(
            Effect.as(true),
            Effect.catch((error) =>
              Effect.as(
                Effect.logWarning("records of unqueued jobs not withdrawn; the reconciler will queue them", {
                  kind: kind.name,
                  jobs: jobIds.length,
                  error: error.message
                }),
                false
              )
            )
          )
          if (!withdrawn) return accepted
          return yield* new QueueUnavailable({ message: `job queue unavailable (${what}: ${added.reason})` })
        })

      const envelopeOf = (
        id: JobId,
        encoded: unknown,
        options: SubmitOptions,
        span: Option.Option<Tracer.Span>
      ): JobEnvelope => {
        const traceparent = Option.flatMap(span, (s) =>
          Option.fromNullishOr(HttpTraceContext.toHeaders(s)["traceparent"])
        )
        return {
          jobId: id,
          payload: encoded,
          ownerId: options.ownerId,
          ...Option.match(traceparent, { onNone: () => ({}), onSome: (value) => ({ traceparent: value }) }),
          ...(options.timeout === undefined
            ? {}
            : { timeoutMillis: Duration.toMillis(Duration.fromInputUnsafe(options.timeout)) }),
          ...(options.softTimeout === undefined
            ? {}
            : { softTimeoutMillis: Duration.toMillis(Duration.fromInputUnsafe(options.softTimeout)) })
        }
      }

      /** The record of a new job; its class is kept, so a reconciler's re-add keeps a lowered class. */
      const newRecord = <P, PE, R, RE>(
        kind: JobKind<string, P, PE, R, RE>,
        id: JobId,
        payload: P,
        encoded: unknown,
        options: SubmitOptions,
        workClass: WorkClass,
        span: Option.Option<Tracer.Span>
      ): NewJob => ({
        id,
        kind: kind.name,
        ownerId: options.ownerId,
        payload: encoded,
        maxAttempts: kind.retry.attempts,
        deduplicationKey:
          kind.deduplicationKey === undefined
            ? null
            : storedDeduplicationKey(kind.deduplicationKey(payload, options.ownerId)),
        traceId: Option.match(span, { onNone: () => null, onSome: (s) => s.traceId }),
        workClass
      })

      /** What a submit prepares before its critical section: the queue, the job's id, envelope, class and record. */
      const prepare = <P, PE, R, RE>(kind: JobKind<string, P, PE, R, RE>, payload: P, options: SubmitOptions) =>
        Effect.gen(function* () {
          const queue = yield* registeredQueue(kind)
          const encoded = yield* encodePayload(kind, payload)
          const span = yield* Effect.option(Effect.currentSpan)
          const id = JobId.make(crypto.randomUUID())
          const workClass = classOf(kind, options.workClass)
          const envelope = envelopeOf(id, encoded, options, span)
          return {
            queue,
            id,
            envelope,
            workClass,
            record: newRecord(kind, id, payload, encoded, options, workClass, span)
          }
        })

      /**
       * Between a new record's commit and its queue add: the tests' failpoint, then the owner's
       * `job.changed` (queued), which leaves before a worker can take the job and publish its next
       * state; if the add fails because Redis is down, so does this publish.
       */
      const committed = (kind: AnyJobKind, id: JobId, ownerId: UserId | null) =>
        Effect.gen(function* () {
          if (Option.isSome(config.failpointSubmitPauseMillis)) {
            yield* Effect.logWarning("failpoint: submit paused between record and queue", { jobId: id })
            yield* Effect.sleep(config.failpointSubmitPauseMillis.value)
          }
          yield* events.publish({ jobId: id, state: "queued", progress: null }, { ownerId, kind: kind.name })
        })

      /**
       * Whether the equal job a submit joined does what the submit asked (`Submitted.covered`): its
       * payload covers the submit's (the kind's `covers`) and its queue entry shows that its attempt
       * has not started. The record's `queued` state cannot tell: a first attempt runs before it
       * claims its record (WorkerRuntime's late claim). Looked at after the submit's cause (new mail
       * on the server) happened, so an attempt that starts after the look sees it. Any doubt (no
       * `covers`, an undecodable payload, Redis not answering) is false: the caller asks again.
       */
      const coveredBy = <P, PE, R, RE>(
        queue: Queue,
        kind: JobKind<string, P, PE, R, RE>,
        existing: JobRecord,
        asked: P
      ): Effect.Effect<boolean> => {
        const covers = kind.covers
        if (covers === undefined || isTerminal(existing.view.state)) return Effect.succeed(false)
        return Schema.decodeUnknownEffect(kind.payload)(existing.payload).pipe(
          Effect.flatMap((queued) =>
            covers(queued, asked)
              ? Effect.map(
                  queueCall("getState", () => queue.getJobState(existing.view.id)),
                  (state) => notStartedStates.includes(state)
                )
              : Effect.succeed(false)
          ),
          Effect.orElseSucceed(() => false)
        )
      }

      /**
       * What a submit that found an equal active job answers (`created: false`). A covered submit, or
       * one of a kind without `rerunOnJoin`, just joins. Otherwise the job is marked to run again
       * when it succeeds; none when it had already ended (the mark's UPDATE is ordered with its final
       * write by the row lock), and the caller then submits again, which creates a new job.
       */
      const join = <P, PE, R, RE>(
        queue: Queue,
        kind: JobKind<string, P, PE, R, RE>,
        record: JobRecord,
        payload: P,
        ownerId: UserId | null
      ): Effect.Effect<Option.Option<Submitted>, DatabaseError> =>
        Effect.gen(function* () {
          const covered = yield* coveredBy(queue, kind, record, payload)
          const joined: Submitted = { jobId: record.view.id, state: record.view.state, created: false, covered }
          if (covered || kind.rerunOnJoin !== true) return Option.some(joined)
          const marked = yield* store.requestRerun(ownerId, record.view.id)
          return marked ? Option.some({ ...joined, rerun: true }) : Option.none()
        })

      const submit = <P, PE, R, RE>(
        kind: JobKind<string, P, PE, R, RE>,
        payload: P,
        options: SubmitOptions
      ): Effect.Effect<Submitted, QueueUnavailable | DatabaseError> =>
        Effect.gen(function* () {
          const { queue, id, envelope, workClass, record: fresh } = yield* prepare(kind, payload, options)
          // The record's commit and the queue add form one critical section that an interruption
          // (a client resetting its connection, a request timeout) cannot split: it waits for the
          // section, bounded by one statement and the add's 3 s timeout. A process that dies inside
          // it leaves a `queued` record without a queue entry, which the reconciler queues again.
          return yield* Effect.uninterruptible(
            Effect.gen(function* () {
              for (let round = 1; ; round++) {
                const { record, created } = yield* store.create(fresh)
                if (created) break
                const joined = yield* join(queue, kind, record, payload, options.ownerId)
                if (Option.isSome(joined)) return joined.value
                // the joined job ended before the mark: a new job does the work (its key is free)
                if (round === maxJoinRounds) {
                  yield* Effect.logWarning("jobs kept ending before a joining submit could mark them; not marked", {
                    kind: kind.name,
                    jobId: record.view.id
                  })
                  return { jobId: record.view.id, state: record.view.state, created: false }
                }
              }
              yield* committed(kind, id, options.ownerId)
              const accepted: Submitted = { jobId: id, state: "queued", created: true }
              return yield* enqueueFresh(queue, kind, workClass, options.ownerId, [envelope], accepted)
            })
          )
        }).pipe(Effect.withSpan("Jobs.submit", { attributes: { "job.kind": kind.name } }, perJobSpan))

      const submitWith = <A, E, R, P, PE, KR, KRE>(
        kind: JobKind<string, P, PE, KR, KRE>,
        payload: P,
        options: SubmitOptions & { readonly ownerId: UserId },
        write: Effect.Effect<A, E, R>
      ) =>
        Effect.gen(function* () {
          const { queue, id, envelope, workClass, record } = yield* prepare(kind, payload, options)
          // as in `submit`, one critical section; the caller's rows and the record commit together
          return yield* Effect.uninterruptible(
            Effect.gen(function* () {
              const { written, job } = yield* scope
                .run(
                  options.ownerId,
                  Effect.all({
                    written: write,
                    job: store.create(record)
                  })
                )
                .pipe(Effect.mapError((error) => (SqlError.isSqlError(error) ? fromSqlError(error) : error)))
              if (!job.created) {
                return {
                  written,
                  submitted: { jobId: job.record.view.id, state: job.record.view.state, created: false }
                }
              }
              yield* committed(kind, id, options.ownerId)
              const turns = yield* turnsFor(queue, kind, workClass, [options.ownerId])
              const added = yield* addJobs(queue, kind, [envelope], turns)
              if (added._tag !== "added") {
                yield* Effect.logWarning("queue add not confirmed; the job is accepted and the reconciler queues it", {
                  kind: kind.name,
                  jobId: id,
                  reason: added.reason
                })
              }
              return { written, submitted: { jobId: id, state: "queued" as const, created: true } }
            })
          )
        }).pipe(Effect.withSpan("Jobs.submitWith", { attributes: { "job.kind": kind.name } }, perJobSpan))

      const submitMany = <P, PE, R, RE>(
        kind: JobKind<string, P, PE, R, RE>,
        payloads: ReadonlyArray<P>,
        options: SubmitOptions
      ) =>
        Effect.gen(function* () {
          if (payloads.length === 0) return []
          const queue = yield* registeredQueue(kind)
          const span = yield* Effect.option(Effect.currentSpan)
          const workClass = classOf(kind, options.workClass)
          const jobs = yield* Effect.forEach(payloads, (payload) =>
            Effect.map(encodePayload(kind, payload), (encoded) => {
              const id = JobId.make(crypto.randomUUID())
              return {
                envelope: envelopeOf(id, encoded, options, span),
                record: newRecord(kind, id, payload, encoded, options, workClass, span)
              }
            })
          )
          // one critical section, as in `submit`: records committed, then every queue entry
          return yield* Effect.uninterruptible(
            Effect.gen(function* () {
              const created = yield* store.createMany(
                options.ownerId,
                jobs.map((job) => job.record)
              )
              const accepted = created.map(({ record, created }) => ({
                jobId: record.view.id,
                state: created ? ("queued" as const) : record.view.state,
                created
              }))
              const fresh = jobs.filter((_, index) => created[index]?.created === true).map((job) => job.envelope)
              const queued = yield* enqueueFresh(queue, kind, workClass, options.ownerId, fresh, accepted)
              if (kind.rerunOnJoin !== true) return queued
              // as `submit` joins: mark what a joined job may have passed; one that ended meanwhile, submit anew
              return yield* Effect.forEach(queued, (answer, index) => {
                const payload = payloads[index]
                const joined = created[index]
                if (answer.created || payload === undefined || joined === undefined) return Effect.succeed(answer)
                return Effect.flatMap(join(queue, kind, joined.record, payload, options.ownerId), (marked) =>
                  Option.isSome(marked) ? Effect.succeed(marked.value) : submit(kind, payload, options)
                )
              })
            })
          )
        }).pipe(
          Effect.withSpan("Jobs.submitMany", { attributes: { "job.kind": kind.name, "jobs.count": payloads.length } })
        )

      const admit = (ownerId: UserId) => limiter.take(ownerId)

      const submitForUser = <P, PE, R, RE>(
        kind: JobKind<string, P, PE, R, RE>,
        payload: P,
        options: SubmitOptions & { readonly ownerId: UserId }
      ) => Effect.andThen(admit(options.ownerId), submit(kind, payload, options))

      const requeue = (record: JobRecord) =>
        Effect.gen(function* () {
          const kind = kinds.get(record.view.kind)
          if (kind === undefined) {
            return yield* new UnknownJobKind({ message: `job kind ${record.view.kind} is not registered` })
          }
          const queue = yield* queueOf(kind.name)
          const envelope: JobEnvelope = {
            jobId: record.view.id,
            payload: record.payload,
            ownerId: record.ownerId
          }
          // the same priority path as a submit, in the class the submit gave (a lowered class stays lowered;
          // a record from before migration 0070 has none: the kind's)
          const [priority] = yield* turnsFor(queue, kind, classOf(kind, record.workClass ?? undefined), [
            record.ownerId
          ])
          yield* queueCall("add", () => queue.add(kind.name, envelope, addOptions(kind, record.view.id, priority)))
        })

      const rerun = (id: string) =>
        Effect.gen(function* () {
          const found = yield* store.find(id)
          // pruned, or another caller (the worker, the reconciler) submitted it already
          if (Option.isNone(found) || !found.value.rerunRequested) return
          const record = found.value
          const kind = kinds.get(record.view.kind)
          const payload =
            kind === undefined ? Option.none() : Exit.getSuccess(Schema.decodeUnknownExit(kind.payload)(record.payload))
          const ownerId =
            record.ownerId === null
              ? Option.some(null)
              : Exit.getSuccess(Schema.decodeUnknownExit(UserId)(record.ownerId))
          if (kind === undefined || Option.isNone(payload) || Option.isNone(ownerId)) {
            yield* Effect.logWarning("a job marked to run again cannot run again; mark cleared", {
              jobId: id,
              kind: record.view.kind
            })
            return yield* store.clearRerun(id)
          }
          const again = yield* submit(kind, payload.value, {
            ownerId: ownerId.value,
            workClass: record.workClass ?? undefined
          })
          yield* Effect.logDebug("job run again: a submit joined it while it ran", {
            jobId: id,
            kind: kind.name,
            rerunJobId: again.jobId,
            created: again.created
          })
          yield* store.clearRerun(id)
        }).pipe(Effect.withSpan("Jobs.rerun"))

      const get = (ownerId: UserId, id: string) => Effect.map(store.get(ownerId, id), (record) => record.view)

      const status = (ownerId: UserId, id: string) =>
        Effect.gen(function* () {
          const view = yield* get(ownerId, id)
          if (view.state !== "queued") return { view, waiting: null }
          const queue = queues.get(view.kind)
          if (queue === undefined) return { view, waiting: null }
          // the job's own BullMQ state only: its position among other users' jobs is never shown
          const state = yield* queueCall("getState", () => queue.getJobState(id)).pipe(
            Effect.orElseSucceed(() => "unknown")
          )
          // a queued record whose entry is delayed was held back by its owner's limit, or by its account's
          // IMAP slots when its last attempt said so (a retry's record is `retrying`)
          // a bulk job that yielded its slot to interactive work is briefly delayed: it waits for its turn
          const waiting: Waiting =
            state === "delayed"
              ? view.error?.code === imapSlotBusyCode
                ? "imap slot"
                : view.error?.code === yieldedCode
                  ? "fair share"
                  : "quota"
              : config.fairShare && (state === "prioritized" || state === "waiting")
                ? "fair share"
                : null
          return { view, waiting }
        })

      const list = (ownerId: UserId, query: ListQuery) =>
        Effect.map(store.list(ownerId, query), (records) => records.map((record) => record.view))

      const cancel = (ownerId: UserId, id: string) =>
        Effect.gen(function* () {
          const record = yield* store.get(ownerId, id)
          if (isTerminal(record.view.state)) {
            return yield* new JobAlreadyFinished({
              message: `job ${id} already ended as ${record.view.state}`,
              state: record.view.state
            })
          }
          // Marked first: a worker that takes the job after this point sees the request and does not start it.
          yield* store.requestCancel(id)
          const queue = yield* queueOf(record.view.kind).pipe(Effect.orDie)
          const bullJob = yield* queueCall("getJob", () => queue.getJob(id))
          const bullState = bullJob === undefined ? "missing" : yield* queueCall("getState", () => bullJob.getState())
          const removed =
            bullJob !== undefined && removableStates.includes(bullState)
              ? yield* queueCall("remove", () => bullJob.remove().then(() => true)).pipe(
                  // it became active meanwhile: the worker will be told below
                  Effect.orElseSucceed(() => false)
                )
              : bullState === "missing"
          if (removed) {
            yield* store.finish(id, { state: "cancelled", message: "cancelled before it started" })
            yield* events.publish(
              { jobId: id, state: "cancelled", progress: record.view.progress },
              { ownerId: record.ownerId, kind: record.view.kind }
            )
          } else {
            yield* redis
              .use("publish cancel", (client) => client.publish(cancelChannel(redis.key), id))
              .pipe(Effect.mapError((error) => new QueueUnavailable({ message: error.message })))
          }
          return (yield* store.get(ownerId, id)).view
        }).pipe(Effect.withSpan("Jobs.cancel"))

      const cancelByKey = <P, PE, R, RE>(ownerId: UserId, kind: JobKind<string, P, PE, R, RE>, payload: P) =>
        Effect.gen(function* () {
          if (kind.deduplicationKey === undefined) {
            return yield* Effect.die(new Error(`job kind ${kind.name} has no de-duplication key to cancel by`))
          }
          const key = storedDeduplicationKey(kind.deduplicationKey(payload, ownerId))
          const active = yield* store.findActive(ownerId, kind.name, key)
          if (Option.isNone(active)) return Option.none()
          return yield* cancel(ownerId, active.value.view.id).pipe(
            Effect.map(Option.some),
            // it ended (or went) between the read and the cancel: nothing left to cancel
            Effect.catchTag(["JobNotFound", "JobAlreadyFinished"], () => Effect.succeedNone)
          )
        }).pipe(Effect.withSpan("Jobs.cancelByKey", { attributes: { "job.kind": kind.name } }))

      /** BullMQ's scheduler calls answer within 5 s (a reconciliation pages through many). */
      const schedulerCall = <A>(what: string, f: () => Promise<A>) => queueCall(what, f, "5 seconds")

      const schedule = <P, PE, R, RE>(
        kind: JobKind<string, P, PE, R, RE>,
        schedulerId: string,
        options: { readonly everyMillis: number; readonly firstRun: "now" | "spread" | "after interval" },
        payload: P
      ) =>
        Effect.gen(function* () {
          const queue = yield* registeredQueue(kind)
          const data = yield* encodePayload(kind, payload)
          yield* schedulerCall("upsertJobScheduler", () =>
            queue.upsertJobScheduler(
              schedulerId,
              {
                every: options.everyMillis,
                ...(options.firstRun === "spread"
                  ? { startDate: Date.now() + Math.floor(Math.random() * options.everyMillis) }
                  : options.firstRun === "after interval"
                    ? { startDate: Date.now() + options.everyMillis }
                    : {})
              },
              {
                name: "tick",
                data,
                opts: {
                  attempts: kind.retry.attempts,
                  // a scheduled job runs on a plain BullMQ worker, without our backoff strategy
                  backoff: {
                    type: "exponential",
                    delay: Duration.toMillis(Duration.fromInputUnsafe(kind.retry.initialDelay))
                  },
                  removeOnComplete: true,
                  removeOnFail: { age: 24 * 3600, count: 1000 }
                }
              }
            )
          )
        })

      const unschedule = (kind: AnyJobKind, schedulerId: string) =>
        Effect.flatMap(registeredQueue(kind), (queue) =>
          schedulerCall("removeJobScheduler", () => queue.removeJobScheduler(schedulerId))
        ).pipe(Effect.asVoid)

      const schedulers = (kind: AnyJobKind) =>
        Effect.gen(function* () {
          const queue = yield* registeredQueue(kind)
          const found: Array<Scheduler> = []
          for (let start = 0; ; start += 500) {
            const page = yield* schedulerCall("getJobSchedulers", () =>
              queue.getJobSchedulers(start, start + 499, true)
            )
            for (const scheduler of page) {
              found.push({
                id: scheduler.key,
                everyMillis: scheduler.every ?? undefined,
                next: nextRun(scheduler.next)
              })
            }
            if (page.length < 500) break
          }
          return found
        })

      const scheduler = (kind: AnyJobKind, schedulerId: string) =>
        Effect.flatMap(registeredQueue(kind), (queue) =>
          schedulerCall("getJobScheduler", () => queue.getJobScheduler(schedulerId))
        ).pipe(
          Effect.map((found) =>
            found === undefined
              ? Option.none()
              : Option.some({ id: schedulerId, everyMillis: found.every ?? undefined, next: nextRun(found.next) })
          )
        )

      const watch = (ownerId: UserId, id: string) =>
        Effect.gen(function* () {
          // Subscribe before reading the snapshot, so no change falls between the two.
          const changes = yield* events.subscribe(id)
          const first = yield* store.get(ownerId, id)
          const snapshot = Stream.succeed<StreamItem>({ _tag: "snapshot", job: first.view })
          if (isTerminal(first.view.state)) return snapshot
          const live = changes.pipe(
            Stream.map((event): StreamItem => ({ _tag: "event", event })),
            Stream.takeUntil((item) => item._tag === "event" && isTerminal(item.event.state))
          )
          return Stream.concat(snapshot, live)
        })

      const queue = (kindName: string) => queueOf(kindName)

      return Jobs.of({
        submit,
        submitWith,
        admit,
        submitForUser,
        submitMany,
        requeue,
        rerun,
        get,
        status,
        list,
        cancel,
        cancelByKey,
        schedule,
        unschedule,
        schedulers,
        scheduler,
        watch,
        queue
      })
    })
  )
}

export type { AnyJobKind }
