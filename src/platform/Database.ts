import { NodeFileSystem, NodePath } from "@effect/platform-node"
import { PgClient } from "@effect/sql-pg"
import { Effect, Layer, Schema } from "effect"
import { SqlClient, type SqlError } from "effect/sql"
import * as Migrator from "effect/sql/Migrator"
import { fromFileSystem } from "effect/sql/MigratorFileSystem"
import { fileURLToPath } from "node:url"
import { AppConfig } from "./Config.ts"

const migrationsDirectory = fileURLToPath(new URL("../../migrations", import.meta.url))

/** The SQL client over the configured PostgreSQL database. */
export const DatabaseLive = Layer.unwrap(
  Effect.gen(function* () {
    const config = yield* AppConfig
    return PgClient.layer({
      url: config.databaseUrl,
      maxConnections: config.databaseMaxConnections,
      applicationName: config.serviceName,
      connectTimeout: "5 seconds"
    })
  })
)

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

/** A layer that migrates when built; compose it before programs that must see the newest schema. */
export const MigrateLayer = Layer.effectDiscard(migrate)

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
