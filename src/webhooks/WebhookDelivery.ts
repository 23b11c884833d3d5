/**
 * One attempt of one delivery (the `webhook.deliver` job): re-check the destination on the
 * resolved address, sign, POST, and record the outcome on the delivery and its webhook.
 */
import { Clock, Context, Effect, Layer, Metric, Option, Schema } from "effect"
import type { UserId } from "../contract/users/UserId.ts"
import { Crypto, type SecretDecryptionFailed } from "../platform/Crypto.ts"
import type { DatabaseError } from "../platform/Database.ts"
import { webhookDeliveries } from "../platform/Metrics.ts"
import { WebhookDestinations } from "./WebhookDestinations.ts"
import { send } from "./WebhookSender.ts"
import { deliveryHeader, eventHeader, signatureHeader, signatureValue } from "./WebhookSignature.ts"
import { WebhookStore } from "./WebhookStore.ts"
import { WebhooksConfig } from "./WebhooksConfig.ts"

/** The associated data a webhook's sealed secret is bound to. */
export const secretData = (webhookId: string) => `webhooks:${webhookId}:secret`

export type AttemptResult =
  | { readonly _tag: "Delivered"; readonly status: number }
  | { readonly _tag: "Skipped"; readonly reason: string }
  /** Another attempt may succeed (unless the webhook was disabled by this one: `enabled` false). */
  | { readonly _tag: "Failed"; readonly message: string; readonly enabled: boolean }

/** The `outcome` label of webhook_deliveries_total: a bounded set, no per-user or per-webhook label. */
export type DeliveryOutcome =
  | "delivered"
  | "retrying"
  | "failed"
  | "disabled"
  | "refused_destination"
  | "skipped"
  | "error"

const countOutcome = (outcome: DeliveryOutcome) =>
  Metric.update(Metric.withAttributes(webhookDeliveries, { outcome }), 1)

export class DeliveryNotFound extends Schema.TaggedError<DeliveryNotFound>()("DeliveryNotFound", {
  message: Schema.String
}) {}

export class WebhookDelivery extends Context.Service<
  WebhookDelivery,
  {
    readonly attempt: (
      owner: UserId,
      deliveryId: string,
      options: { readonly final: boolean }
    ) => Effect.Effect<AttemptResult, DatabaseError | SecretDecryptionFailed | DeliveryNotFound>
  }
>()("mail-helper/WebhookDelivery") {
  static readonly layer = Layer.effect(
    WebhookDelivery,
    Effect.gen(function* () {
      const store = yield* WebhookStore
      const crypto = yield* Crypto
      const destinations = yield* WebhookDestinations
      const config = yield* WebhooksConfig

      const attempt = (owner: UserId, deliveryId: string, options: { readonly final: boolean }) =>
        Effect.gen(function* () {
          const found = yield* store.deliveryTarget(owner, deliveryId)
          if (Option.isNone(found)) {
            return yield* new DeliveryNotFound({ message: "the delivery is gone (its webhook was deleted)" })
          }
          const target = found.value
          if (target.state === "delivered") return { _tag: "Skipped", reason: "already delivered" } as const
          if (!target.enabled) {
            yield* store.recordSkipped(owner, deliveryId, "not sent: the webhook is disabled")
            return { _tag: "Skipped", reason: "the webhook is disabled" } as const
          }
          const secret = yield* crypto.decrypt(target.sealedSecret, secretData(target.webhookId))
          const started = yield* Clock.currentTimeMillis
          const outcome = yield* destinations.resolve(target.url).pipe(
            Effect.flatMap((destination) =>
              Effect.gen(function* () {
                const timestamp = Math.floor((yield* Clock.currentTimeMillis) / 1000)
                return yield* send(
                  destination,
                  {
                    [eventHeader]: target.eventType,
                    [deliveryHeader]: target.deliveryId,
                    [signatureHeader]: signatureValue(secret, timestamp, target.payload)
                  },
                  target.payload
                )
              })
            ),
            Effect.map((result) => ({ status: result.status, error: null, refused: false })),
            Effect.catch((error) =>
              Effect.succeed({ status: null, error: error.message, refused: error._tag === "DestinationRefused" })
            )
          )
          const durationMs = (yield* Clock.currentTimeMillis) - started
          if (outcome.status !== null && outcome.status >= 200 && outcome.status < 300) {
            yield* store.recordDelivered(owner, target, { status: outcome.status, error: null, durationMs })
            return { _tag: "Delivered", status: outcome.status } as const
          }
          const message =
            outcome.status !== null
              ? `the endpoint answered ${outcome.status}${outcome.status >= 300 && outcome.status < 400 ? " (redirects are not followed)" : ""}`
              : (outcome.error ?? "request failed")
          const enabled = yield* store.recordFailed(
            owner,
            target,
            { status: outcome.status, error: outcome.status === null ? message : null, durationMs },
            {
              final: options.final,
              disableAfter: config.disableAfter,
              reason: `disabled after ${config.disableAfter} failed deliveries in a row; the last: ${message}`
            }
          )
          // a refused destination is retried like any failure; counted apart, it is a policy matter
          yield* countOutcome(
            !enabled ? "disabled" : outcome.refused ? "refused_destination" : options.final ? "failed" : "retrying"
          )
          return { _tag: "Failed", message, enabled } as const
        }).pipe(
          Effect.tap((result) =>
            result._tag === "Delivered"
              ? countOutcome("delivered")
              : result._tag === "Skipped"
                ? countOutcome("skipped")
                : Effect.void
          ),
          Effect.tapError(() => countOutcome("error")),
          Effect.withSpan("WebhookDelivery.attempt", { attributes: { "webhook.delivery": deliveryId } })
        )

      return WebhookDelivery.of({ attempt })
    })
  )
}
