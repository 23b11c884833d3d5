import { Queue } from "bullmq"
import { Context, Duration, Effect, Layer, Option, Schema, type Scope, Stream } from "effect"
import { HttpTraceContext } from "effect/http"
import type { DatabaseError } from "../platform/Database.ts"
import { perJobSpan } from "../platform/Telemetry.ts"
import { Redis } from "../platform/Redis.ts"
import type { UserId } from "../users/UserId.ts"
import {
  isTerminal,
  JobAlreadyFinished,
  type JobAccepted,
  JobId,
  type JobNotFound,
  type JobState,
  type JobView,
  QueueUnavailable,
  UnknownJobKind
} from "./Job.ts"
import { backoffStrategyName, cancelChannel, type JobEnvelope } from "./JobEnvelope.ts"
import { type JobEvent, JobEvents } from "./JobEvents.ts"
import type { AnyJobKind, JobKind } from "./JobKind.ts"
import { JobKinds } from "./JobKinds.ts"
import { type ListQuery, JobStore } from "./JobStore.ts"

export class InvalidJobPayload extends Schema.TaggedError<InvalidJobPayload>()("InvalidJobPayload", {
  message: Schema.String
}) {}

export interface SubmitOptions {
  /** The user the job acts for; null for system jobs. */
  readonly ownerId: UserId | null
  /** A hard time limit tighter than the kind's own. */
  readonly timeout?: Duration.Input | undefined
}

export interface Submitted extends JobAccepted {
  /** False when an equal job (same de-duplication key) was already queued or running. */
  readonly created: boolean
}

export type StreamItem =
  | { readonly _tag: "snapshot"; readonly job: JobView }
  | { readonly _tag: "event"; readonly event: JobEvent }

export interface JobsShape {
  readonly submit: <P, PE, R, RE>(
    kind: JobKind<string, P, PE, R, RE>,
    payload: P,
    options: SubmitOptions
  ) => Effect.Effect<Submitted, InvalidJobPayload | QueueUnavailable | UnknownJobKind | DatabaseError>
  readonly get: (ownerId: UserId, id: string) => Effect.Effect<JobView, JobNotFound | DatabaseError>
  readonly list: (ownerId: UserId, query: ListQuery) => Effect.Effect<ReadonlyArray<JobView>, DatabaseError>
  /** Removes a waiting job or interrupts a running one, on whichever worker holds it. */
  readonly cancel: (
    ownerId: UserId,
    id: string
  ) => Effect.Effect<JobView, JobNotFound | JobAlreadyFinished | QueueUnavailable | DatabaseError>
  /** The job's current state, then its changes, ending after the final state. */
  readonly watch: (
    ownerId: UserId,
    id: string
  ) => Effect.Effect<Stream.Stream<StreamItem, DatabaseError>, JobNotFound | DatabaseError, Scope.Scope>
  /** The BullMQ queue of a kind, for inspection and schedulers. */
  readonly queue: (kindName: string) => Effect.Effect<Queue, UnknownJobKind>
}

const removableStates: ReadonlyArray<string> = ["waiting", "delayed", "prioritized", "waiting-children", "paused"]

export class Jobs extends Context.Service<Jobs, JobsShape>()("mail-helper/Jobs") {
  static readonly layer = Layer.effect(
    Jobs,
    Effect.gen(function* () {
      const redis = yield* Redis
      const store = yield* JobStore
      const events = yield* JobEvents
      const kinds = yield* JobKinds

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
      const queueCall = <A>(what: string, f: () => Promise<A>) =>
        Effect.tryPromise({
          try: f,
          catch: () => new QueueUnavailable({ message: `job queue unavailable (${what})` })
        }).pipe(
          Effect.timeoutOrElse({
            duration: "3 seconds",
            orElse: () => Effect.fail(new QueueUnavailable({ message: `job queue unavailable (${what} timed out)` }))
          })
        )

      const submit = <P, PE, R, RE>(kind: JobKind<string, P, PE, R, RE>, payload: P, options: SubmitOptions) =>
        Effect.gen(function* () {
          const queue = yield* queueOf(kind.name)
          const encoded = yield* Schema.encodeEffect(kind.payload)(payload).pipe(
            Effect.mapError(
              (error) => new InvalidJobPayload({ message: `invalid ${kind.name} payload: ${error.message}` })
            )
          )
          const span = yield* Effect.option(Effect.currentSpan)
          const traceparent = Option.flatMap(span, (s) =>
            Option.fromNullishOr(HttpTraceContext.toHeaders(s)["traceparent"])
          )
          const id = JobId.make(crypto.randomUUID())
          const { record, created } = yield* store.create({
            id,
            kind: kind.name,
            ownerId: options.ownerId,
            payload: encoded,
            maxAttempts: kind.retry.attempts,
            deduplicationKey: kind.deduplicationKey?.(payload) ?? null,
            traceId: Option.match(span, { onNone: () => null, onSome: (s) => s.traceId })
          })
          if (!created) return { jobId: record.view.id, state: record.view.state, created }
          const envelope: JobEnvelope = {
            jobId: id,
            payload: encoded,
            ownerId: options.ownerId,
            ...Option.match(traceparent, { onNone: () => ({}), onSome: (value) => ({ traceparent: value }) }),
            ...(options.timeout === undefined
              ? {}
              : { timeoutMillis: Duration.toMillis(Duration.fromInputUnsafe(options.timeout)) })
          }
          yield* queueCall("add", () =>
            queue.add(kind.name, envelope, {
              jobId: id,
              attempts: kind.retry.attempts,
              backoff: { type: backoffStrategyName },
              // BullMQ keeps finished jobs only briefly: the durable record lives in PostgreSQL
              removeOnComplete: { age: 3600, count: 1000 },
              removeOnFail: { age: 24 * 3600, count: 5000 }
            })
          ).pipe(
            // nothing was accepted: drop the record so no phantom job stays queued for ever
            Effect.tapError(() => store.remove(id).pipe(Effect.ignore))
          )
          const state: JobState = "queued"
          return { jobId: id, state, created }
        }).pipe(Effect.withSpan("Jobs.submit", { attributes: { "job.kind": kind.name } }, perJobSpan))

      const get = (ownerId: UserId, id: string) => Effect.map(store.get(ownerId, id), (record) => record.view)

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
            yield* events.publish({ jobId: id, state: "cancelled", progress: record.view.progress })
          } else {
            yield* redis
              .use("publish cancel", (client) => client.publish(cancelChannel(redis.key), id))
              .pipe(Effect.mapError((error) => new QueueUnavailable({ message: error.message })))
          }
          return (yield* store.get(ownerId, id)).view
        }).pipe(Effect.withSpan("Jobs.cancel"))

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

      return Jobs.of({ submit, get, list, cancel, watch, queue })
    })
  )
}

export type { AnyJobKind }
