import { NodeFileSystem, NodePath } from "@effect/platform-node"
import { PgClient } from "@effect/sql-pg"
import { Context, Effect, Layer, Option, Schema } from "effect"
import { SqlClient, type SqlError } from "effect/sql"
import * as Migrator from "effect/sql/Migrator"
import { fromFileSystem } from "effect/sql/MigratorFileSystem"
import { fileURLToPath } from "node:url"
import { AppConfig } from "./Config.ts"
import { instrumentedPgClientLayer } from "./DatabasePool.ts"

const migrationsDirectory = fileURLToPath(new URL("../../migrations", import.meta.url))

/**
 * Database roles (created by migration 0010, see docs/security.md). Every
 * connection of the application pool runs as `app`, a role that row-level
 * security applies to; `system` is taken per transaction by `UserScope.system`
 * for work that must cross users. Both pools log in with DATABASE_URL's
 * runtime login, a NOINHERIT member of these two roles only that owns
 * nothing; the schema owner (DATABASE_OWNER_URL) only runs migrations.
 */
export const DatabaseRoles = { app: "mail_helper_app", system: "mail_helper_system" } as const

/**
 * The SQL client over the configured PostgreSQL database, running as the row-level-security-bound app role.
 * Its pool reports as `pool="app"` (db_pool_* metrics, see DatabasePool.ts), the system pool as `pool="system"`.
 */
