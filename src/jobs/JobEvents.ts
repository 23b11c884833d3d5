import { Context, Effect, Layer, PubSub, Schema, Scope, Stream } from "effect"
import { Redis } from "../platform/Redis.ts"
import { JobProgress, JobState } from "./Job.ts"

/** A change of one job, fanned out to every API instance for live streams. */
export const JobEvent = Schema.Struct({
  jobId: Schema.String,
  state: JobState,
  progress: Schema.NullOr(JobProgress)
})
export type JobEvent = typeof JobEvent.Type

const decodeEvent = Schema.decodeUnknownOption(Schema.fromJsonString(JobEvent))

export interface JobEventsShape {
  /** Best effort: a lost event only delays a live view, the durable record is the truth. */
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

      const publish = (event: JobEvent) =>
        redis
          .use("publish job event", (client) => client.publish(channel, JSON.stringify(event)))
          .pipe(
            Effect.catchTag("RedisError", (error) => Effect.logWarning("job event not published", error.message)),
            Effect.asVoid
          )

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
