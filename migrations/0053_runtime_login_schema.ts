import { Effect } from "effect"
import { SqlClient } from "effect/sql"

/**
 * The programs log in with a runtime login that owns nothing and may create
 * nothing (docs/security.md). PostgreSQL 15 no longer lets PUBLIC create in
 * the `public` schema of a new database, but a cluster upgraded from an older
 * release (pg_upgrade, or a dump of one) keeps the old grant, and with it any
 * login could create tables, functions or views there and own them. Revoking
 * it is a no-op where it is already gone. The owner keeps CREATE through
 * ownership (PostgreSQL 15: `pg_database_owner` owns `public`).
 */
export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`REVOKE CREATE ON SCHEMA public FROM PUBLIC`
})
