/**
 * The API's use cases of webhooks: create (destination checked, secret generated and sealed, shown
 * once), change (a new URL checked again), rotate the secret, and the reads with the views.
 */
import { Context, Effect, Layer, Option, type Redacted } from "effect"
import type { UserEventType } from "../contract/events/UserEvent.ts"
import type { UserId } from "../contract/users/UserId.ts"
import {
  WebhookLimitReached,
  WebhookNotFound,
  WebhookUrlRefused,
  type WebhookView
} from "../contract/webhooks/WebhooksApi.ts"
import type { DeliveryView } from "../contract/webhooks/WebhookSchemas.ts"
import { Crypto } from "../platform/Crypto.ts"
import type { DatabaseError } from "../platform/Database.ts"
import { secretData } from "./WebhookDelivery.ts"
import { WebhookDestinations } from "./WebhookDestinations.ts"
import { newSecret } from "./WebhookSignature.ts"
import { type WebhookPatchFields, type WebhookRow, WebhookStore } from "./WebhookStore.ts"
import { WebhooksConfig } from "./WebhooksConfig.ts"

export interface WithSecret {
  readonly webhook: WebhookView
  readonly secret: Redacted.Redacted<string>
}

const toView = (row: WebhookRow): WebhookView => ({
  id: row.id,
  url: row.url,
  events: row.events,
  description: row.description,
  enabled: row.enabled,
  disabledReason: row.disabledReason,
  consecutiveFailures: row.consecutiveFailures,
  createdAt: row.createdAt,
  updatedAt: row.updatedAt
})

const notFound = () => new WebhookNotFound({ message: "no such webhook" })
const unique = (events: ReadonlyArray<UserEventType>) => [...new Set(events)]

export class Webhooks extends Context.Service<
  Webhooks,
  {
    readonly list: (owner: UserId) => Effect.Effect<ReadonlyArray<WebhookView>, DatabaseError>
    readonly get: (owner: UserId, id: string) => Effect.Effect<WebhookView, WebhookNotFound | DatabaseError>
    readonly create: (
      owner: UserId,
      input: {
        readonly url: string
        readonly events: ReadonlyArray<UserEventType>
        readonly description?: string
      }
    ) => Effect.Effect<WithSecret, WebhookUrlRefused | WebhookLimitReached | DatabaseError>
    readonly update: (
      owner: UserId,
      id: string,
      patch: WebhookPatchFields
    ) => Effect.Effect<WebhookView, WebhookNotFound | WebhookUrlRefused | DatabaseError>
    readonly remove: (owner: UserId, id: string) => Effect.Effect<void, WebhookNotFound | DatabaseError>
    readonly rotateSecret: (owner: UserId, id: string) => Effect.Effect<WithSecret, WebhookNotFound | DatabaseError>
    readonly deliveries: (
      owner: UserId,
      id: string,
      limit: number
    ) => Effect.Effect<ReadonlyArray<DeliveryView>, WebhookNotFound | DatabaseError>
  }
>()("mail-helper/Webhooks") {
  static readonly layer = Layer.effect(
    Webhooks,
    Effect.gen(function* () {
      const store = yield* WebhookStore
      const sealing = yield* Crypto
      const destinations = yield* WebhookDestinations
      const config = yield* WebhooksConfig

      const checkUrl = (url: string) =>
        destinations.resolve(url).pipe(
          Effect.mapError((error) => new WebhookUrlRefused({ message: error.message })),
          Effect.as(url)
        )
      const existing = (owner: UserId, id: string) =>
        store
          .get(owner, id)
          .pipe(Effect.flatMap(Option.match({ onNone: () => Effect.fail(notFound()), onSome: Effect.succeed })))

      return Webhooks.of({
        list: (owner) => store.list(owner).pipe(Effect.map((rows) => rows.map(toView))),
        get: (owner, id) => existing(owner, id).pipe(Effect.map(toView)),
        create: (owner, input) =>
          Effect.gen(function* () {
            const url = yield* checkUrl(input.url)
            const count = yield* store.count(owner)
            if (count >= config.maxPerUser) {
              return yield* new WebhookLimitReached({
                message: `you have ${count} webhooks, the most this installation allows`,
                limit: config.maxPerUser
              })
            }
            const id = crypto.randomUUID()
            const secret = newSecret()
            const sealedSecret = yield* sealing.encrypt(secret, secretData(id))
            const row = yield* store.insert(owner, {
              id,
              url,
              events: unique(input.events),
              description: input.description ?? null,
              sealedSecret
            })
            return { webhook: toView(row), secret }
          }),
        update: (owner, id, patch) =>
          Effect.gen(function* () {
            yield* existing(owner, id)
            if (patch.url !== undefined) yield* checkUrl(patch.url)
            const changed = yield* store.update(owner, id, {
              ...patch,
              ...(patch.events === undefined ? {} : { events: unique(patch.events) })
            })
            return yield* Option.match(changed, {
              onNone: () => Effect.fail(notFound()),
              onSome: (row) => Effect.succeed(toView(row))
            })
          }),
        remove: (owner, id) =>
          store.remove(owner, id).pipe(Effect.flatMap((removed) => (removed ? Effect.void : Effect.fail(notFound())))),
        rotateSecret: (owner, id) =>
          Effect.gen(function* () {
            yield* existing(owner, id)
            const secret = newSecret()
            const sealedSecret = yield* sealing.encrypt(secret, secretData(id))
            const changed = yield* store.setSecret(owner, id, sealedSecret)
            if (Option.isNone(changed)) return yield* notFound()
            return { webhook: toView(changed.value), secret }
          }),
        deliveries: (owner, id, limit) =>
          Effect.gen(function* () {
            yield* existing(owner, id)
            const rows = yield* store.deliveries(owner, id, limit)
            return rows.map((row) => ({ ...row }))
          })
      })
    })
  )
}
