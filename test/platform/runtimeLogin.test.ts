import { PgClient } from "@effect/sql-pg"
import { assert, layer } from "@effect/vitest"
import { Cause, ConfigProvider, Context, Effect, Exit, Layer, Redacted } from "effect"
import { SqlClient, type SqlError } from "effect/sql"
import { AppConfig } from "../../src/platform/Config.ts"
import {
  DatabaseLive,
  DatabaseRoles,
  migrate,
  migrateAsOwner,
  runtimeLoginProblems
} from "../../src/platform/Database.ts"
import { adminSql, psqlValue, runtimeLogin, runtimeUrl, serverUrl } from "../harness/postgres.ts"
import { configLayer, type TestEnv, withTestEnv } from "../harness/TestEnv.ts"

/**
 * The programs' login (DATABASE_URL) must not be able to step out of row-level
 * security, whatever SQL runs on its connection (docs/security.md): the pool is
 * built exactly as the programs build it, from the test environment.
 */
class Env extends Context.Service<Env, TestEnv>()("test/platform/runtimeLogin/Env") {}

const testLayer = withTestEnv(
  (env) =>
    Layer.mergeAll(
      Layer.succeed(Env, env),
      DatabaseLive.pipe(Layer.provide(AppConfig.layer), Layer.provide(configLayer(env)))
    ),
  // one connection: every statement of a test runs in the same session
  { DATABASE_MAX_CONNECTIONS: "1" }
)

/** Two users with a token each, written as the owner. */
const seed = (env: TestEnv) => {
  const suffix = Math.random().toString(36).slice(2, 8)
  const user = (name: string) =>
    psqlValue(
      env.databaseUrl,
      `INSERT INTO users (email, password_hash) VALUES ('${name}-${suffix}@rt.test', 'x') RETURNING id`
    )
  const alice = user("alice")
  const bob = user("bob")
  for (const [owner, name] of [
    [alice, "a"],
    [bob, "b"]
  ] as const) {
    psqlValue(
      env.databaseUrl,
      `INSERT INTO api_tokens (user_id, name, token_hash, token_prefix, expires_at, scopes) VALUES ('${owner}', '${name}', '${name}-${suffix}', 'mh_${name}', now() + interval '1 day', ARRAY['read'])`
    )
  }
  return { alice, bob }
}

/** Ways SQL on a pooled connection can try to leave the role the pool set (mail_helper_app). */
const escapes = ["RESET ROLE", "SET ROLE NONE", "SET SESSION AUTHORIZATION DEFAULT", "RESET ALL"] as const

/** Runs `effect` in a transaction that is always rolled back, so no session change outlives it on the pooled connection. */
const rolledBack = <A>(sql: SqlClient.SqlClient, effect: Effect.Effect<A, SqlError.SqlError>) =>
  sql
    .withTransaction(Effect.flatMap(effect, (value) => Effect.fail({ _tag: "RolledBack" as const, value })))
    .pipe(Effect.catchTag("RolledBack", (rolled) => Effect.succeed(rolled.value)))

/** The owner's login name (root on the test server), to try `SET ROLE` to it. */
const ownerLogin = (env: TestEnv) => decodeURIComponent(new URL(env.databaseUrl).username)

