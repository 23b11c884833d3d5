import { Schema } from "effect"
import { HttpApiEndpoint, HttpApiGroup, HttpApiSchema } from "effect/http-api"
import { ServiceUnavailable } from "../http/ApiErrors.ts"
import { Authentication } from "../users/CurrentUser.ts"
import { UserEventJson, UserEventType } from "./UserEvent.ts"

/** A Redis stream entry id (`<milliseconds>-<sequence>`): an event's SSE `id`, and what a client resumes from. */
export const EventStreamId = Schema.String.check(Schema.isPattern(/^\d{1,15}-\d{1,15}$/))

const typeNames = UserEventType.literals.map((name) => name.replaceAll(".", "\\.")).join("|")

/** `types=mail.stored,job.changed`: a comma-separated list of event types. */
export const EventTypeList = Schema.String.check(Schema.isPattern(new RegExp(`^(${typeNames})(,(${typeNames}))*$`)))

/**
 * One message of `GET /api/v1/events`: `id` (the stream entry id, for `Last-Event-ID`), `event` (the
 * type) and `data` (the event as JSON). `event: reset` (data `{}`) comes first when the position the
 * client resumes from is older than the window: the client should reload its state. Idle streams
 * carry a comment line (`: heartbeat`) every 15 s.
 */
export const UserEventMessage = Schema.Union([
  Schema.Struct({ id: EventStreamId, event: UserEventType, data: UserEventJson }),
  Schema.Struct({ event: Schema.Literal("reset"), data: Schema.String })
])

export class EventsApi extends HttpApiGroup.make("events")
  .add(
    HttpApiEndpoint.get("stream", "/events", {
      query: {
        lastEventId: Schema.optionalKey(EventStreamId),
        types: Schema.optionalKey(EventTypeList)
      },
      headers: { "last-event-id": Schema.optionalKey(EventStreamId) },
      success: HttpApiSchema.StreamSse({ events: UserEventMessage, error: ServiceUnavailable }),
      error: ServiceUnavailable
    })
  )
  .middleware(Authentication)
  .prefix("/api/v1") {}
