import { Effect } from "effect"
import { SqlClient } from "effect/sql"

/**
 * The full-text vector of a message leaves the sync's path (src/search/README.md).
 *
 * Computing it (six `to_tsvector` calls: subject, sender and body, in English and
 * German and unstemmed) cost PostgreSQL about 1.6 ms of CPU per message inside the
 * sync's INSERT, half the time of an initial sync (bench/sync.ts). The column keeps
 * its values but is no longer generated:
 *
 * - `app_search_document(...)` is the one definition of what is indexed;
 * - a trigger fills the vector on every insert, and on every change of an indexed
 *   column, so any writer gets a searchable row as before;
 * - except in a transaction that set `app.search_index` to `deferred` (the sync's
 *   batches): there the vector is left NULL and the `search.index` job fills it
 *   moments later, in batches, off the sync's path.
 */
export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient

  yield* sql`
    CREATE FUNCTION app_search_document(subject text, from_name text, from_address text, text_body text)
    RETURNS tsvector
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    AS $$
      SELECT
        setweight(to_tsvector('simple', coalesce(subject, '')), 'A') ||
        setweight(to_tsvector('english', coalesce(subject, '')), 'A') ||
        setweight(to_tsvector('german', coalesce(subject, '')), 'A') ||
        setweight(to_tsvector('simple', coalesce(from_name, '') || ' ' || coalesce(from_address, '')), 'B') ||
        setweight(to_tsvector('english', left(coalesce(text_body, ''), 200000)), 'C') ||
        setweight(to_tsvector('german', left(coalesce(text_body, ''), 200000)), 'C')
    $$`

  yield* sql`ALTER TABLE emails ALTER COLUMN search_vector DROP EXPRESSION`

  yield* sql`
    CREATE FUNCTION app_emails_search_document() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
    BEGIN
      IF coalesce(current_setting('app.search_index', true), '') = 'deferred' THEN
        NEW.search_vector := NULL;
      ELSE
        NEW.search_vector := public.app_search_document(NEW.subject, NEW.from_name, NEW.from_address, NEW.text_body);
      END IF;
      RETURN NEW;
    END
    $$`
  yield* sql`
    CREATE TRIGGER emails_search_document
    BEFORE INSERT OR UPDATE OF subject, from_name, from_address, text_body ON emails
    FOR EACH ROW EXECUTE FUNCTION app_emails_search_document()`

  // what the search.index job looks for
  yield* sql`CREATE INDEX emails_search_pending ON emails (user_id) WHERE search_vector IS NULL`
})
