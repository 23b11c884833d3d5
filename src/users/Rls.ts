import { Effect } from "effect"
import { SqlClient } from "effect/sql"
import { DatabaseRoles } from "../platform/Database.ts"

/**
 * Migration helpers for the second wall of tenant isolation (docs/security.md).
 *
 * Every table that holds a user's data calls `userOwnedTable` in the migration
 * that creates it. The application role can then only see and write rows whose
 * owner column equals the user set by `UserScope.run` for the current
 * transaction; with no user set it sees nothing. The system role (taken by
 * `UserScope.system`) sees every row. The table owner is bound too (FORCE), so
 * a deployment that connects as the owner without switching roles is still
 * isolated; only superusers and BYPASSRLS roles escape, and UserScope refuses
 * to start on such a connection.
 */
export const userOwnedTable = (table: string, options?: { readonly ownerColumn?: string }) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const owner = sql(options?.ownerColumn ?? "user_id")
    yield* grantAccess(table)
    yield* sql`ALTER TABLE ${sql(table)} ENABLE ROW LEVEL SECURITY`
    yield* sql`ALTER TABLE ${sql(table)} FORCE ROW LEVEL SECURITY`
    yield* sql`
      CREATE POLICY ${sql(`${table}_owner_isolation`)} ON ${sql(table)}
      AS PERMISSIVE FOR ALL TO ${sql(DatabaseRoles.app)}
      USING (${owner} = app_current_user_id())
      WITH CHECK (${owner} = app_current_user_id())`
    yield* systemPolicy(table)
  })

/**
 * A table no user reads directly (invites, ...): only the system role may
 * touch it; the application role has no privilege on it at all.
 */
export const systemOnlyTable = (table: string) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    yield* sql`REVOKE ALL ON ${sql(table)} FROM ${sql(DatabaseRoles.app)}`
    yield* sql`GRANT SELECT, INSERT, UPDATE, DELETE ON ${sql(table)} TO ${sql(DatabaseRoles.system)}`
    yield* sql`ALTER TABLE ${sql(table)} ENABLE ROW LEVEL SECURITY`
    yield* sql`ALTER TABLE ${sql(table)} FORCE ROW LEVEL SECURITY`
    yield* systemPolicy(table)
  })

const grantAccess = (table: string) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    yield* sql`GRANT SELECT, INSERT, UPDATE, DELETE ON ${sql(table)} TO ${sql(DatabaseRoles.app)}, ${sql(DatabaseRoles.system)}`
  })

const systemPolicy = (table: string) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    yield* sql`
      CREATE POLICY ${sql(`${table}_system_access`)} ON ${sql(table)}
      AS PERMISSIVE FOR ALL TO ${sql(DatabaseRoles.system)}
      USING (true) WITH CHECK (true)`
  })