export const DatabaseLive = Layer.unwrap(
  Effect.gen(function* () {
    const config = yield* AppConfig
    return instrumentedPgClientLayer("app", {
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
          instrumentedPgClientLayer("system", {
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

/** Production has no fallback for DATABASE_OWNER_URL: the runtime login must not be able to migrate. */
export class DatabaseOwnerUrlMissing extends Schema.TaggedError<DatabaseOwnerUrlMissing>()("DatabaseOwnerUrlMissing", {
  message: Schema.String
}) {}

/** DATABASE_URL's login could step out of row-level security; production refuses to migrate for it. */
export class UnsafeRuntimeLogin extends Schema.TaggedError<UnsafeRuntimeLogin>()("UnsafeRuntimeLogin", {
  message: Schema.String,
  login: Schema.String,
  problems: Schema.Array(Schema.String)
}) {}

/**
 * The URL migrations log in with: DATABASE_OWNER_URL, or outside production
 * DATABASE_URL (a development machine with one superuser login).
 */
export const ownerUrl = Effect.gen(function* () {
  const config = yield* AppConfig
  if (Option.isSome(config.databaseOwnerUrl)) return config.databaseOwnerUrl.value
  if (config.environment !== "production") return config.databaseUrl
  return yield* new DatabaseOwnerUrlMissing({
    message:
      "DATABASE_OWNER_URL is not set: in production migrations log in as the schema owner with their own URL, " +
      "and DATABASE_URL is the restricted runtime login (docs/security.md)"
  })
})

const LoginRow = Schema.Struct({
  name: Schema.String,
  superuser: Schema.Boolean,
  createrole: Schema.Boolean,
  createdb: Schema.Boolean,
  bypassrls: Schema.Boolean,
  replication: Schema.Boolean,
  inherit: Schema.Boolean,
  member_of: Schema.String,
  admin_of: Schema.String,
  owns: Schema.Boolean
})

/**
 * What lets the current session's login (session_user, not the role it runs
 * as) step out of row-level security; empty for a proper runtime login:
 * no SUPERUSER, CREATEROLE, CREATEDB, BYPASSRLS or REPLICATION; NOINHERIT (a
 * `SET ROLE NONE` then holds no privilege at all, instead of the system role's);
 * a member of the app and system roles only, without ADMIN OPTION; owns nothing
 * in this database and not the database itself.
 */
export const runtimeLoginProblems = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  const rows = yield* sql`
    SELECT r.rolname AS name, r.rolsuper AS superuser, r.rolcreaterole AS createrole, r.rolcreatedb AS createdb,
           r.rolbypassrls AS bypassrls, r.rolreplication AS replication, r.rolinherit AS inherit,
           coalesce((SELECT string_agg(m.roleid::regrole::text, ',' ORDER BY m.roleid::regrole::text)
                     FROM pg_auth_members m WHERE m.member = r.oid), '') AS member_of,
           coalesce((SELECT string_agg(m.roleid::regrole::text, ',' ORDER BY m.roleid::regrole::text)
                     FROM pg_auth_members m WHERE m.member = r.oid AND m.admin_option), '') AS admin_of,
           EXISTS (SELECT 1 FROM pg_shdepend d
                   WHERE d.refobjid = r.oid AND d.deptype = 'o'
                     AND d.dbid IN (0, (SELECT oid FROM pg_database WHERE datname = current_database()))) AS owns
    FROM pg_roles r WHERE r.rolname = session_user`.pipe(Effect.flatMap(decodeRows(LoginRow)))
  const row = rows[0]
  if (row === undefined) return { login: "an unknown login", problems: ["session_user is not in pg_roles"] }
  const problems: Array<string> = []
  if (row.superuser) problems.push("it is a superuser")
  if (row.bypassrls) problems.push("it has BYPASSRLS")
  if (row.createrole) problems.push("it has CREATEROLE")
  if (row.createdb) problems.push("it has CREATEDB")
  if (row.replication) problems.push("it has REPLICATION")
  if (row.inherit) problems.push("it has INHERIT (without a role it would hold the system role's rights)")
  const allowed: ReadonlyArray<string> = [DatabaseRoles.app, DatabaseRoles.system]
  const memberOf = row.member_of === "" ? [] : row.member_of.split(",")
  const others = memberOf.filter((role) => !allowed.includes(role))
  if (others.length > 0) problems.push(`it is a member of ${others.join(", ")}`)
  for (const role of allowed) if (!memberOf.includes(role)) problems.push(`it is not a member of ${role}`)
  if (row.admin_of !== "") problems.push(`it may grant ${row.admin_of} (ADMIN OPTION)`)
  if (row.owns) problems.push("it owns objects in this database (or the database)")
  return { login: row.name, problems }
})

/**
 * Checks DATABASE_URL's login (runtimeLoginProblems) over a connection of its
 * own: production fails with UnsafeRuntimeLogin, elsewhere it is a warning.
 */
export const verifyRuntimeLogin = Effect.gen(function* () {
  const config = yield* AppConfig
  const { login, problems } = yield* runtimeLoginProblems.pipe(
    Effect.provide(
      PgClient.layer({
        url: config.databaseUrl,
        maxConnections: 1,
        applicationName: `${config.serviceName}-migrate`,
        connectTimeout: "5 seconds"
      })
    )
  )
  if (problems.length === 0) return
  const message = `DATABASE_URL logs in as ${login}, which can step out of row-level security: ${problems.join("; ")} (docs/security.md)`
  if (config.environment === "production") return yield* new UnsafeRuntimeLogin({ message, login, problems })
  yield* Effect.logWarning(message)
})

/**
 * Migrates over a short-lived connection as the schema owner (ownerUrl), not
 * through the application pool, whose connections run as the app role; then
 * checks the runtime login (verifyRuntimeLogin), so a deployment whose
 * DATABASE_URL could escape row-level security stops before the programs start.
 */
export const migrateAsOwner = Effect.gen(function* () {
  const config = yield* AppConfig
  const url = yield* ownerUrl
  const applied = yield* migrate.pipe(
    Effect.provide(PgClient.layer({ url, maxConnections: 1, applicationName: `${config.serviceName}-migrate` }))
  )
  yield* verifyRuntimeLogin
  return applied
})

/** A layer that migrates when built; build it before DatabaseLive (the app role is created by a migration). */
export const MigrateLayer = Layer.effectDiscard(migrateAsOwner)

export const ping = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`SELECT 1`
})

/**
 * What an operator needs to find the cause of a database error, and nothing a
 * user wrote: the SQLSTATE `code`, the server's (or the socket's) `message`,
 * and the names of the objects involved. Never the statement's parameters, nor
 * the server's `detail` ("Key (email)=(...)", "Failing row contains (...)"),
 * `where` or `hint`, which quote values. Messages of SQLSTATE class 22 (data
 * exceptions: `invalid input syntax for type uuid: "..."`) quote the offending
 * value after their first colon, so they are cut there.
 */
export const DatabaseErrorDiagnostic = Schema.Struct({
  reason: Schema.String,
  operation: Schema.optionalKey(Schema.String),
  code: Schema.optionalKey(Schema.String),
  message: Schema.optionalKey(Schema.String),
  severity: Schema.optionalKey(Schema.String),
  schema: Schema.optionalKey(Schema.String),
  table: Schema.optionalKey(Schema.String),
  column: Schema.optionalKey(Schema.String),
  dataType: Schema.optionalKey(Schema.String),
  constraint: Schema.optionalKey(Schema.String),
  routine: Schema.optionalKey(Schema.String)
})
export type DatabaseErrorDiagnostic = typeof DatabaseErrorDiagnostic.Type

/**
 * The database could not serve a request (down, overloaded, a conflict that
 * may pass). `message` carries no SQL text or parameters, so it is safe to
 * show; `diagnostic` is for the operator's log (logDatabaseError), never for a
 * response.
 */
export class DatabaseError extends Schema.TaggedError<DatabaseError>()("DatabaseError", {
  message: Schema.String,
  retryable: Schema.Boolean,
  diagnostic: Schema.optionalKey(DatabaseErrorDiagnostic)
}) {}

const diagnosticFields = ["severity", "schema", "table", "column", "dataType", "constraint", "routine"] as const
const maxDiagnosticLength = 300

const stringField = (value: unknown, key: string): string | undefined => {
  if (typeof value !== "object" || value === null) return undefined
  const field: unknown = Reflect.get(value, key)
  return typeof field === "string" && field.length > 0 ? field.slice(0, maxDiagnosticLength) : undefined
}

/** The server's message without the value a data exception (SQLSTATE class 22) quotes after its first colon. */
const safeMessage = (code: string | undefined, message: string): string => {
  if (code?.startsWith("22") !== true) return message
  const colon = message.indexOf(":")
  return colon === -1 ? message : message.slice(0, colon)
}

/** The loggable part of a driver error (see DatabaseErrorDiagnostic). */
export const sqlErrorDiagnostic = (error: SqlError.SqlError): DatabaseErrorDiagnostic => {
  const reason = error.reason
  const cause: unknown = reason.cause
  const code = stringField(cause, "code")
  const message = stringField(cause, "message") ?? reason.message.slice(0, maxDiagnosticLength)
  const diagnostic: { -readonly [K in keyof DatabaseErrorDiagnostic]: DatabaseErrorDiagnostic[K] } = {
    reason: reason._tag
  }
  if (reason.operation !== undefined) diagnostic.operation = reason.operation
  if (code !== undefined) diagnostic.code = code
  if (message !== undefined && message.length > 0) diagnostic.message = safeMessage(code, message)
  for (const key of diagnosticFields) {
    const value = stringField(cause, key)
    if (value !== undefined) diagnostic[key] = value
  }
  if (diagnostic.constraint === undefined && reason._tag === "UniqueViolation" && reason.constraint !== "unknown") {
    diagnostic.constraint = reason.constraint
  }
  return diagnostic
}

/** Turns a driver error into a DatabaseError; use where the caller cannot do better. */
export const fromSqlError = (error: SqlError.SqlError): DatabaseError =>
  new DatabaseError({
    message: `database error (${error.reason._tag})`,
    retryable: error.isRetryable,
    diagnostic: sqlErrorDiagnostic(error)
  })

/**
 * Logs the cause of a database error for the operator: one line, "database
 * error", annotated `db.error.*` (code, message, constraint, table, ...; see
 * DatabaseErrorDiagnostic). A warning when the error may pass on a retry,
 * otherwise an error. Called where a DatabaseError turns into an answer (the
 * HTTP 503, a job attempt's failure), so every cause is logged once.
 */
export const logDatabaseError = (error: DatabaseError | SqlError.SqlError): Effect.Effect<void> => {
  const diagnostic = error._tag === "SqlError" ? sqlErrorDiagnostic(error) : error.diagnostic
  const retryable = error._tag === "SqlError" ? error.isRetryable : error.retryable
  const annotations: Record<string, string | boolean> = { "db.error.retryable": retryable }
  if (diagnostic !== undefined) {
    for (const [key, value] of Object.entries(diagnostic)) {
      if (value !== undefined) annotations[`db.error.${key}`] = value
    }
  }
  const log = retryable ? Effect.logWarning("database error") : Effect.logError("database error")
  return log.pipe(Effect.annotateLogs(annotations))
}

/**
 * Decodes rows read from our own schema; a mismatch is a bug, so it dies. The array's decoder is
 * built once per `decodeRows(schema)` (stores call it once, when their layer is built), not per read.
 */
export const decodeRows = <S extends Schema.Codec<unknown, unknown>>(schema: S) => {
  const decode = Schema.decodeUnknownEffect(Schema.Array(schema))
  return (rows: ReadonlyArray<unknown>): Effect.Effect<ReadonlyArray<S["Type"]>> => decode(rows).pipe(Effect.orDie)
}
