import { Config, Context, Effect, Layer, Schema } from "effect"

/**
 * Settings of the user event streams.
 *
 * | variable                          | default | meaning                                                              |
 * |-----------------------------------|---------|----------------------------------------------------------------------|
 * | EVENTS_USER_STREAM_MAXLEN         | 1000    | events kept per user: the resume window of `Last-Event-ID` (~, ≥)    |
 * | EVENTS_USER_STREAM_TTL_SECONDS    | 604800  | a user's stream expires this long after their last event             |
 * | EVENTS_GLOBAL_STREAM_MAXLEN       | 100000  | entries kept in the global stream the readers (SSE, webhooks) follow |
 * | EVENTS_HEARTBEAT_SECONDS          | 15      | an SSE comment this often, so proxies keep an idle stream open        |
 * | EVENTS_SUBSCRIBER_BUFFER          | 1000    | live events queued for one slow SSE client before its stream is ended |
 *
 * The caps are approximate (`MAXLEN ~`): Redis trims whole nodes, so a stream holds at least the cap.
 */
export interface EventsConfigShape {
  readonly userStreamMaxLen: number
  readonly userStreamTtlSeconds: number
  readonly globalStreamMaxLen: number
  readonly heartbeatSeconds: number
  readonly subscriberBuffer: number
}

const bounded = (name: string, min: number, max: number, fallback: number) =>
  Config.schema(Schema.Int.check(Schema.isBetween({ minimum: min, maximum: max })), name).pipe(
    Config.withDefault(fallback)
  )

export const eventsConfig = Effect.gen(function* () {
  return {
    userStreamMaxLen: yield* bounded("EVENTS_USER_STREAM_MAXLEN", 1, 1_000_000, 1000),
    userStreamTtlSeconds: yield* bounded("EVENTS_USER_STREAM_TTL_SECONDS", 60, 365 * 86_400, 7 * 86_400),
    globalStreamMaxLen: yield* bounded("EVENTS_GLOBAL_STREAM_MAXLEN", 100, 100_000_000, 100_000),
    heartbeatSeconds: yield* bounded("EVENTS_HEARTBEAT_SECONDS", 1, 3600, 15),
    subscriberBuffer: yield* bounded("EVENTS_SUBSCRIBER_BUFFER", 1, 1_000_000, 1000)
  } satisfies EventsConfigShape
})

export class EventsConfig extends Context.Service<EventsConfig, EventsConfigShape>()("mail-helper/EventsConfig") {
  static readonly layer = Layer.effect(EventsConfig, eventsConfig)
}
