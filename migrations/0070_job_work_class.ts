import { Effect } from "effect"
import { SqlClient } from "effect/sql"

/**
 * `jobs.work_class`: the class of work a job was submitted in (issue 15). A submit may lower a
 * kind's class (bulk for an interactive kind); the reconciler's re-add of a job whose queue entry
 * was lost reads it, so a lowered job does not come back interactive. Null for the records written
 * before this migration (their kind's class applies). The table's row-level security policy is
 * unchanged: a new column of an owned row is owned with it.
 */
export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`
    ALTER TABLE jobs ADD COLUMN work_class text CHECK (work_class IN ('interactive', 'bulk'))`
})
