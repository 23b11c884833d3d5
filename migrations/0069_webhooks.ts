import { Effect } from "effect"
import { SqlClient } from "effect/sql"
import { userOwnedTable } from "../src/users/Rls.ts"

/**
 * Webhooks (issue 14, docs/webhooks.md).
 *
 * `webhooks`: a user's endpoints, the event types each receives, the signing secret sealed under
 * the keyring (associated data `webhooks:<id>:secret`), and the failure count that disables one
 * (`disabled_reason` says why).
 *
 * `webhook_deliveries`: one row per event and webhook, written by the dispatcher before it
 * acknowledges the event (unique per webhook and stream entry, so an event read twice is delivered
 * once); the `webhook.deliver` job's payload is the row's id. `payload` is the exact body sent
 * (text, so the signed bytes are the stored bytes).
 */
export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`
    CREATE TABLE webhooks (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
      url text NOT NULL CHECK (length(url) BETWEEN 1 AND 2000),
      events text[] NOT NULL CHECK (cardinality(events) > 0),
      description text CHECK (length(description) <= 500),
      sealed_secret text NOT NULL,
      enabled boolean NOT NULL DEFAULT true,
      disabled_reason text,
      consecutive_failures integer NOT NULL DEFAULT 0 CHECK (consecutive_failures >= 0),
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now()
    )`
  yield* sql`CREATE INDEX webhooks_user ON webhooks (user_id, created_at)`
  yield* userOwnedTable("webhooks")

  yield* sql`
    CREATE TABLE webhook_deliveries (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      webhook_id uuid NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
      user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
      event_id text NOT NULL,
      event_type text NOT NULL,
      payload text NOT NULL,
      state text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'failed')),
      attempts integer NOT NULL DEFAULT 0,
      last_status integer,
      last_error text,
      duration_ms integer,
      created_at timestamptz NOT NULL DEFAULT now(),
      last_attempt_at timestamptz,
      delivered_at timestamptz,
      UNIQUE (webhook_id, event_id)
    )`
  yield* sql`CREATE INDEX webhook_deliveries_log ON webhook_deliveries (webhook_id, created_at DESC, id)`
  yield* sql`CREATE INDEX webhook_deliveries_user ON webhook_deliveries (user_id)`
  yield* userOwnedTable("webhook_deliveries")
})
