import { Effect } from "effect"
import { SqlClient } from "effect/sql"

/**
 * What the sync and the accounts API need on top of 0020:
 * - `emails (account_id)`: deleting an account cascades to its emails by account_id;
 *   without an index every account deletion scans the whole table.
 * - `emails (account_id, thread_id)`: thread look-ups and merges stay within one account.
 * - `mailboxes.subscribed`: shown by GET /accounts/:id/mailboxes.
 */
export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`CREATE INDEX emails_account_thread ON emails (account_id, thread_id)`
  yield* sql`ALTER TABLE mailboxes ADD COLUMN subscribed boolean NOT NULL DEFAULT true`
})
