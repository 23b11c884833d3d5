/**
 * The `webhook.deliver` job: one attempt of one delivery (WebhookDelivery). A failed attempt is a
 * transient error, so the job system retries it with backoff; the last attempt marks the delivery
 * failed; a webhook disabled by the attempt stops the retries.
 */
import { Effect } from "effect"
import { PermanentJobError, TransientJobError } from "../contract/jobs/JobKind.ts"
import { WebhookDeliverJob, type WebhookDeliverPayload } from "../contract/jobs/WebhookDeliverJob.ts"
import { CurrentJob, currentOwner } from "../jobs/CurrentJob.ts"
import { makeProcessor } from "../jobs/JobProcessor.ts"
import { WebhookDelivery } from "./WebhookDelivery.ts"

export const WebhookDeliverProcessor = makeProcessor(
  WebhookDeliverJob,
  Effect.gen(function* () {
    const delivery = yield* WebhookDelivery
    return (payload: WebhookDeliverPayload) =>
      Effect.gen(function* () {
        const owner = yield* currentOwner
        const job = yield* CurrentJob
        const result = yield* delivery.attempt(owner, payload.deliveryId, { final: job.attempt >= job.maxAttempts })
        switch (result._tag) {
          case "Delivered":
            return { outcome: "delivered" as const, status: result.status }
          case "Skipped":
            return { outcome: "skipped" as const, status: null }
          case "Failed":
            return yield* result.enabled
              ? new TransientJobError({ code: "delivery_failed", message: result.message })
              : new PermanentJobError({ code: "webhook_disabled", message: result.message })
        }
      }).pipe(
        Effect.catchTags({
          DatabaseError: (error) =>
            Effect.fail(
              error.retryable
                ? new TransientJobError({ code: "database", message: error.message })
                : new PermanentJobError({ code: "database", message: error.message })
            ),
          SecretDecryptionFailed: (error) =>
            Effect.fail(new PermanentJobError({ code: "secret_unreadable", message: error.message })),
          DeliveryNotFound: (error) =>
            Effect.fail(new PermanentJobError({ code: "delivery_not_found", message: error.message }))
        }),
        Effect.withSpan("webhook.deliver")
      )
  })
)
