import { Schema } from "effect"
import { UserEventType } from "../events/UserEvent.ts"

/** The delivery log's schemas, without the HTTP API (the worker's WebhookStore reads them). */

const Uuid = Schema.String.pipe(Schema.check(Schema.isUUID()))

export const DeliveryState = Schema.Literals(["pending", "delivered", "failed"])
export type DeliveryState = typeof DeliveryState.Type

/** One entry of a webhook's delivery log. */
export const DeliveryView = Schema.Struct({
  id: Uuid,
  /** The event's id on the event stream (as on GET /events). */
  eventId: Schema.String,
  eventType: UserEventType,
  state: DeliveryState,
  attempts: Schema.Int,
  /** HTTP status of the last attempt, null when it got none (refused, timed out, connection failed). */
  lastStatus: Schema.NullOr(Schema.Int),
  lastError: Schema.NullOr(Schema.String),
  /** Duration of the last attempt in milliseconds. */
  durationMs: Schema.NullOr(Schema.Int),
  createdAt: Schema.Date,
  lastAttemptAt: Schema.NullOr(Schema.Date),
  deliveredAt: Schema.NullOr(Schema.Date)
}).annotate({ identifier: "DeliveryView" })
export type DeliveryView = typeof DeliveryView.Type
