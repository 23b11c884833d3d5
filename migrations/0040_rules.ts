import { Effect } from "effect"
import { SqlClient } from "effect/sql"
import { DatabaseRoles } from "../src/platform/Database.ts"
import { userOwnedTable } from "../src/users/Rls.ts"

/**
 * Auto-rules (src/rules/README.md): each user's rules, and the execution log
 * of `rules.apply` (one row per rule and message whose actions were carried
 * out or failed; a rule that matched but found nothing to change writes none).
 */
export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient

  // conditions/actions hold the RuleInput's arrays as JSON; they are decoded with the
  // RuleInput schema when read, so a stored rule is always a valid rule.
  // rules.apply walks a user's mail in id order (keyset pages)
  yield* sql`CREATE INDEX emails_owner_id ON emails (user_id, id)`

  yield* sql`
    CREATE TABLE rules (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
      name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
      enabled boolean NOT NULL DEFAULT true,
      priority integer NOT NULL CHECK (priority BETWEEN 0 AND 1000000),
      match text NOT NULL CHECK (match IN ('all', 'any')),
      stop_processing boolean NOT NULL DEFAULT false,
      conditions jsonb NOT NULL CHECK (jsonb_typeof(conditions) = 'array'),
      actions jsonb NOT NULL CHECK (jsonb_typeof(actions) = 'array'),
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now()
    )`
  // the order rules run in: ascending priority, ties by creation
  yield* sql`CREATE INDEX rules_owner_order ON rules (user_id, priority, created_at, id)`
  yield* userOwnedTable("rules")

  yield* sql`CREATE SEQUENCE rule_runs_seq AS bigint`
  yield* sql`GRANT USAGE ON SEQUENCE rule_runs_seq TO ${sql(DatabaseRoles.app)}, ${sql(DatabaseRoles.system)}`
  yield* sql`
    CREATE TABLE rule_runs (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      -- keyset order of the log (several rows share one transaction's now())
      seq bigint NOT NULL UNIQUE DEFAULT nextval('rule_runs_seq'),
      user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
      rule_id uuid REFERENCES rules (id) ON DELETE SET NULL,
      -- the rule's name when it ran (the rule may be renamed or deleted later)
      rule_name text NOT NULL,
      email_id uuid REFERENCES emails (id) ON DELETE SET NULL,
      job_id uuid REFERENCES jobs (id) ON DELETE SET NULL,
      trigger text NOT NULL CHECK (trigger IN ('manual', 'new_mail')),
      -- [{action, status: applied|failed}] in execution order
      actions jsonb NOT NULL CHECK (jsonb_typeof(actions) = 'array'),
      outcome text NOT NULL CHECK (outcome IN ('applied', 'partial', 'failed')),
      error_code text,
      error_message text,
      created_at timestamptz NOT NULL DEFAULT now()
    )`
  yield* sql`ALTER SEQUENCE rule_runs_seq OWNED BY rule_runs.seq`
  yield* sql`CREATE INDEX rule_runs_owner_seq ON rule_runs (user_id, seq DESC)`
  yield* sql`CREATE INDEX rule_runs_rule ON rule_runs (rule_id, seq DESC) WHERE rule_id IS NOT NULL`
  yield* sql`CREATE INDEX rule_runs_email ON rule_runs (email_id, seq DESC) WHERE email_id IS NOT NULL`
  yield* sql`CREATE INDEX rule_runs_job ON rule_runs (job_id, seq DESC) WHERE job_id IS NOT NULL`
  yield* userOwnedTable("rule_runs")
})
