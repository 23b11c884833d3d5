import { Effect } from "effect"
import { SqlClient } from "effect/sql"

/**
 * Who holds a claim on pending work (0072): the id of the job record that took it, which stays the
 * same over the job's attempts (BullMQ's attempt number does not). A job's claim takes messages that
 * are unclaimed, whose claim expired, or that the same job claimed: when a worker was SIGKILLed with
 * a claimed batch, the job's next attempt (BullMQ retries the stalled job under the same record)
 * takes that batch back at once instead of after MAIL_CLAIM_SECONDS (900 s). A release clears only
 * the claims of its own job, no longer one another job took in between. Writing an outcome clears
 * claim and holder (src/analysis/README.md, "Claims").
 *
 * No index, and not in the partial pending indexes (0052): every batch stamps claim and holder, and
 * an update that touches no indexed column stays a HOT update (no new entry in any index of
 * `emails`); the holder is a filter on the few rows the pending index returns first, as the claim's
 * expiry is. No foreign key to `jobs` (records are pruned; a check per stamp is work for nothing).
 *
 * Cheap on a large table: nullable without a default, so adding the columns only changes the
 * catalogue (no rewrite). The ALTER needs a brief ACCESS EXCLUSIVE lock; `lock_timeout` keeps it
 * from queueing behind a long transaction on `emails` with every reader and writer queued behind
 * it: the migration fails after 10 s instead, and the next start runs it again.
 */
export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`SET LOCAL lock_timeout = '10s'`
  yield* sql`ALTER TABLE emails
    ADD COLUMN IF NOT EXISTS analysis_claimed_by uuid,
    ADD COLUMN IF NOT EXISTS embedding_claimed_by uuid`
  yield* sql`RESET lock_timeout`
})
