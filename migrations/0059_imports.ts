import { Effect } from "effect"
import { SqlClient } from "effect/sql"
import { userOwnedTable } from "../src/users/Rls.ts"

/**
 * Moving in from another installation (src/import/README.md):
 *
 * - `import_items`: what an import wrote, by the origin's identity (`origin`: which old installation
 *   and user, `kind`, `source_key`: the old row). A second run finds the row and skips the item, so
 *   nothing is imported twice; `target_id` is the row it became here (an account, a rule).
 * - `import_pending_corrections`: the user's corrections from the old system, waiting for their
 *   message. The mail comes back with the sync; after each sync (and right after the import) a
 *   pending row is matched by Message-ID within its account, or by folder + UID where the old row has
 *   no Message-ID, and becomes an `email_overrides` row (a correction made here wins over it).
 *   Nothing in either table is a secret: no password, no mail text.
 */
export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient

  yield* sql`
    CREATE TABLE import_items (
      user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
      origin text NOT NULL CHECK (length(origin) BETWEEN 1 AND 200),
      kind text NOT NULL CHECK (kind IN ('account', 'rule', 'correction')),
      source_key text NOT NULL CHECK (length(source_key) BETWEEN 1 AND 200),
      target_id uuid,
      created_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (user_id, origin, kind, source_key)
    )`
  yield* userOwnedTable("import_items")

  yield* sql`
    CREATE TABLE import_pending_corrections (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
      account_id uuid NOT NULL REFERENCES mail_accounts (id) ON DELETE CASCADE,
      message_id text,
      mailbox text,
      uid bigint,
      urgency smallint CHECK (urgency BETWEEN 1 AND 3),
      importance smallint CHECK (importance BETWEEN 1 AND 3),
      category text,
      spam boolean,
      tags text[],
      applied_at timestamptz,
      created_at timestamptz NOT NULL DEFAULT now(),
      CHECK (message_id IS NOT NULL OR (mailbox IS NOT NULL AND uid IS NOT NULL))
    )`
  yield* sql`
    CREATE INDEX import_pending_corrections_waiting ON import_pending_corrections (user_id, account_id)
    WHERE applied_at IS NULL`
  yield* userOwnedTable("import_pending_corrections")
})