layer(testLayer, { excludeTestServices: true, timeout: "60 seconds" })("the runtime login", (it) => {
  it.effect("after RESET ROLE / SET ROLE NONE / ... an unfiltered read sees no other user's row", () =>
    Effect.gen(function* () {
      const env = yield* Env
      const sql = yield* SqlClient.SqlClient
      const { alice, bob } = seed(env)
      for (const attempt of escapes) {
        for (const table of ["users", "api_tokens"] as const) {
          const owner = table === "users" ? "id" : "user_id"
          // As alice's scope, then the escape, then the forgetful query (rolled back: nothing leaks to the pool).
          const read = yield* rolledBack(
            sql,
            Effect.gen(function* () {
              yield* sql`SELECT set_config('app.user_id', ${alice}, true)`
              yield* sql.unsafe(attempt)
              yield* sql`SELECT set_config('app.user_id', ${alice}, true)`
              const [who] = yield* sql<{ readonly role: string }>`SELECT current_user::text AS role`
              const rows = yield* sql.unsafe<{ readonly owner: string }>(`SELECT ${owner}::text AS owner FROM ${table}`)
              return { role: who?.role, owners: rows.map((row) => row.owner) }
            })
          ).pipe(Effect.exit)
          if (Exit.isSuccess(read)) {
            assert.notInclude(
              read.value.owners,
              bob,
              `after ${attempt}, running as ${read.value.role}, ${table} showed another user's row`
            )
          } else {
            // Running as the login itself (NOINHERIT): no privilege on any table at all.
            assert.include(Cause.pretty(read.cause), "permission denied", `${attempt} on ${table}`)
          }
        }
      }
    })
  )

  it.effect("cannot create, alter or drop, read pg_authid, or become another role", () =>
    Effect.gen(function* () {
      const env = yield* Env
      const sql = yield* SqlClient.SqlClient
      const forbidden = [
        "CREATE TABLE public.planted (id int)",
        "CREATE FUNCTION public.planted() RETURNS int LANGUAGE sql AS 'SELECT 1'",
        "CREATE SCHEMA planted",
        "ALTER TABLE users ADD COLUMN planted int",
        "ALTER TABLE api_tokens DISABLE ROW LEVEL SECURITY",
        "ALTER TABLE api_tokens NO FORCE ROW LEVEL SECURITY",
        "DROP POLICY api_tokens_owner_isolation ON api_tokens",
        "DROP TABLE api_tokens",
        "TRUNCATE api_tokens",
        "SELECT rolpassword FROM pg_authid",
        `SET ROLE ${ownerLogin(env)}`,
        "SET ROLE pg_read_all_data",
        "CREATE ROLE planted LOGIN SUPERUSER",
        `ALTER ROLE ${runtimeLogin} BYPASSRLS`,
        `GRANT ${DatabaseRoles.system} TO ${DatabaseRoles.app}`,
        "CREATE DATABASE planted",
        "COPY (SELECT 1) TO PROGRAM 'true'",
        "SELECT pg_read_file('/etc/passwd')"
      ]
      // as the pool's role, as the login itself, and as the system role (the residual, see below)
      for (const before of ["", "SET ROLE NONE", `SET ROLE ${DatabaseRoles.system}`]) {
        for (const statement of forbidden) {
          const result = yield* rolledBack(
            sql,
            Effect.gen(function* () {
              if (before !== "") yield* sql.unsafe(before)
              yield* sql.unsafe(statement)
            })
          ).pipe(Effect.exit)
          assert.isTrue(Exit.isFailure(result), `${before || "as the pool's role"}: ${statement} succeeded`)
        }
      }
      assert.strictEqual(
        psqlValue(env.databaseUrl, "SELECT count(*) FROM pg_class WHERE relname = 'planted'"),
        "0",
        "nothing was planted"
      )
    })
  )

  it.effect("residual, by design: the login may take the system role, which sees every user's row", () =>
    Effect.gen(function* () {
      const env = yield* Env
      const sql = yield* SqlClient.SqlClient
      const { alice, bob } = seed(env)
      // The system pool and UserScope.system need this (PostgreSQL 15 has no GRANT ... WITH SET FALSE).
      // If this ever fails, the residual is gone: update docs/security.md.
      const owners = yield* sql.withTransaction(
        Effect.gen(function* () {
          yield* sql.unsafe(`SET LOCAL ROLE ${DatabaseRoles.system}`)
          return yield* sql<{ readonly owner: string }>`SELECT user_id::text AS owner FROM api_tokens`
        })
      )
      const seen = owners.map((row) => row.owner)
      assert.include(seen, alice)
      assert.include(seen, bob)
    })
  )

  it.effect("the login check finds nothing wrong with the runtime login and names what is wrong with the owner", () =>
    Effect.gen(function* () {
      const env = yield* Env
      const check = (url: string) =>
        runtimeLoginProblems.pipe(Effect.provide(PgClient.layer({ url: Redacted.make(url), maxConnections: 1 })))
      const runtime = yield* check(env.runtimeDatabaseUrl)
      assert.strictEqual(runtime.login, runtimeLogin)
      assert.deepStrictEqual(runtime.problems, [])
      const owner = yield* check(env.databaseUrl)
      assert.include(owner.problems, "it is a superuser")
      assert.include(owner.problems, "it has INHERIT (without a role it would hold the system role's rights)")
    })
  )

  it.effect("production migrates only with DATABASE_OWNER_URL, and refuses an owner as DATABASE_URL", () =>
    Effect.gen(function* () {
      const env = yield* Env
      const run = (overrides: Record<string, string | undefined>) => {
        const values: Record<string, string> = {}
        for (const [key, value] of Object.entries({ ...env.env, NODE_ENV: "production", ...overrides })) {
          if (value !== undefined) values[key] = value
        }
        return migrateAsOwner.pipe(
          // fresh: the suite's AppConfig (built from the unchanged environment) is memoised
          Effect.provide(Layer.fresh(AppConfig.layer)),
          Effect.provide(ConfigProvider.layer(ConfigProvider.fromUnknown(values))),
          Effect.exit
        )
      }
      const proper = yield* run({})
      assert.isTrue(Exit.isSuccess(proper), Exit.isFailure(proper) ? Cause.pretty(proper.cause) : "")

      const noOwnerUrl = yield* run({ DATABASE_OWNER_URL: undefined })
      assert.isTrue(Exit.isFailure(noOwnerUrl))
      if (Exit.isFailure(noOwnerUrl)) assert.include(Cause.pretty(noOwnerUrl.cause), "DATABASE_OWNER_URL is not set")

      const ownerAsRuntime = yield* run({ DATABASE_URL: env.databaseUrl })
      assert.isTrue(Exit.isFailure(ownerAsRuntime))
      if (Exit.isFailure(ownerAsRuntime)) {
        const text = Cause.pretty(ownerAsRuntime.cause)
        assert.include(text, "UnsafeRuntimeLogin")
        assert.include(text, "it is a superuser")
      }
    })
  )
})

