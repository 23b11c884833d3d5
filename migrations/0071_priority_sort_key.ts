import { Effect } from "effect"
import { SqlClient } from "effect/sql"

/**
 * `emails.priority_score`: the inbox's default order as a stored, indexed key (issue 16). The first
 * page of GET /emails (sort by priority) sorted ALL of a user's canonical mail by a score computed
 * through joins to email_analysis and email_overrides on every request; now it reads `limit` rows of
 * `emails_priority_order` and sorts nothing.
 *
 * - The value is the row's OWN effective score: `COALESCE(2 * urgency + importance, 0)` over the
 *   effective values (a correction wins), exactly the `score` of the email_effective view (0030),
 *   0 when unknown. Analysis and corrections belong to the canonical copy (0057), so for a canonical
 *   row this is the message's score; a non-canonical copy's list row shows its canonical copy's
 *   values, and the lists that show copies (a mailbox's) read the canonical copy's key through the
 *   join that finds it (EmailStore `joins`). Keeping the key per row means a copy becoming canonical
 *   or not (the sync's election, the promotion trigger of 0057, rule moves and their undo) never has
 *   to move a score between rows: the row already holds its own.
 * - Kept true by triggers on email_analysis and email_overrides (every writer: analysis saves,
 *   rescoring, failures that drop a result, corrections, rule and import overrides, cascading
 *   deletes), not by each writer: one statement-level trigger per event, which first locks the
 *   touched mail rows in ONE statement in id order (the project's row-lock order,
 *   src/platform/rowLocks.ts) and only then, in a new statement (a new snapshot under READ COMMITTED,
 *   so a concurrent writer of the other table that committed meanwhile is seen), writes the rows
 *   whose key changed. Every writer of those tables pre-locks the same mail rows itself, so the
 *   trigger's lock is one the transaction already holds.
 * - The backfill is one UPDATE over the analysed or corrected rows only (the others keep the default
 *   0, which ADD COLUMN ... DEFAULT sets without rewriting the table): the migrator runs a migration
 *   in one transaction, so batches would not release locks or shorten it, and the programs are not
 *   running while it migrates.
 */
export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`ALTER TABLE emails ADD COLUMN IF NOT EXISTS priority_score smallint NOT NULL DEFAULT 0`
  yield* sql`
    UPDATE emails e SET priority_score = s.score
    FROM (
      SELECT x.id, COALESCE(2 * COALESCE(o.urgency, a.urgency) + COALESCE(o.importance, a.importance), 0)::smallint
        AS score
      FROM (SELECT email_id AS id FROM email_analysis UNION SELECT email_id FROM email_overrides) x
      LEFT JOIN email_analysis a ON a.email_id = x.id
      LEFT JOIN email_overrides o ON o.email_id = x.id) s
    WHERE e.id = s.id AND e.priority_score IS DISTINCT FROM s.score`

  yield* sql`
    CREATE OR REPLACE FUNCTION app_emails_priority_score() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
    DECLARE
      touched uuid[];
    BEGIN
      IF TG_OP = 'INSERT' THEN
        touched := ARRAY(SELECT DISTINCT email_id FROM new_rows);
      ELSIF TG_OP = 'DELETE' THEN
        touched := ARRAY(SELECT DISTINCT email_id FROM old_rows);
      ELSE
        touched := ARRAY(SELECT email_id FROM new_rows UNION SELECT email_id FROM old_rows);
      END IF;
      IF cardinality(touched) = 0 THEN
        RETURN NULL;
      END IF;
      -- the row-lock order of every writer of emails (src/platform/rowLocks.ts): one statement, id order
      PERFORM 1 FROM public.emails e WHERE e.id = ANY(touched) ORDER BY e.id FOR NO KEY UPDATE;
      UPDATE public.emails e SET priority_score = s.score
      FROM (
        SELECT x.id,
          COALESCE(2 * COALESCE(o.urgency, a.urgency) + COALESCE(o.importance, a.importance), 0)::smallint AS score
        FROM unnest(touched) AS x(id)
        LEFT JOIN public.email_analysis a ON a.email_id = x.id
        LEFT JOIN public.email_overrides o ON o.email_id = x.id) s
      WHERE e.id = s.id AND e.priority_score IS DISTINCT FROM s.score;
      RETURN NULL;
    END
    $$`
  for (const table of ["email_analysis", "email_overrides"] as const) {
    const t = sql(table)
    yield* sql`DROP TRIGGER IF EXISTS ${sql(`${table}_priority_insert`)} ON ${t}`
    yield* sql`DROP TRIGGER IF EXISTS ${sql(`${table}_priority_update`)} ON ${t}`
    yield* sql`DROP TRIGGER IF EXISTS ${sql(`${table}_priority_delete`)} ON ${t}`
    yield* sql`
      CREATE TRIGGER ${sql(`${table}_priority_insert`)} AFTER INSERT ON ${t}
      REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION app_emails_priority_score()`
    yield* sql`
      CREATE TRIGGER ${sql(`${table}_priority_update`)} AFTER UPDATE ON ${t}
      REFERENCING NEW TABLE AS new_rows OLD TABLE AS old_rows
      FOR EACH STATEMENT EXECUTE FUNCTION app_emails_priority_score()`
    yield* sql`
      CREATE TRIGGER ${sql(`${table}_priority_delete`)} AFTER DELETE ON ${t}
      REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION app_emails_priority_score()`
  }
  // the default page (a message once: its canonical copy) and its cursor pages, without a sort
  yield* sql`
    CREATE INDEX IF NOT EXISTS emails_priority_order
    ON emails (user_id, priority_score DESC, mail_date DESC, id DESC) WHERE canonical`
})
