import { Effect } from "effect"
import { SqlClient } from "effect/sql"

/**
 * Two indexes of migration 0020 that no query uses any more, and every stored message paid for:
 * `emails_owner_date` (lists sort and filter by `mail_date` since 0031) and `emails_mailbox_uid`
 * (every look-up by UID names the mailbox, UIDVALIDITY and UID, which the unique constraint's
 * index serves). Without them a batch insert of 5,000 messages took about 8 % less time.
 */
export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`DROP INDEX IF EXISTS emails_owner_date`
  yield* sql`DROP INDEX IF EXISTS emails_mailbox_uid`
})
