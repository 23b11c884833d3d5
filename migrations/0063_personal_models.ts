import { Effect } from "effect"
import { SqlClient } from "effect/sql"
import { userOwnedTable } from "../src/users/Rls.ts"

/**
 * Learning from corrections (issue 19).
 *
 * `personal_models`: one row per user, training (`version`) and target (urgency, importance,
 * category, spam, `tag:<name>`): the weights as JSON, the cross-validated metrics, whether the
 * model is used and why not. Removed with the user; the `model.train` job keeps the latest 100
 * versions.
 *
 * `email_analysis` keeps the provider's own values in `base_*` apart from the blended values in
 * the existing columns (which rules, lists and email_effective read), so blending and rescoring
 * can be redone from the base; `decisions` says per value which source decided and why, and
 * `tag_suggestions` holds tags the personal model suggests (not applied until the user accepts one).
 * A NULL `base_*` (a row written before this migration, or by another writer) means the stored
 * value is the provider's own: readers take COALESCE(base_x, x).
 */
export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`
    CREATE TABLE personal_models (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
      version integer NOT NULL CHECK (version > 0),
      target text NOT NULL CHECK (length(target) BETWEEN 1 AND 100),
      weights jsonb NOT NULL,
      metrics jsonb NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      UNIQUE (user_id, version, target)
    )`
  yield* userOwnedTable("personal_models")

  yield* sql`
    ALTER TABLE email_analysis
      ADD COLUMN base_urgency smallint CHECK (base_urgency BETWEEN 1 AND 3),
      ADD COLUMN base_importance smallint CHECK (base_importance BETWEEN 1 AND 3),
      ADD COLUMN base_category text,
      ADD COLUMN base_spam boolean,
      ADD COLUMN base_tags text[],
      ADD COLUMN decisions jsonb,
      ADD COLUMN tag_suggestions text[] NOT NULL DEFAULT '{}'`
})
