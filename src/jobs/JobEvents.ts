import { Context, Effect, Layer, PubSub, Schema, Scope, Stream } from "effect"
import { Redis } from "../platform/Redis.ts"
import { JobProgress, JobState } from "../contract/jobs/Job.ts"

/** A change of one job, fanned out to every API instance for live streams. */
export const JobEvent = Schema.Struct({
  jobId: Schema.String,
  state: JobState,
  progress: Schema.NullOr(JobProgress)
})
export type JobEvent = typeof JobEvent.Type

const decodeEvent = Schema.decodeUnknownOption(Schema.fromJsonString(JobEvent))

export interface JobEventsShape {
  /** Best effort and not awaited: a lost event only delays a live view, the durable record is the truth. */
  readonly publish: (event: JobEvent) => Effect.Effect<void>
  /** Events of one job from now on. */
  readonly subscribe: (jobId: string) => Effect.Effect<Stream.Stream<JobEvent>, never, Scope.Scope>
}

export class JobEvents extends Context.Service<JobEvents, JobEventsShape>()("mail-helper/JobEvents") {
  static readonly layer = Layer.effect(
    JobEvents,
    Effect.gen(function* () {
      const redis = yield* Redis
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
      const publish = (event: JobEvent) =>
        Effect.sync(() => {
          redis.client.publish(channel, JSON.stringify(event)).catch((cause: unknown) => {
            logLost(Effect.logWarning("job event not published", { jobId: event.jobId, cause: String(cause) }))
          })
        })

      const subscribe = (jobId: string) =>
        Effect.gen(function* () {
          yield* listening
          const subscription = yield* PubSub.subscribe(hub)
          return Stream.fromEffectRepeat(PubSub.take(subscription)).pipe(
            Stream.filter((event) => event.jobId === jobId)
          )
        })

      return JobEvents.of({ publish, subscribe })
    })
  )
}
