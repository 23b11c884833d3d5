import { NodeFileSystem, NodePath } from "@effect/platform-node"
import { PgClient } from "@effect/sql-pg"
import { Context, Effect, Layer, Schema } from "effect"
import { SqlClient, type SqlError } from "effect/sql"
import * as Migrator from "effect/sql/Migrator"
import { fromFileSystem } from "effect/sql/MigratorFileSystem"
import { fileURLToPath } from "node:url"
import { AppConfig } from "./Config.ts"

const migrationsDirectory = fileURLToPath(new URL("../../migrations", import.meta.url))

/**
 * Database roles (created by migration 0010, see docs/security.md). Every
 * connection of the application pool runs as `app`, a role that row-level
 * security applies to; `system` is taken per transaction by `UserScope.system`
 * for work that must cross users. The login role of DATABASE_URL owns the
 * schema and only runs migrations.
 */
export const DatabaseRoles = { app: "mail_helper_app", system: "mail_helper_system" } as const

/** The SQL client over the configured PostgreSQL database, running as the row-level-security-bound app role. */
export const DatabaseLive = Layer.unwrap(
  Effect.gen(function* () {
    const config = yield* AppConfig
    return PgClient.layer({
      url: config.databaseUrl,
      maxConnections: config.databaseMaxConnections,
      applicationName: config.serviceName,
      connectTimeout: "5 seconds",
      startupParameters: { role: DatabaseRoles.app }
    })
  })
)

/**
 * A second, small pool whose connections start as the system role, which
 * sees every row. It serves single statements of infrastructure that must
 * cross users by design (the worker's bookkeeping of jobs by id, schedulers,
 * clean-up) without a transaction per statement, which the per-transaction
 * switch of `UserScope.system` needs. Feature code acting for a user never
 * takes this service: it goes through `UserScope.run`.
 */
export class SystemDatabase extends Context.Service<SystemDatabase, SqlClient.SqlClient>()(
  "mail-helper/SystemDatabase"
) {
  static readonly layer = Layer.unwrap(
    Effect.gen(function* () {
      const config = yield* AppConfig
      return Layer.effect(
        SystemDatabase,
        Effect.gen(function* () {
          return yield* SqlClient.SqlClient
        })
      ).pipe(
        Layer.provide(
          PgClient.layer({
            url: config.databaseUrl,
            maxConnections: Math.max(2, Math.ceil(config.databaseMaxConnections / 2)),
            applicationName: `${config.serviceName}-system`,
            connectTimeout: "5 seconds",
            startupParameters: { role: DatabaseRoles.system }
          })
        )
      )
    })
  )
}

const runMigrator = Migrator.make({})

/**
 * Applies every pending migration in `migrations/` (files `<id>_<name>.ts`).
 * Safe to run from several processes at once: the migrator locks its table.
 */
export const migrate = runMigrator({
  loader: fromFileSystem(migrationsDirectory),
  table: "schema_migrations"
}).pipe(
  Effect.tap((applied) =>
    applied.length === 0
      ? Effect.logInfo("database schema is up to date")
      : Effect.logInfo("applied migrations", applied.map(([id, name]) => `${id}_${name}`).join(", "))
  ),
  Effect.provide(Layer.mergeAll(NodeFileSystem.layer, NodePath.layer)),
  Effect.withSpan("Database.migrate")
)

/**
 * Migrates over a short-lived connection as the login role itself (the schema
 * owner), not through the application pool, whose connections run as the app role.
 */
export const migrateAsOwner = Effect.gen(function* () {
  const config = yield* AppConfig
  return yield* migrate.pipe(
    Effect.provide(
      PgClient.layer({ url: config.databaseUrl, maxConnections: 1, applicationName: `${config.serviceName}-migrate` })
    )
  )
})

/** A layer that migrates when built; build it before DatabaseLive (the app role is created by a migration). */
export const MigrateLayer = Layer.effectDiscard(migrateAsOwner)

export const ping = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`SELECT 1`
})

/**
 * The database could not serve a request (down, overloaded, a conflict that
 * may pass). Carries no SQL text or parameters, so it is safe to show.
 */
export class DatabaseError extends Schema.TaggedError<DatabaseError>()("DatabaseError", {
  message: Schema.String,
  retryable: Schema.Boolean
}) {}

/** Turns a driver error into a DatabaseError; use where the caller cannot do better. */
export const fromSqlError = (error: SqlError.SqlError): DatabaseError =>
  new DatabaseError({ message: `database error (${error.reason._tag})`, retryable: error.isRetryable })

/** Decodes rows read from our own schema; a mismatch is a bug, so it dies. */
export const decodeRows =
  <S extends Schema.Codec<unknown, unknown>>(schema: S) =>
  (rows: ReadonlyArray<unknown>): Effect.Effect<ReadonlyArray<S["Type"]>> =>
    Schema.decodeUnknownEffect(Schema.Array(schema))(rows).pipe(Effect.orDie)
