import { Effect } from "effect"
import { SqlClient } from "effect/sql"
import { DatabaseRoles } from "../src/platform/Database.ts"

/**
 * The two NOLOGIN roles row-level security is written for (docs/security.md):
 * `mail_helper_app` (every pooled connection) and `mail_helper_system` (taken
 * per transaction for cross-user work). Roles belong to the whole cluster, so
 * an existing role is reused; creating one needs CREATEROLE (or a superuser),
 * otherwise an administrator creates them once beforehand. The migrating
 * login role must be able to SET ROLE to both.
 */
const ensureRole = (role: string) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    // Two databases migrating at once may race to create the role: the loser finds it made.
    yield* sql.unsafe(`
      DO $$
      BEGIN
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '${role}') THEN
          BEGIN
            CREATE ROLE ${role} NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS NOINHERIT;
          EXCEPTION
            WHEN duplicate_object OR unique_violation THEN NULL;
            WHEN insufficient_privilege THEN
              RAISE EXCEPTION 'role ${role} does not exist and % may not create it', current_user
                USING HINT = 'as a superuser: CREATE ROLE ${role} NOLOGIN; GRANT ${role} TO <the DATABASE_OWNER_URL user> (see docs/security.md)';
          END;
        END IF;
        IF NOT pg_has_role(session_user, '${role}', 'MEMBER') THEN
          BEGIN
            EXECUTE format('GRANT ${role} TO %I', session_user);
          EXCEPTION WHEN insufficient_privilege THEN
            RAISE EXCEPTION '% is not a member of role ${role}', session_user
              USING HINT = 'as a superuser: GRANT ${role} TO <the DATABASE_OWNER_URL user> (see docs/security.md)';
          END;
        END IF;
      END
      $$`)
  })

export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* ensureRole(DatabaseRoles.app)
  yield* ensureRole(DatabaseRoles.system)
  for (const role of [DatabaseRoles.app, DatabaseRoles.system]) {
    yield* sql`GRANT USAGE ON SCHEMA public TO ${sql(role)}`
  }
  // The user of the current transaction, set by UserScope.run; NULL (so no row matches) when unset.
  yield* sql`
    CREATE FUNCTION app_current_user_id() RETURNS uuid
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT NULLIF(current_setting('app.user_id', true), '')::uuid $$`
})
