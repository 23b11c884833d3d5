import { assert, layer } from "@effect/vitest"
import { Cause, ConfigProvider, Effect, Exit, Layer } from "effect"
import { spawnSync } from "node:child_process"
import { fileURLToPath } from "node:url"
import { AppConfig } from "../../src/platform/Config.ts"
import { migrateAsOwner } from "../../src/platform/Database.ts"
import { adminSql, psqlValue, serverUrl } from "../harness/postgres.ts"

/**
 * deploy/postgres-init/10-app-role.sh (docker compose's first start, or by hand on a systemd host)
 * sets up what production needs: a non-superuser owner that can run every migration, and a runtime
 * login that migrate's production check accepts.
 */
const script = fileURLToPath(new URL("../../deploy/postgres-init/10-app-role.sh", import.meta.url))

const suffix = `${process.pid}_${Math.random().toString(36).slice(2, 8)}`
const owner = `mh_t_owner_${suffix}`
const runtime = `mh_t_runtime_${suffix}`
const database = `mh_t_init_${suffix}`

const server = new URL(serverUrl("postgres"))
const urlFor = (user: string, password: string) => {
  const url = new URL(serverUrl(database))
  url.username = user
  url.password = password
  return url.toString()
}

const runScript = (overrides: Record<string, string> = {}) =>
  spawnSync("bash", [script], {
    encoding: "utf8",
    env: {
      PATH: process.env["PATH"] ?? "",
      PGHOST: server.hostname,
      PGPORT: server.port || "5432",
      PGPASSWORD: decodeURIComponent(server.password),
      POSTGRES_USER: decodeURIComponent(server.username),
      POSTGRES_DB: "postgres",
      APP_DB_USER: owner,
      APP_DB_PASSWORD: "owner-pw-1",
      APP_DB_NAME: database,
      RUNTIME_DB_USER: runtime,
      RUNTIME_DB_PASSWORD: "runtime-pw-1",
      ...overrides
    }
  })

const cleanUp = Effect.promise(async () => {
  await adminSql(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`)
  await adminSql(`DROP ROLE IF EXISTS ${runtime}`)
  await adminSql(`DROP ROLE IF EXISTS ${owner}`)
})

layer(Layer.empty, { timeout: "60 seconds" })("deploy/postgres-init", (it) => {
  it.effect("creates an owner that migrates and a runtime login production accepts; idempotent", () =>
    Effect.gen(function* () {
      yield* Effect.addFinalizer(() => cleanUp)
      for (const round of [1, 2]) {
        const result = runScript()
        assert.strictEqual(result.status, 0, `round ${round}: ${result.stderr}`)
      }
      const production = ConfigProvider.fromUnknown({
        NODE_ENV: "production",
        DATABASE_OWNER_URL: urlFor(owner, "owner-pw-1"),
        DATABASE_URL: urlFor(runtime, "runtime-pw-1"),
        LOG_LEVEL: "Warn"
      })
      const migrated = yield* migrateAsOwner.pipe(
        Effect.provide(Layer.fresh(AppConfig.layer)),
        Effect.provide(ConfigProvider.layer(production)),
        Effect.exit
      )
      assert.isTrue(Exit.isSuccess(migrated), Exit.isFailure(migrated) ? Cause.pretty(migrated.cause) : "")
      const rootUrl = serverUrl(database)
      assert.strictEqual(
        psqlValue(rootUrl, "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()"),
        owner
      )
      assert.strictEqual(
        psqlValue(rootUrl, `SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tableowner <> '${owner}'`),
        "0"
      )
      assert.strictEqual(
        psqlValue(rootUrl, `SELECT has_database_privilege('${runtime}', current_database(), 'CONNECT')`),
        "t"
      )
      assert.strictEqual(
        psqlValue(rootUrl, `SELECT has_database_privilege('public', current_database(), 'CONNECT')`),
        "f",
        "any other login may connect"
      )
    }).pipe(Effect.scoped)
  )

  it.effect("refuses the owner as the runtime login", () =>
    Effect.gen(function* () {
      yield* Effect.addFinalizer(() => cleanUp)
      const result = runScript({ RUNTIME_DB_USER: owner })
      assert.notStrictEqual(result.status, 0)
      assert.include(result.stderr, "RUNTIME_DB_USER must differ from APP_DB_USER")
      assert.strictEqual(
        psqlValue(serverUrl("postgres"), `SELECT count(*) FROM pg_roles WHERE rolname = '${owner}'`),
        "0"
      )
    }).pipe(Effect.scoped)
  )
})
