import { Effect, Stream } from "effect"
import { HttpServerResponse } from "effect/http"
import { HttpApiBuilder } from "effect/http-api"
import { Api } from "../contract/Api.ts"
import type { UserEventType } from "../contract/events/UserEvent.ts"
import { ServiceUnavailable } from "../contract/http/ApiErrors.ts"
import { CurrentUser } from "../contract/users/CurrentUser.ts"
import { type EventMessage, EventBus } from "./EventBus.ts"
import { EventsConfig } from "./EventsConfig.ts"

const encoder = new TextEncoder()

/** One SSE message; the data is one line of JSON (JSON.stringify never writes a raw newline). */
const render = (message: EventMessage): string =>
  message._tag === "reset"
    ? "event: reset\ndata: {}\n\n"
    : `id: ${message.id}\nevent: ${message.type}\ndata: ${message.data}\n\n`

/**
 * `GET /api/v1/events`. The response is written here rather than by HttpApi's SSE encoder, which
 * has no comment lines for the heartbeat; the contract still describes the messages (OpenAPI).
 */
export const EventsHttpLive = HttpApiBuilder.group(
  Api,
  "events",
  Effect.fn(function* (handlers) {
    const bus = yield* EventBus
    const config = yield* EventsConfig
    return handlers.handleRaw("stream", ({ query, headers }) =>
      Effect.gen(function* () {
        const user = yield* CurrentUser
        // Redis down: 503 now, rather than a stream that ends at once
        yield* bus.ready
        // the header is what a browser's EventSource sends on its own; the query serves other clients
        const lastEventId = headers["last-event-id"] ?? query.lastEventId
        const types =
          query.types === undefined
            ? undefined
            : new Set<UserEventType>(
                query.types.split(",").filter((name): name is UserEventType => typeNames.has(name))
              )
        const messages = Stream.unwrap(
          Effect.map(bus.subscribe(user.id, { lastEventId, types }), (events) =>
            // the first comment tells the client the subscription is in place
            Stream.concat(Stream.make(": connected\n\n"), Stream.map(events, render))
          )
        )
        const heartbeat = Stream.tick(`${config.heartbeatSeconds} seconds`).pipe(
          Stream.drop(1),
          Stream.map(() => ": heartbeat\n\n")
        )
        const body = Stream.merge(messages, heartbeat, { haltStrategy: "left" }).pipe(
          Stream.map((text) => encoder.encode(text)),
          Stream.catch((error) => Stream.make(encoder.encode(`: event stream unavailable (${error.message})\n\n`)))
        )
        return HttpServerResponse.stream(body, {
          contentType: "text/event-stream",
          headers: { "cache-control": "no-cache", "x-accel-buffering": "no" }
        })
      }).pipe(Effect.catchTag("RedisError", (error) => Effect.fail(new ServiceUnavailable({ message: error.message }))))
    )
  })
)

const typeNames: ReadonlySet<string> = new Set<UserEventType>([
  "mail.stored",
  "mail.analysed",
  "rule.applied",
  "job.changed",
  "account.changed"
])
