import { Effect } from "effect"
import { SqlClient } from "effect/sql"
import { DatabaseRoles } from "../src/platform/Database.ts"

/**
 * What the analysis/embedding jobs, the email list and search need on top of
 * 0020/0030 (src/emails/README.md, src/search/README.md):
 *
 * - `emails.mail_date`: the one date lists sort and filter by (the Date
 *   header, else the IMAP arrival time, else when the row was stored), with
 *   keyset indexes per user, account, mailbox and for unread mail.
 * - embedding failure bookkeeping next to the analysis one.
 * - `embeddings.seq`: a per-row change number (new on every insert and
 *   re-embed), so an in-process vector index loads only what changed; writers
 *   take a per-user advisory lock before drawing numbers, so numbers commit in
 *   order per user. `embeddings.q8`: the vector quantized to int8 (4-byte
 *   little-endian float32 scale, then one signed byte per dimension), which
 *   that index loads about ten times faster than `real[]`.
 * - `app_fulltext_search`: the full-text index probe. Row-level security keeps
 *   PostgreSQL from using the GIN index for `@@` (the operator is not
 *   LEAKPROOF, so it may only run after the policy's filter), which turns
 *   every search into a scan of all the user's rows. The function runs as
 *   the system role (which may use the index) and filters by the transaction's
 *   user itself, exactly like the policy: with no user set it returns nothing.
 */
export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  const app = sql(DatabaseRoles.app)
  const system = sql(DatabaseRoles.system)

  yield* sql`
    ALTER TABLE emails ADD COLUMN mail_date timestamptz
      GENERATED ALWAYS AS (COALESCE(sent_at, received_at, created_at)) STORED`
  yield* sql`CREATE INDEX emails_owner_mail_date ON emails (user_id, mail_date DESC, id DESC)`
  yield* sql`CREATE INDEX emails_account_mail_date ON emails (account_id, mail_date DESC, id DESC)`
  yield* sql`CREATE INDEX emails_mailbox_mail_date ON emails (mailbox_id, mail_date DESC, id DESC)`
  yield* sql`CREATE INDEX emails_owner_unread_mail_date ON emails (user_id, mail_date DESC, id DESC) WHERE NOT seen`

  yield* sql`
    ALTER TABLE emails
      ADD COLUMN embedding_attempts integer NOT NULL DEFAULT 0,
      ADD COLUMN embedding_error text`
  yield* sql`CREATE INDEX emails_analysis_failed ON emails (user_id) WHERE analysis_state = 'failed'`

  yield* sql`CREATE SEQUENCE embeddings_seq AS bigint`
  yield* sql`GRANT USAGE ON SEQUENCE embeddings_seq TO ${app}, ${system}`
  yield* sql`ALTER TABLE embeddings ADD COLUMN seq bigint NOT NULL DEFAULT nextval('embeddings_seq')`
  yield* sql`ALTER TABLE embeddings ADD COLUMN q8 bytea CHECK (q8 IS NULL OR length(q8) = dimension + 4)`
  yield* sql`DROP INDEX embeddings_owner_model`
  yield* sql`CREATE INDEX embeddings_owner_model_seq ON embeddings (user_id, model, seq)`

  // Ranking reads every candidate's tsvector, so it is bounded: up to `ranking_window` matches
  // are all ranked; a query matching more is ranked among its newest `ranking_window` matches.
  // Each step is planned for the actual query (EXECUTE): rare and common terms want different plans.
  yield* sql`
    CREATE FUNCTION app_fulltext_search(query tsquery, max_rows integer, ranking_window integer DEFAULT 200)
    RETURNS TABLE (email_id uuid, rank real)
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
    DECLARE
      owner uuid := public.app_current_user_id();
      size integer := least(greatest(ranking_window, 1), 10000);
      wanted integer := least(greatest(max_rows, 0), size);
      matches integer;
    BEGIN
      IF owner IS NULL OR wanted = 0 THEN
        RETURN;
      END IF;
      EXECUTE 'SELECT count(*)::integer FROM (
          SELECT 1 FROM public.emails e WHERE e.user_id = $1 AND e.search_vector @@ $2 LIMIT $3) c'
        INTO matches USING owner, query, size + 1;
      IF matches <= size THEN
        RETURN QUERY EXECUTE 'SELECT e.id, ts_rank_cd(e.search_vector, $2, 1) FROM public.emails e
          WHERE e.user_id = $1 AND e.search_vector @@ $2
          ORDER BY 2 DESC, e.mail_date DESC, e.id DESC LIMIT $3'
          USING owner, query, wanted;
      ELSE
        RETURN QUERY EXECUTE 'SELECT m.id, ts_rank_cd(m.search_vector, $2, 1) FROM (
            SELECT e.id, e.search_vector, e.mail_date FROM public.emails e
            WHERE e.user_id = $1 AND e.search_vector @@ $2
            ORDER BY e.mail_date DESC, e.id DESC LIMIT $4) m
          ORDER BY 2 DESC, m.mail_date DESC, m.id DESC LIMIT $3'
          USING owner, query, wanted, size;
      END IF;
    END
    $$`
  yield* sql`REVOKE ALL ON FUNCTION app_fulltext_search(tsquery, integer, integer) FROM PUBLIC`
  yield* sql`GRANT EXECUTE ON FUNCTION app_fulltext_search(tsquery, integer, integer) TO ${app}`
  // The owner's rights are the function's rights: hand it to the system role. ALTER OWNER needs
  // the new owner to hold CREATE on the schema at that moment only.
  yield* sql`GRANT CREATE ON SCHEMA public TO ${system}`
  yield* sql`ALTER FUNCTION app_fulltext_search(tsquery, integer, integer) OWNER TO ${system}`
  yield* sql`REVOKE CREATE ON SCHEMA public FROM ${system}`
})
