import { Effect } from "effect"
import { SqlClient } from "effect/sql"

/**
 * The sync stores a mailbox's new messages newest first (issue 17: the first screen in about a
 * second). `last_uid` keeps its meaning, every UID up to it is stored; a newest-first pass in
 * progress adds a second stored range: every UID from `filled_from_uid` to `filled_to_uid`. Each
 * stored batch lowers `filled_from_uid` in the same transaction; the batch that reaches `last_uid`
 * sets `last_uid = filled_to_uid` and clears both. A sync killed midway resumes with what is
 * neither: the UIDs between the two ranges (newest first) and any above the pass (new mail).
 */
export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`
    ALTER TABLE mailboxes
      ADD COLUMN filled_from_uid bigint,
      ADD COLUMN filled_to_uid bigint,
      ADD CONSTRAINT mailboxes_filled_range CHECK (
        (filled_from_uid IS NULL) = (filled_to_uid IS NULL) AND filled_from_uid <= filled_to_uid)`
})
