import { Effect } from "effect"
import { SqlClient } from "effect/sql"
import { userOwnedTable } from "../src/users/Rls.ts"

/**
 * Rule runs and their action journal (src/rules/README.md, "Runs, journal and undo"):
 * - `rule_apply_runs`: one row per `rules.apply` job that changed something on the server (manual or
 *   new mail), with the count the user confirmed and the undo request;
 * - `rule_journal`: one row per message the run changed on the server: where it was (mailbox,
 *   UIDVALIDITY, UID) and its flags before, where it went and its flags after (UIDPLUS COPYUID), so
 *   the run can be undone, and the outcome of that undo per message.
 * Both are user-owned: row-level security as every user table.
 */
export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient

  yield* sql`
    CREATE TABLE rule_apply_runs (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
      -- a retried attempt of the same job writes into the same run
      job_id uuid UNIQUE REFERENCES jobs (id) ON DELETE SET NULL,
      trigger text NOT NULL CHECK (trigger IN ('manual', 'new_mail')),
      -- the number of messages the user confirmed for POST /rules/apply (null for new mail)
      confirmed_count integer CHECK (confirmed_count >= 0),
      undo_job_id uuid REFERENCES jobs (id) ON DELETE SET NULL,
      undo_requested_at timestamptz,
      created_at timestamptz NOT NULL DEFAULT now()
    )`
  yield* sql`CREATE INDEX rule_apply_runs_owner ON rule_apply_runs (user_id, created_at DESC, id DESC)`
  yield* userOwnedTable("rule_apply_runs")

  yield* sql`
    CREATE TABLE rule_journal (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
      run_id uuid NOT NULL REFERENCES rule_apply_runs (id) ON DELETE CASCADE,
      email_id uuid REFERENCES emails (id) ON DELETE SET NULL,
      account_id uuid NOT NULL REFERENCES mail_accounts (id) ON DELETE CASCADE,
      subject text,
      -- the server actions carried out, e.g. ["markRead", "delete"]
      actions jsonb NOT NULL CHECK (jsonb_typeof(actions) = 'array'),
      mailbox_before text NOT NULL,
      uid_validity_before bigint NOT NULL,
      uid_before bigint NOT NULL,
      flags_before text[] NOT NULL,
      mailbox_after text NOT NULL,
      -- the server's COPYUID answer (a MOVE is journaled only when the server confirmed the new UID)
      uid_validity_after bigint NOT NULL,
      uid_after bigint NOT NULL,
      flags_after text[] NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      undo_status text CHECK (undo_status IN ('restored', 'changed', 'vanished', 'failed')),
      undo_detail text,
      undone_at timestamptz
    )`
  yield* sql`CREATE INDEX rule_journal_run ON rule_journal (run_id, created_at, id)`
  yield* userOwnedTable("rule_journal")
})
