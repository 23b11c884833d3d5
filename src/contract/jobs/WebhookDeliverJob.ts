import { Schema } from "effect"
import { defineJobKind } from "./JobKind.ts"

const Uuid = Schema.String.pipe(Schema.check(Schema.isUUID()))

/** Only the delivery's id: the URL, the event and the sealed secret stay in `webhook_deliveries`/`webhooks`. */
export const WebhookDeliverPayload = Schema.Struct({ deliveryId: Uuid })
export type WebhookDeliverPayload = typeof WebhookDeliverPayload.Type

export const WebhookDeliverResult = Schema.Struct({
  /** delivered: 2xx; skipped: already delivered, or the webhook is disabled or gone. */
  outcome: Schema.Literals(["delivered", "skipped"]),
  status: Schema.NullOr(Schema.Int)
})

/**
 * One signed POST of one event to one webhook (src/webhooks/WebhookDeliverProcessor.ts). A non-2xx
 * answer or a network failure is transient: the job system retries with backoff (about 17 minutes
 * over 10 attempts); the webhook is disabled after WEBHOOK_DISABLE_AFTER_FAILURES failures in a row.
 */
export const WebhookDeliverJob = defineJobKind({
  name: "webhook.deliver",
  description: "Delivers one event to one of the user's webhooks (signed POST)",
  payload: WebhookDeliverPayload,
  result: WebhookDeliverResult,
  concurrency: 20,
  timeout: "30 seconds",
  retryOnTimeout: true,
  retry: { attempts: 10, initialDelay: "1 second", maxDelay: "10 minutes", jitter: 0.2 },
  // a delivery is queued at most once at a time (the dispatcher may see an event twice after a crash)
  deduplicationKey: (payload) => payload.deliveryId,
  workClass: "interactive",
  userVisible: false
})
