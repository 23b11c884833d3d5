import { Effect } from "effect"
import { SqlClient } from "effect/sql"
import { DatabaseRoles } from "../src/platform/Database.ts"

/**
 * One message, several copies (issue 12; src/sync/README.md, "Copies and threads"):
 *
 * - `emails.message_key`: what says "the same message" within an account (src/sync/messageKey.ts):
 *   a sha256 over the normalised Message-ID, the sender address, the Date header (epoch ms), the
 *   subject and the text body (the HTML body when there is no text). Gmail stores a message once per
 *   label (and again in `[Gmail]/All Mail`): every copy is a row, and the rows share the key. The
 *   backfill below computes exactly what the sync computes for new rows. A row without a key (not
 *   written by the sync) is a message of its own.
 * - `emails.canonical` (default true; the sync inserts false and then elects): one copy per
 *   (account, key) is the message: it alone is analysed, embedded,
 *   found by search and counted; the other copies show its results. The first stored copy wins; when
 *   it is deleted (expunged, its mailbox gone) a surviving copy takes over, the `\All` copy first
 *   (it lives longest), then the oldest. That copy is analysed anew (the deleted copy's analysis and
 *   overrides go with it).
 * - `emails.thread_refs`: every Message-ID the message links by (its own, In-Reply-To, References,
 *   normalised, at most 30), GIN-indexed: the thread look-up finds stored messages that *reference*
 *   an arriving message, so a chain joins whatever order its messages arrive in. The look-up goes
 *   through `app_thread_links`, for the reason of 0031's `app_fulltext_search`: `@>` is not
 *   LEAKPROOF, so under row-level security it could only run after the policy's filter and never use
 *   the GIN index (a scan of the user's mail per id, quadratic over an initial sync). The function
 *   runs as the system role and filters by the transaction's user itself, like the policy.
 */
