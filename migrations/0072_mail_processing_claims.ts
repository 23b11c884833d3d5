import { Effect } from "effect"
import { SqlClient } from "effect/sql"

/**
 * A claim on pending work: two `mail.analyze` (or `mail.embed`) jobs of one user ran over the
 * same pending messages (a sync's follow-up beside a fresh message's job, many small jobs at once
 * under fair share) and both called the provider for them. A job now takes its batch with
 * `FOR NO KEY UPDATE SKIP LOCKED` and stamps it `*_claimed_until` in the same statement; another
 * job skips a message whose claim has not expired. The write of the outcome clears the claim; a
 * job that dies leaves it to expire (src/analysis/README.md, "Claims").
 *
 * No index: the claim is a filter on the rows the partial pending indexes (0052) already return in
 * order, and an unindexed column keeps the claim's UPDATE a HOT update. Nullable without a
 * default: adding the columns rewrites nothing.
 */
export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`ALTER TABLE emails ADD COLUMN IF NOT EXISTS analysis_claimed_until timestamptz`
  yield* sql`ALTER TABLE emails ADD COLUMN IF NOT EXISTS embedding_claimed_until timestamptz`
})
