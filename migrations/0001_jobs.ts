import { Effect } from "effect"
import { SqlClient } from "effect/sql"

export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`CREATE EXTENSION IF NOT EXISTS pgcrypto`
  yield* sql`
    CREATE TABLE jobs (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      user_id uuid,
      kind text NOT NULL,
      state text NOT NULL DEFAULT 'queued'
        CHECK (state IN ('queued', 'running', 'retrying', 'succeeded', 'failed', 'cancelled')),
      payload jsonb NOT NULL,
      progress jsonb,
      result jsonb,
      error_code text,
      error_message text,
      attempts integer NOT NULL DEFAULT 0,
      max_attempts integer NOT NULL,
      deduplication_key text,
      trace_id text,
      worker text,
      cancel_requested_at timestamptz,
      created_at timestamptz NOT NULL DEFAULT now(),
      started_at timestamptz,
      finished_at timestamptz,
      updated_at timestamptz NOT NULL DEFAULT now()
    )`
  // one queued-or-running job per (kind, key): the second request gets the first job back
  yield* sql`
    CREATE UNIQUE INDEX jobs_active_deduplication ON jobs (kind, deduplication_key)
    WHERE deduplication_key IS NOT NULL AND state IN ('queued', 'running', 'retrying')`
  yield* sql`CREATE INDEX jobs_owner_created ON jobs (user_id, created_at DESC, id DESC)`
  yield* sql`CREATE INDEX jobs_unfinished ON jobs (state, updated_at) WHERE state IN ('queued', 'running', 'retrying')`
  yield* sql`CREATE INDEX jobs_finished_at ON jobs (finished_at) WHERE finished_at IS NOT NULL`
})
