/**
 * The SQL of webhooks: `webhooks` and `webhook_deliveries` (migration 0069), every statement under
 * the owner's row-level security (`UserScope.run`). The sealed secret is read only by
 * `deliveryTarget` (the delivery job) and never leaves this feature's services.
 */
import { Context, Effect, Layer, Option, Schema } from "effect"
import { SqlClient } from "effect/sql"
import { UserEventType } from "../contract/events/UserEvent.ts"
import type { UserId } from "../contract/users/UserId.ts"
import { DeliveryState } from "../contract/webhooks/WebhookSchemas.ts"
import { type DatabaseError, decodeRows, fromSqlError } from "../platform/Database.ts"
import { UserScope } from "../users/UserScope.ts"

const WebhookRow = Schema.Struct({
  id: Schema.String,
  url: Schema.String,
  events: Schema.Array(UserEventType),
  description: Schema.NullOr(Schema.String),
  enabled: Schema.Boolean,
  disabledReason: Schema.NullOr(Schema.String),
  consecutiveFailures: Schema.Number,
  createdAt: Schema.Date,
  updatedAt: Schema.Date
})
export type WebhookRow = typeof WebhookRow.Type

const DeliveryRow = Schema.Struct({
  id: Schema.String,
  eventId: Schema.String,
  eventType: UserEventType,
  state: DeliveryState,
  attempts: Schema.Number,
  lastStatus: Schema.NullOr(Schema.Number),
  lastError: Schema.NullOr(Schema.String),
  durationMs: Schema.NullOr(Schema.Number),
  createdAt: Schema.Date,
  lastAttemptAt: Schema.NullOr(Schema.Date),
  deliveredAt: Schema.NullOr(Schema.Date)
})
export type DeliveryRow = typeof DeliveryRow.Type

const TargetRow = Schema.Struct({
  deliveryId: Schema.String,
  webhookId: Schema.String,
  url: Schema.String,
  sealedSecret: Schema.String,
  enabled: Schema.Boolean,
  state: DeliveryState,
  eventId: Schema.String,
  eventType: UserEventType,
  payload: Schema.String
})
/** What one delivery attempt needs: the delivery, its webhook's URL and sealed secret. */
export type DeliveryTarget = typeof TargetRow.Type

const decodeWebhooks = decodeRows(WebhookRow)
const decodeDeliveries = decodeRows(DeliveryRow)
const decodeTargets = decodeRows(TargetRow)
const decodeIds = decodeRows(Schema.Struct({ id: Schema.String }))
const decodeCreated = decodeRows(Schema.Struct({ id: Schema.String, state: DeliveryState }))
const decodeSubscriptions = decodeRows(Schema.Struct({ userId: Schema.String, events: Schema.Array(UserEventType) }))
const decodeCount = decodeRows(Schema.Struct({ n: Schema.Number }))
const decodeFailures = decodeRows(Schema.Struct({ enabled: Schema.Boolean }))

export interface WebhookPatchFields {
  readonly url?: string
  readonly events?: ReadonlyArray<UserEventType>
  readonly description?: string | null
  readonly enabled?: boolean
}

export interface AttemptOutcome {
  readonly status: number | null
  readonly error: string | null
  readonly durationMs: number
}

export class WebhookStore extends Context.Service<
  WebhookStore,
  {
    readonly list: (owner: UserId) => Effect.Effect<ReadonlyArray<WebhookRow>, DatabaseError>
    readonly count: (owner: UserId) => Effect.Effect<number, DatabaseError>
    readonly get: (owner: UserId, id: string) => Effect.Effect<Option.Option<WebhookRow>, DatabaseError>
    readonly insert: (
      owner: UserId,
      webhook: {
        readonly id: string
        readonly url: string
        readonly events: ReadonlyArray<UserEventType>
        readonly description: string | null
        readonly sealedSecret: string
      }
    ) => Effect.Effect<WebhookRow, DatabaseError>
    /** Changes the given fields; enabling clears the failure count and the reason. */
    readonly update: (
      owner: UserId,
      id: string,
      patch: WebhookPatchFields
    ) => Effect.Effect<Option.Option<WebhookRow>, DatabaseError>
    readonly setSecret: (
      owner: UserId,
      id: string,
      sealedSecret: string
    ) => Effect.Effect<Option.Option<WebhookRow>, DatabaseError>
    readonly remove: (owner: UserId, id: string) => Effect.Effect<boolean, DatabaseError>
    /** The webhook's deliveries, newest first. */
    readonly deliveries: (
      owner: UserId,
      webhookId: string,
      limit: number
    ) => Effect.Effect<ReadonlyArray<DeliveryRow>, DatabaseError>
    /**
     * One pending delivery per enabled webhook of the owner that receives `eventType` (none twice
     * for one event: an event read again returns the existing rows). The ids and states returned.
     */
    /**
     * Of these owners, the event types some enabled webhook of theirs receives (owners without one
     * are absent): one query for a batch of events, across users (the system role), so the
     * dispatcher touches no user's rows for the events nobody subscribed to.
     */
    readonly subscriptions: (
      owners: ReadonlyArray<UserId>
    ) => Effect.Effect<ReadonlyMap<string, ReadonlySet<UserEventType>>, DatabaseError>
    readonly createDeliveries: (
      owner: UserId,
      event: { readonly id: string; readonly type: UserEventType; readonly payload: string }
    ) => Effect.Effect<ReadonlyArray<{ readonly id: string; readonly state: DeliveryState }>, DatabaseError>
    readonly deliveryTarget: (
      owner: UserId,
      deliveryId: string
    ) => Effect.Effect<Option.Option<DeliveryTarget>, DatabaseError>
    /** A 2xx: the delivery is done and the webhook's failure count starts over. */
    readonly recordDelivered: (
      owner: UserId,
      target: DeliveryTarget,
      outcome: AttemptOutcome
    ) => Effect.Effect<void, DatabaseError>
    /**
     * A failed attempt: counted on the delivery (failed for good when `final`) and on the webhook,
     * which is disabled with `outcome` as its reason at `disableAfter` failures in a row. Whether
     * the webhook is still enabled afterwards.
     */
    readonly recordFailed: (
      owner: UserId,
      target: DeliveryTarget,
      outcome: AttemptOutcome,
      options: { readonly final: boolean; readonly disableAfter: number; readonly reason: string }
    ) => Effect.Effect<boolean, DatabaseError>
    /** A delivery that will not be attempted (its webhook is disabled). */
    readonly recordSkipped: (owner: UserId, deliveryId: string, reason: string) => Effect.Effect<void, DatabaseError>
  }
