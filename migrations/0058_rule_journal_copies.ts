import { Effect } from "effect"
import { SqlClient } from "effect/sql"

/**
 * The copy rule action (issue 12) in the journal: `rule_journal.kind`.
 * - `change` (every row before this migration): the message itself, where it was (`*_before`) and
 *   where the run left it (`*_after`); undo moves it back and restores its flags.
 * - `copy`: a copy the run made; `*_before` is the original (which stays where it is), `*_after` is
 *   the copy (mailbox, UIDVALIDITY, UID from COPYUID or found by Message-ID, its flags). Undo removes
 *   the copy only, never the original.
 */
export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`
    ALTER TABLE rule_journal
      ADD COLUMN kind text NOT NULL DEFAULT 'change' CHECK (kind IN ('change', 'copy'))`
})
