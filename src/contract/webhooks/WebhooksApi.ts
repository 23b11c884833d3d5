import { Schema } from "effect"
import { HttpApiEndpoint, HttpApiGroup, HttpApiSchema } from "effect/http-api"
import { UserEventType } from "../events/UserEvent.ts"
import { ServiceUnavailable } from "../http/ApiErrors.ts"
import { Authentication } from "../users/CurrentUser.ts"
import { DeliveryView } from "./WebhookSchemas.ts"

const Uuid = Schema.String.pipe(Schema.check(Schema.isUUID()))

export const WebhookId = Uuid
export const WebhookIdParams = { id: WebhookId }

/** An endpoint's URL: https (http only where the admin allows it, WEBHOOK_ALLOW_HTTP), at most 2,000 characters. */
export const WebhookUrl = Schema.String.pipe(Schema.check(Schema.isMinLength(8), Schema.isMaxLength(2000)))

/** The event types a webhook receives: at least one, each once. */
export const WebhookEvents = Schema.Array(UserEventType).pipe(Schema.check(Schema.isBetweenLength(1, 5)))

export const WebhookDescription = Schema.String.pipe(Schema.check(Schema.isMaxLength(500)))

export const WebhookInput = Schema.Struct({
  url: WebhookUrl,
  events: WebhookEvents,
  description: Schema.optionalKey(WebhookDescription)
}).annotate({ identifier: "WebhookInput" })

export const WebhookPatch = Schema.Struct({
  url: Schema.optionalKey(WebhookUrl),
  events: Schema.optionalKey(WebhookEvents),
  description: Schema.optionalKey(Schema.NullOr(WebhookDescription)),
  /** `true` enables a disabled webhook again (its failure count starts over). */
  enabled: Schema.optionalKey(Schema.Boolean)
}).annotate({ identifier: "WebhookPatch" })

/** A webhook as the API shows it: never its secret. */
export const WebhookView = Schema.Struct({
  id: WebhookId,
  url: Schema.String,
  events: Schema.Array(UserEventType),
  description: Schema.NullOr(Schema.String),
  enabled: Schema.Boolean,
  /** Why it was disabled (the last failure after too many in a row), null while enabled. */
  disabledReason: Schema.NullOr(Schema.String),
  /** Failed delivery attempts in a row (reset by a delivered one). */
  consecutiveFailures: Schema.Int,
  createdAt: Schema.Date,
  updatedAt: Schema.Date
}).annotate({ identifier: "WebhookView" })
export type WebhookView = typeof WebhookView.Type

/** The answer of create and rotate-secret: the only time the signing secret is shown. */
export const WebhookWithSecret = Schema.Struct({
  webhook: WebhookView,
  /** The HMAC-SHA256 signing secret (docs/webhooks.md); store it now, it is never shown again. */
  secret: Schema.String
}).annotate({ identifier: "WebhookWithSecret" })

export const WebhookList = Schema.Struct({ items: Schema.Array(WebhookView) })

export const DeliveryList = Schema.Struct({ items: Schema.Array(DeliveryView) })

export const DeliveryListQuery = {
  limit: Schema.optionalKey(
    Schema.FiniteFromString.pipe(Schema.check(Schema.isInt(), Schema.isBetween({ minimum: 1, maximum: 200 })))
  )
}

export class WebhookNotFound extends Schema.TaggedError<WebhookNotFound>()(
  "WebhookNotFound",
  { message: Schema.String },
  { httpApiStatus: 404 }
) {}

/** The URL is not https, not a URL, or names a destination the installation refuses (private, loopback, link-local). */
export class WebhookUrlRefused extends Schema.TaggedError<WebhookUrlRefused>()(
  "WebhookUrlRefused",
  { message: Schema.String },
  { httpApiStatus: 400 }
) {}

/** Too many webhooks for one user. */
export class WebhookLimitReached extends Schema.TaggedError<WebhookLimitReached>()(
  "WebhookLimitReached",
  { message: Schema.String, limit: Schema.Int },
  { httpApiStatus: 409 }
) {}

/** Webhooks (docs/webhooks.md): signed HTTPS deliveries of your events, retried, logged, disabled after repeated failures. */
export class WebhooksApi extends HttpApiGroup.make("webhooks")
  .add(
    HttpApiEndpoint.get("list", "/webhooks", {
      success: WebhookList,
      error: ServiceUnavailable
    })
  )
  .add(
    HttpApiEndpoint.post("create", "/webhooks", {
      payload: WebhookInput,
      success: WebhookWithSecret.pipe(HttpApiSchema.status(201)),
      error: [WebhookUrlRefused, WebhookLimitReached, ServiceUnavailable]
    })
  )
  .add(
    HttpApiEndpoint.get("get", "/webhooks/:id", {
      params: WebhookIdParams,
      success: WebhookView,
      error: [WebhookNotFound, ServiceUnavailable]
    })
  )
  .add(
    HttpApiEndpoint.patch("update", "/webhooks/:id", {
      params: WebhookIdParams,
      payload: WebhookPatch,
      success: WebhookView,
      error: [WebhookNotFound, WebhookUrlRefused, ServiceUnavailable]
    })
  )
  .add(
    HttpApiEndpoint.delete("remove", "/webhooks/:id", {
      params: WebhookIdParams,
      success: HttpApiSchema.NoContent,
      error: [WebhookNotFound, ServiceUnavailable]
    })
  )
  .add(
    HttpApiEndpoint.post("rotateSecret", "/webhooks/:id/rotate-secret", {
      params: WebhookIdParams,
      success: WebhookWithSecret,
      error: [WebhookNotFound, ServiceUnavailable]
    })
  )
  .add(
    HttpApiEndpoint.get("deliveries", "/webhooks/:id/deliveries", {
      params: WebhookIdParams,
      query: DeliveryListQuery,
      success: DeliveryList,
      error: [WebhookNotFound, ServiceUnavailable]
    })
  )
  .middleware(Authentication)
  .prefix("/api/v1") {}
