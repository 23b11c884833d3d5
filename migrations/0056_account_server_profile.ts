import { Effect } from "effect"
import { SqlClient } from "effect/sql"

/**
 * What the last sync recorded about the account's IMAP server (issue 12): capabilities after login,
 * the server's ID product, the personal namespace and the sync strategy chosen
 * (src/sync/SyncStrategy.ts). Written only when it changes; `server_profile_at` is when a sync
 * first saw the server like this. The columns belong to mail_accounts, so the table's row-level
 * security (owner isolation, migration 0020) covers them like every other account column.
 */
export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`
    ALTER TABLE mail_accounts
      ADD COLUMN server_profile jsonb CHECK (server_profile IS NULL OR jsonb_typeof(server_profile) = 'object'),
      ADD COLUMN server_profile_at timestamptz,
      ADD CONSTRAINT mail_accounts_server_profile_at CHECK ((server_profile IS NULL) = (server_profile_at IS NULL))`
})
