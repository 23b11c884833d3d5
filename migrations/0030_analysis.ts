import { Effect } from "effect"
import { SqlClient } from "effect/sql"
import { userOwnedTable } from "../src/users/Rls.ts"

/**
 * What the analysis says about each message (email_analysis), and apart from
 * it what the user corrected (email_overrides): a correction, when set,
 * always wins (see the email_effective view).
 */
export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`
    CREATE TABLE email_analysis (
      email_id uuid PRIMARY KEY REFERENCES emails (id) ON DELETE CASCADE,
      user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
      urgency smallint NOT NULL CHECK (urgency BETWEEN 1 AND 3),
      importance smallint NOT NULL CHECK (importance BETWEEN 1 AND 3),
      category text NOT NULL,
      spam boolean NOT NULL,
      summary text NOT NULL,
      tags text[] NOT NULL DEFAULT '{}',
      language text NOT NULL,
      provider text NOT NULL,
      model text NOT NULL,
      confidence real NOT NULL CHECK (confidence BETWEEN 0 AND 1),
      analysed_at timestamptz NOT NULL DEFAULT now()
    )`
  yield* userOwnedTable("email_analysis")

  // Corrections may come before any analysis (the user edits a pending message): they live here too.
  yield* sql`
    CREATE TABLE email_overrides (
      email_id uuid PRIMARY KEY REFERENCES emails (id) ON DELETE CASCADE,
      user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
      urgency smallint CHECK (urgency BETWEEN 1 AND 3),
      importance smallint CHECK (importance BETWEEN 1 AND 3),
      category text,
      spam boolean,
      tags text[],
      updated_at timestamptz NOT NULL DEFAULT now()
    )`
  yield* userOwnedTable("email_overrides")

  yield* sql`
    CREATE TABLE embeddings (
      email_id uuid PRIMARY KEY REFERENCES emails (id) ON DELETE CASCADE,
      user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
      model text NOT NULL,
      dimension integer NOT NULL CHECK (dimension BETWEEN 1 AND 8192),
      vector real[] NOT NULL CHECK (cardinality(vector) = dimension),
      created_at timestamptz NOT NULL DEFAULT now()
    )`
  yield* sql`CREATE INDEX embeddings_owner_model ON embeddings (user_id, model)`
  yield* userOwnedTable("embeddings")

  // The values rules, filters and sorting use: a correction wins over the analysis.
  // security_invoker: the caller's row-level security applies through the view.
  yield* sql`
    CREATE VIEW email_effective WITH (security_invoker = true) AS
    SELECT e.id AS email_id, e.user_id,
      COALESCE(o.urgency, a.urgency) AS urgency,
      COALESCE(o.importance, a.importance) AS importance,
      COALESCE(o.category, a.category) AS category,
      COALESCE(o.spam, a.spam) AS spam,
      COALESCE(o.tags, a.tags, '{}') AS tags,
      2 * COALESCE(o.urgency, a.urgency) + COALESCE(o.importance, a.importance) AS score
    FROM emails e
    LEFT JOIN email_analysis a ON a.email_id = e.id
    LEFT JOIN email_overrides o ON o.email_id = e.id`
  yield* sql`GRANT SELECT ON email_effective TO mail_helper_app, mail_helper_system`
})
