import { Effect, Layer, Redacted } from "effect"
import { HttpApiBuilder } from "effect/http-api"
import { Api } from "../contract/Api.ts"
import { CurrentUser } from "../contract/users/CurrentUser.ts"
import { unavailable } from "../http/errorMapping.ts"
import { Webhooks, type WithSecret } from "./Webhooks.ts"
import { WebhooksLive } from "./WebhooksLive.ts"

/** The only place a secret leaves the server: the answer of create and rotate-secret. */
const reveal = (created: WithSecret) => ({ webhook: created.webhook, secret: Redacted.value(created.secret) })

const WebhooksHandlers = HttpApiBuilder.group(
  Api,
  "webhooks",
  Effect.fn(function* (handlers) {
    const webhooks = yield* Webhooks
    return handlers
      .handle("list", () =>
        Effect.gen(function* () {
          const user = yield* CurrentUser
          return { items: yield* webhooks.list(user.id) }
        }).pipe(Effect.catchTag("DatabaseError", unavailable))
      )
      .handle("create", ({ payload }) =>
        Effect.gen(function* () {
          const user = yield* CurrentUser
          return reveal(yield* webhooks.create(user.id, payload))
        }).pipe(Effect.catchTag("DatabaseError", unavailable))
      )
      .handle("get", ({ params }) =>
        Effect.gen(function* () {
          const user = yield* CurrentUser
          return yield* webhooks.get(user.id, params.id)
        }).pipe(Effect.catchTag("DatabaseError", unavailable))
      )
      .handle("update", ({ params, payload }) =>
        Effect.gen(function* () {
          const user = yield* CurrentUser
          return yield* webhooks.update(user.id, params.id, payload)
        }).pipe(Effect.catchTag("DatabaseError", unavailable))
      )
      .handle("remove", ({ params }) =>
        Effect.gen(function* () {
          const user = yield* CurrentUser
          yield* webhooks.remove(user.id, params.id)
        }).pipe(Effect.catchTag("DatabaseError", unavailable))
      )
      .handle("rotateSecret", ({ params }) =>
        Effect.gen(function* () {
          const user = yield* CurrentUser
          return reveal(yield* webhooks.rotateSecret(user.id, params.id))
        }).pipe(Effect.catchTag("DatabaseError", unavailable))
      )
      .handle("deliveries", ({ params, query }) =>
        Effect.gen(function* () {
          const user = yield* CurrentUser
          return { items: yield* webhooks.deliveries(user.id, params.id, query.limit ?? 50) }
        }).pipe(Effect.catchTag("DatabaseError", unavailable))
      )
  })
)

export const WebhooksHttpLive = WebhooksHandlers.pipe(Layer.provide(Webhooks.layer), Layer.provide(WebhooksLive))