export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  const app = sql(DatabaseRoles.app)
  const system = sql(DatabaseRoles.system)

  yield* sql`
    ALTER TABLE emails
      ADD COLUMN message_key text,
      ADD COLUMN canonical boolean NOT NULL DEFAULT true,
      ADD COLUMN thread_refs text[] NOT NULL DEFAULT '{}'`

  // the same formula as messageKeyFor (length-prefixed fields, octets; no separator ambiguity)
  yield* sql`
    CREATE FUNCTION app_message_key_field(value text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN octet_length(coalesce(value, ''))::text || ':' || coalesce(value, '')`
  yield* sql`
    UPDATE emails SET
      message_key = encode(sha256(convert_to(
        app_message_key_field(nullif(regexp_replace(coalesce(message_id, ''), '[<>[:space:]]', '', 'g'), ''))
        || app_message_key_field(lower(from_address))
        || app_message_key_field(CASE WHEN sent_at IS NULL THEN NULL
             ELSE floor(extract(epoch FROM sent_at) * 1000)::bigint::text END)
        || app_message_key_field(subject)
        || app_message_key_field(CASE WHEN text_body IS NULL OR text_body = '' THEN html_body ELSE text_body END),
        'UTF8')), 'base64'),
      thread_refs = ARRAY(
        SELECT DISTINCT r FROM (
          SELECT regexp_replace(x, '[<>[:space:]]', '', 'g') AS r
          FROM unnest(array_append(array_append(references_ids, in_reply_to), message_id)) AS x
          WHERE x IS NOT NULL) ids
        WHERE r <> '' LIMIT 30)`
  yield* sql`DROP FUNCTION app_message_key_field(text)`
  yield* sql`
    UPDATE emails e SET canonical = false
    FROM (
      SELECT id, row_number() OVER (PARTITION BY account_id, message_key ORDER BY created_at, id) AS n
      FROM emails) ranked
    WHERE e.id = ranked.id AND ranked.n > 1`
  // vector search finds a message once too: the other copies' embeddings go (the vector index drops
  // candidates it finds gone); they are embedded again only if one of them becomes canonical
  yield* sql`
    UPDATE emails SET embedding_state = 'pending', embedding_attempts = 0, embedding_error = NULL
    WHERE NOT canonical AND embedding_state <> 'pending'`
  yield* sql`DELETE FROM embeddings m USING emails e WHERE m.email_id = e.id AND NOT e.canonical`
  yield* sql`CREATE INDEX emails_message_key ON emails (account_id, message_key)`
  yield* sql`CREATE UNIQUE INDEX emails_canonical_copy ON emails (account_id, message_key) WHERE canonical`
  // no pending list: a look-up would scan it whole, and the sync looks up right after it inserts
  yield* sql`CREATE INDEX emails_thread_refs ON emails USING gin (thread_refs) WITH (fastupdate = off)`
  // OFFSET 0 keeps the planner from serving the probe with an account or user index instead
  yield* sql`
    CREATE FUNCTION app_thread_links(refs text[], account uuid)
    RETURNS TABLE (ref text, thread_id text)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
      SELECT ids.m, hit.thread_id
      FROM unnest(refs) AS ids(m)
      CROSS JOIN LATERAL (
        SELECT DISTINCT x.thread_id FROM (
          SELECT e.thread_id, e.user_id, e.account_id FROM public.emails e
          WHERE e.thread_refs @> ARRAY[ids.m] OFFSET 0) x
        WHERE x.user_id = public.app_current_user_id() AND x.account_id = account) hit
    $$`
  yield* sql`REVOKE ALL ON FUNCTION app_thread_links(text[], uuid) FROM PUBLIC`
  yield* sql`GRANT EXECUTE ON FUNCTION app_thread_links(text[], uuid) TO ${app}`
  yield* sql`GRANT CREATE ON SCHEMA public TO ${system}`
  yield* sql`ALTER FUNCTION app_thread_links(text[], uuid) OWNER TO ${system}`
  yield* sql`REVOKE CREATE ON SCHEMA public FROM ${system}`
  // analysis and embedding take canonical copies only; the other copies stay 'pending' (a promoted
  // copy is then picked up as it is) and must not be in the pending-work indexes
  yield* sql`DROP INDEX IF EXISTS emails_analysis_pending`
  yield* sql`
    CREATE INDEX emails_analysis_pending ON emails (user_id, created_at, id)
    WHERE analysis_state = 'pending' AND canonical`
  yield* sql`DROP INDEX IF EXISTS emails_embedding_pending`
  yield* sql`
    CREATE INDEX emails_embedding_pending ON emails (user_id, created_at, id)
    WHERE embedding_state = 'pending' AND canonical`

  // a deleted canonical copy hands over to a survivor (statement level: every row the statement
  // deletes is gone by then, so a survivor is a real one)
  yield* sql`
    CREATE FUNCTION app_promote_message_copy() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
    BEGIN
      UPDATE public.emails e SET canonical = true, updated_at = now()
      FROM (
        SELECT DISTINCT ON (c.account_id, c.message_key) c.id
        FROM (SELECT DISTINCT g.account_id, g.message_key FROM gone g WHERE g.canonical) lost
        JOIN public.emails c ON c.account_id = lost.account_id AND c.message_key = lost.message_key
        JOIN public.mailboxes m ON m.id = c.mailbox_id
        WHERE NOT EXISTS (
          SELECT 1 FROM public.emails k
          WHERE k.account_id = lost.account_id AND k.message_key = lost.message_key AND k.canonical)
        ORDER BY c.account_id, c.message_key, (m.special_use IS NOT DISTINCT FROM 'all') DESC, c.created_at, c.id
      ) pick
      WHERE e.id = pick.id;
      RETURN NULL;
    END
    $$`
  yield* sql`
    CREATE TRIGGER emails_promote_copy AFTER DELETE ON emails
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION app_promote_message_copy()`

  // full-text search finds a message once: its canonical copy
  yield* sql`
    CREATE OR REPLACE FUNCTION app_fulltext_search(query tsquery, max_rows integer, ranking_window integer DEFAULT 200)
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
          SELECT 1 FROM public.emails e WHERE e.user_id = $1 AND e.search_vector @@ $2 AND e.canonical LIMIT $3) c'
        INTO matches USING owner, query, size + 1;
      IF matches <= size THEN
        RETURN QUERY EXECUTE 'SELECT e.id, ts_rank_cd(e.search_vector, $2, 1) FROM public.emails e
          WHERE e.user_id = $1 AND e.search_vector @@ $2 AND e.canonical
          ORDER BY 2 DESC, e.mail_date DESC, e.id DESC LIMIT $3'
          USING owner, query, wanted;
      ELSE
        RETURN QUERY EXECUTE 'SELECT m.id, ts_rank_cd(m.search_vector, $2, 1) FROM (
            SELECT e.id, e.search_vector, e.mail_date FROM public.emails e
            WHERE e.user_id = $1 AND e.search_vector @@ $2 AND e.canonical
            ORDER BY e.mail_date DESC, e.id DESC LIMIT $4) m
          ORDER BY 2 DESC, m.mail_date DESC, m.id DESC LIMIT $3'
          USING owner, query, wanted, size;
      END IF;
    END
    $$`
})
