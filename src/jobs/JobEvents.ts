import { Context, Effect, Layer, PubSub, Schema, Scope, Stream } from "effect"
import { Redis } from "../platform/Redis.ts"
import { JobChanged } from "../contract/events/UserEvent.ts"
import { JobId, JobProgress, JobState } from "../contract/jobs/Job.ts"
import { EventBus } from "../events/EventBus.ts"

/** A change of one job, fanned out to every API instance for live streams. */
export const JobEvent = Schema.Struct({
  jobId: Schema.String,
  state: JobState,
  progress: Schema.NullOr(JobProgress)
})
export type JobEvent = typeof JobEvent.Type

const decodeEvent = Schema.decodeUnknownOption(Schema.fromJsonString(JobEvent))

/** Whose job it is and of which kind: what the owner's `job.changed` event names. */
export interface JobOwnership {
  readonly ownerId: string | null
  readonly kind: string
}

export interface JobEventsShape {
  /**
   * Best effort and not awaited: a lost event only delays a live view, the durable record is the truth.
   * The owner of a job with one also gets a `job.changed` user event (EventBus: SSE, webhooks).
   */
  readonly publish: (event: JobEvent, job: JobOwnership) => Effect.Effect<void>
  /** Events of one job from now on. */
  readonly subscribe: (jobId: string) => Effect.Effect<Stream.Stream<JobEvent>, never, Scope.Scope>
  /** Events of every job from now on (the subscription is live when this returns). */
  readonly subscribeAll: Effect.Effect<Stream.Stream<JobEvent>, never, Scope.Scope>
}

export class JobEvents extends Context.Service<JobEvents, JobEventsShape>()("mail-helper/JobEvents") {
  static readonly layer = Layer.effect(
    JobEvents,
    Effect.gen(function* () {
      const redis = yield* Redis
      const bus = yield* EventBus
      const channel = redis.key("job-events")
      const hub = yield* Effect.acquireRelease(PubSub.unbounded<JobEvent>(), PubSub.shutdown)
      // One subscriber connection per process, opened on first use: workers only publish.
      const layerScope = yield* Effect.scope
      const listening = yield* Effect.cached(
        Effect.gen(function* () {
          const subscriber = yield* redis.connection("job-events", "blocking")
          subscriber.on("message", (_channel: string, message: string) => {
            const event = decodeEvent(message)
            if (event._tag === "Some") PubSub.publishUnsafe(hub, event.value)
          })
          yield* Effect.promise(() => subscriber.subscribe(channel))
        }).pipe(Effect.provideService(Scope.Scope, layerScope))
      )

      // The command is written at once and its reply not awaited: a job's events leave in the
      // order they were published (one connection, commands in order), and no job waits a
      // round trip for a view that is best effort anyway.
      const logLost = Effect.runForkWith(yield* Effect.context<never>())
      /** The owner's `job.changed`; an event that cannot be built (a bug) is logged, never fails the job. */
      const publishChanged = (ownerId: string, event: JobEvent, kind: string) =>
        Effect.try({
          try: () =>
            new JobChanged({
              occurredAt: new Date(),
              jobId: JobId.make(event.jobId),
              kind,
              state: event.state,
              progress: event.progress
            }),
          catch: (cause) => String(cause)
        }).pipe(
          Effect.flatMap((changed) => bus.publish(ownerId, changed)),
          Effect.catch((cause) => Effect.logWarning("job.changed not built", { jobId: event.jobId, cause }))
        )

      const publish = (event: JobEvent, job: JobOwnership) =>
        Effect.sync(() => {
          redis.client.publish(channel, JSON.stringify(event)).catch((cause: unknown) => {
            logLost(Effect.logWarning("job event not published", { jobId: event.jobId, cause: String(cause) }))
          })
        }).pipe(Effect.andThen(job.ownerId === null ? Effect.void : publishChanged(job.ownerId, event, job.kind)))

      const subscribeAll = Effect.gen(function* () {
        yield* listening
        const subscription = yield* PubSub.subscribe(hub)
        return Stream.fromEffectRepeat(PubSub.take(subscription))
      })
      const subscribe = (jobId: string) =>
        Effect.map(
          subscribeAll,
          Stream.filter((event: JobEvent) => event.jobId === jobId)
        )

      return JobEvents.of({ publish, subscribe, subscribeAll })
    })
  )
}
