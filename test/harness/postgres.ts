import { spawnSync } from "node:child_process"

/** The local test server (trust auth, superuser `root`); override with TEST_POSTGRES_URL. */
const base = process.env["TEST_POSTGRES_URL"] ?? "postgres://root@127.0.0.1:5432"

export const serverUrl = (database: string): string => `${base}/${database}`

/**
 * The runtime login every test program connects with, as in production
 * (docs/security.md): LOGIN NOINHERIT, a member of mail_helper_app and
 * mail_helper_system only, no other attribute, owns nothing. Roles belong to
 * the whole server, so test runs share it; globalSetup creates it.
 */
export const runtimeLogin = "mail_helper_runtime"
const runtimePassword = "runtime-test-login"

/** DATABASE_URL of the programs under test: the runtime login on the same server. */
export const runtimeUrl = (database: string): string => {
  const url = new URL(serverUrl(database))
  url.username = runtimeLogin
  url.password = runtimePassword
  return url.toString()
}

/**
 * Creates or repairs the runtime login (idempotent; an advisory lock serialises
 * concurrent test runs, whose ALTER/GRANT would otherwise race on pg_authid).
 */
export const ensureRuntimeLogin = () =>
  adminSql(`
    SELECT pg_advisory_lock(hashtext('mail-helper-test:runtime-login'));
    DO $$
    BEGIN
      IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '${runtimeLogin}') THEN
        CREATE ROLE ${runtimeLogin} LOGIN NOINHERIT NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS NOREPLICATION
          PASSWORD '${runtimePassword}';
      END IF;
      ALTER ROLE ${runtimeLogin} LOGIN NOINHERIT NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS NOREPLICATION;
      IF NOT pg_has_role('${runtimeLogin}', 'mail_helper_app', 'MEMBER') THEN
        GRANT mail_helper_app TO ${runtimeLogin};
      END IF;
      IF NOT pg_has_role('${runtimeLogin}', 'mail_helper_system', 'MEMBER') THEN
        GRANT mail_helper_system TO ${runtimeLogin};
      END IF;
    END
    $$;`)

/** Runs one administrative statement (CREATE/DROP DATABASE) through psql, outside any pool. */
export const adminSql = async (statement: string): Promise<void> => {
  const result = spawnSync("psql", [serverUrl("postgres"), "-v", "ON_ERROR_STOP=1", "-qc", statement], {
    encoding: "utf8"
  })
  if (result.status !== 0) throw new Error(`psql failed: ${result.stderr}`)
}

/** One value read with psql as the owner (no row-level security): an independent view of what was stored. */
export const psqlValue = (databaseUrl: string, query: string): string => {
  const result = spawnSync("psql", [databaseUrl, "-v", "ON_ERROR_STOP=1", "-qAtc", query], { encoding: "utf8" })
  if (result.status !== 0) throw new Error(`psql failed: ${result.stderr}`)
  return result.stdout.trim()
}
