/**
 * Layers of the webhooks feature. `WebhooksLive`: what `WebhookDeliverProcessor` and the API's use
 * cases need (the store, the destination policy, one attempt of a delivery) over the platform
 * (SqlClient, UserScope). `WebhooksDispatcherWorkerLive`: the worker's dispatcher fiber (it also needs Jobs
 * and Redis). The API's use cases (`Webhooks`) are composed in `WebhooksHttpLive` (WebhooksHttp.ts).
 */
import { Layer } from "effect"
import { Crypto } from "../platform/Crypto.ts"
import { WebhookDelivery } from "./WebhookDelivery.ts"
import { WebhookDestinations } from "./WebhookDestinations.ts"
import { runDispatcher } from "./WebhookDispatcher.ts"
import { WebhookStore } from "./WebhookStore.ts"
import { WebhooksConfig } from "./WebhooksConfig.ts"

export const WebhooksLive = WebhookDelivery.layer.pipe(
  Layer.provideMerge(Layer.mergeAll(WebhookStore.layer, WebhookDestinations.layer)),
  Layer.provideMerge(Layer.mergeAll(WebhooksConfig.layer, Crypto.layer))
)

/** The dispatcher, in every worker (each one consumer of the group). */
export const WebhooksDispatcherWorkerLive = Layer.effectDiscard(runDispatcher)