layer(Layer.empty, { timeout: "60 seconds" })("migration 0053", (it) => {
  it.effect("takes CREATE on schema public away from PUBLIC where an upgraded cluster still grants it", () =>
    Effect.gen(function* () {
      const database = `mh_t_0053_${process.pid}_${Math.random().toString(36).slice(2, 8)}`
      yield* Effect.acquireRelease(
        Effect.promise(() => adminSql(`CREATE DATABASE ${database}`)),
        () => Effect.promise(() => adminSql(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`))
      )
      // what pg_upgrade carries over from PostgreSQL 14 and older
      psqlValue(serverUrl(database), "GRANT CREATE ON SCHEMA public TO PUBLIC")
      yield* migrate.pipe(Effect.provide(PgClient.layer({ url: Redacted.make(serverUrl(database)) })))
      assert.strictEqual(
        psqlValue(serverUrl(database), `SELECT has_schema_privilege('${runtimeLogin}', 'public', 'CREATE')`),
        "f"
      )
      const planted = yield* Effect.exit(
        Effect.gen(function* () {
          const sql = yield* SqlClient.SqlClient
          yield* sql`CREATE TABLE public.planted (id int)`
        }).pipe(Effect.provide(PgClient.layer({ url: Redacted.make(runtimeUrl(database)), maxConnections: 1 })))
      )
      assert.isTrue(Exit.isFailure(planted), "the runtime login created a table in public")
    }).pipe(Effect.scoped)
  )
})