>()("mail-helper/WebhookStore") {
  static readonly layer = Layer.effect(
    WebhookStore,
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const scope = yield* UserScope
      const failed = Effect.mapError(fromSqlError)

      const columns = sql`id, url, events, description, enabled, disabled_reason AS "disabledReason",
        consecutive_failures AS "consecutiveFailures", created_at AS "createdAt", updated_at AS "updatedAt"`
      const first = <A>(rows: ReadonlyArray<A>) => Option.fromNullishOr(rows[0])

      return WebhookStore.of({
        list: (owner) =>
          scope
            .run(
              owner,
              sql`SELECT ${columns} FROM webhooks WHERE user_id = ${owner} ORDER BY created_at, id`.pipe(
                Effect.flatMap(decodeWebhooks)
              )
            )
            .pipe(failed),
        count: (owner) =>
          scope
            .run(
              owner,
              sql`SELECT count(*)::int AS n FROM webhooks WHERE user_id = ${owner}`.pipe(Effect.flatMap(decodeCount))
            )
            .pipe(
              Effect.map((rows) => rows[0]?.n ?? 0),
              failed
            ),
        get: (owner, id) =>
          scope
            .run(
              owner,
              sql`SELECT ${columns} FROM webhooks WHERE id = ${id} AND user_id = ${owner}`.pipe(
                Effect.flatMap(decodeWebhooks)
              )
            )
            .pipe(Effect.map(first), failed),
        insert: (owner, webhook) =>
          scope
            .run(
              owner,
              sql`
                INSERT INTO webhooks (id, user_id, url, events, description, sealed_secret)
                VALUES (${webhook.id}, ${owner}, ${webhook.url}, ${webhook.events}::text[], ${webhook.description},
                        ${webhook.sealedSecret})
                RETURNING ${columns}`.pipe(Effect.flatMap(decodeWebhooks))
            )
            .pipe(
              Effect.flatMap((rows) =>
                rows[0] === undefined
                  ? Effect.die(new Error("INSERT ... RETURNING returned no row"))
                  : Effect.succeed(rows[0])
              ),
              failed
            ),
        update: (owner, id, patch) =>
          scope
            .run(
              owner,
              sql`
                UPDATE webhooks SET
                  url = ${patch.url === undefined ? sql`url` : sql`${patch.url}`},
                  events = ${patch.events === undefined ? sql`events` : sql`${patch.events}::text[]`},
                  description = ${patch.description === undefined ? sql`description` : sql`${patch.description}`},
                  enabled = ${patch.enabled === undefined ? sql`enabled` : sql`${patch.enabled}`},
                  disabled_reason = ${patch.enabled === true ? sql`NULL` : sql`disabled_reason`},
                  consecutive_failures = ${patch.enabled === true ? sql`0` : sql`consecutive_failures`},
                  updated_at = now()
                WHERE id = ${id} AND user_id = ${owner}
                RETURNING ${columns}`.pipe(Effect.flatMap(decodeWebhooks))
            )
            .pipe(Effect.map(first), failed),
        setSecret: (owner, id, sealedSecret) =>
          scope
            .run(
              owner,
              sql`
                UPDATE webhooks SET sealed_secret = ${sealedSecret}, updated_at = now()
                WHERE id = ${id} AND user_id = ${owner}
                RETURNING ${columns}`.pipe(Effect.flatMap(decodeWebhooks))
            )
            .pipe(Effect.map(first), failed),
        remove: (owner, id) =>
          scope
            .run(
              owner,
              sql`DELETE FROM webhooks WHERE id = ${id} AND user_id = ${owner} RETURNING id`.pipe(
                Effect.flatMap(decodeIds)
              )
            )
            .pipe(
              Effect.map((rows) => rows.length > 0),
              failed
            ),
        deliveries: (owner, webhookId, limit) =>
          scope
            .run(
              owner,
              sql`
                SELECT id, event_id AS "eventId", event_type AS "eventType", state, attempts,
                       last_status AS "lastStatus", last_error AS "lastError", duration_ms AS "durationMs",
                       created_at AS "createdAt", last_attempt_at AS "lastAttemptAt", delivered_at AS "deliveredAt"
                FROM webhook_deliveries
                WHERE webhook_id = ${webhookId} AND user_id = ${owner}
                ORDER BY created_at DESC, id DESC
                LIMIT ${limit}`.pipe(Effect.flatMap(decodeDeliveries))
            )
            .pipe(failed),
        subscriptions: (owners) =>
          owners.length === 0
            ? Effect.succeed(new Map())
            : scope
                .system(
                  "WebhookStore.subscriptions: which owners of an event batch have webhooks",
                  sql`
                    SELECT user_id AS "userId", events FROM webhooks
                    WHERE enabled AND user_id = ANY(${`{${[...new Set(owners)].join(",")}}`}::uuid[])`.pipe(
                    Effect.flatMap(decodeSubscriptions)
                  )
                )
                .pipe(
                  Effect.map((rows) => {
                    const types = new Map<string, Set<UserEventType>>()
                    for (const row of rows) {
                      const set = types.get(row.userId) ?? new Set<UserEventType>()
                      for (const type of row.events) set.add(type)
                      types.set(row.userId, set)
                    }
                    return types
                  }),
                  failed
                ),
        createDeliveries: (owner, event) =>
          scope
            .run(
              owner,
              sql`
                INSERT INTO webhook_deliveries (webhook_id, user_id, event_id, event_type, payload)
                SELECT id, user_id, ${event.id}, ${event.type}, ${event.payload}
                FROM webhooks
                WHERE user_id = ${owner} AND enabled AND ${event.type} = ANY(events)
                ON CONFLICT (webhook_id, event_id) DO UPDATE SET event_id = EXCLUDED.event_id
                RETURNING id, state`.pipe(Effect.flatMap(decodeCreated))
            )
            .pipe(failed),
        deliveryTarget: (owner, deliveryId) =>
          scope
            .run(
              owner,
              sql`
                SELECT d.id AS "deliveryId", w.id AS "webhookId", w.url, w.sealed_secret AS "sealedSecret",
                       w.enabled, d.state, d.event_id AS "eventId", d.event_type AS "eventType", d.payload
                FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id
                WHERE d.id = ${deliveryId} AND d.user_id = ${owner}`.pipe(Effect.flatMap(decodeTargets))
            )
            .pipe(Effect.map(first), failed),
        recordDelivered: (owner, target, outcome) =>
          scope
            .run(
              owner,
              Effect.all([
                sql`
                  UPDATE webhook_deliveries SET state = 'delivered', attempts = attempts + 1,
                    last_status = ${outcome.status}, last_error = NULL, duration_ms = ${outcome.durationMs},
                    last_attempt_at = now(), delivered_at = now()
                  WHERE id = ${target.deliveryId} AND user_id = ${owner}`,
                sql`
                  UPDATE webhooks SET consecutive_failures = 0
                  WHERE id = ${target.webhookId} AND user_id = ${owner} AND consecutive_failures <> 0`
              ])
            )
            .pipe(Effect.asVoid, failed),
        recordFailed: (owner, target, outcome, options) =>
          scope
            .run(
              owner,
              Effect.gen(function* () {
                yield* sql`
                  UPDATE webhook_deliveries SET state = ${options.final ? "failed" : "pending"},
                    attempts = attempts + 1, last_status = ${outcome.status}, last_error = ${outcome.error},
                    duration_ms = ${outcome.durationMs}, last_attempt_at = now()
                  WHERE id = ${target.deliveryId} AND user_id = ${owner}`
                const rows = yield* sql`
                  UPDATE webhooks SET consecutive_failures = consecutive_failures + 1,
                    enabled = enabled AND consecutive_failures + 1 < ${options.disableAfter},
                    disabled_reason = CASE
                      WHEN enabled AND consecutive_failures + 1 >= ${options.disableAfter} THEN ${options.reason}
                      ELSE disabled_reason END,
                    updated_at = now()
                  WHERE id = ${target.webhookId} AND user_id = ${owner}
                  RETURNING enabled`.pipe(Effect.flatMap(decodeFailures))
                return rows[0]?.enabled ?? false
              })
            )
            .pipe(failed),
        recordSkipped: (owner, deliveryId, reason) =>
          scope
            .run(
              owner,
              sql`
                UPDATE webhook_deliveries SET state = 'failed', last_error = ${reason}
                WHERE id = ${deliveryId} AND user_id = ${owner} AND state = 'pending'`
            )
            .pipe(Effect.asVoid, failed)
      })
    })
  )
}
