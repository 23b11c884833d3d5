/**
 * Shared by test/accounts and test/sync: the API (stand-in authentication) and optionally an
 * in-process worker over this file's own database and Redis prefix, a throw-away Dovecot, an
 * owner connection to read what was stored without row-level security, and small helpers.
 */
import { NodeHttpServer } from "@effect/platform-node"
import { PgClient } from "@effect/sql-pg"
import { assert } from "@effect/vitest"
import { Cause, Context, Effect, Layer, Logger, Redacted, References, Schedule, Schema } from "effect"
import { HttpRouter } from "effect/http"
import { HttpApi, HttpApiBuilder } from "effect/http-api"
import { SqlClient } from "effect/sql"
import { AccountsApi } from "../../src/contract/accounts/AccountsApi.ts"
import { AccountsHttpLive } from "../../src/accounts/AccountsHttp.ts"
import { OAuthApi } from "../../src/contract/accounts/OAuthApi.ts"
import { OAuthHttpLive } from "../../src/accounts/OAuthHttp.ts"
import { ValidationErrors } from "../../src/contract/http/ValidationErrors.ts"
import { ValidationErrorsLive } from "../../src/http/ValidationErrors.ts"
import { JobsApi } from "../../src/contract/jobs/JobsApi.ts"
import { JobsHttpLive } from "../../src/jobs/JobsHttp.ts"
import { JobsLive, PlatformLive } from "../../src/main/layers.ts"
import { WorkerLive } from "../../src/main/workerLayers.ts"
import { SyncLive } from "../../src/sync/SyncLive.ts"
import { tracingWith } from "../../src/platform/Telemetry.ts"
import type { SpanProcessor } from "@opentelemetry/sdk-trace-base"
import { Dovecot, type DovecotServer, type StartDovecotOptions } from "../harness/dovecot.ts"
import { configLayer, makeTestEnv, type TestEnv } from "../harness/TestEnv.ts"
import { TestAuthenticationLive } from "../harness/TestAuthentication.ts"
import { type ApiResponse, baseUrl, call, field } from "../harness/http.ts"

/**
 * The groups these tests use (accounts, OAuth2 accounts, jobs), served like the real API (same middleware and
 * parse options) but without the groups other features are still building.
 */
class SyncTestApi extends HttpApi.make("mail-helper")
  .add(JobsApi)
  .add(AccountsApi)
  .add(OAuthApi)
  .middleware(ValidationErrors)
  .annotate(HttpApi.ParseOptions, { errors: "all", onExcessProperty: "error" }) {}

export const SyncTestHttpLive = HttpApiBuilder.layer(SyncTestApi).pipe(
  Layer.provide([JobsHttpLive, AccountsHttpLive, OAuthHttpLive]),
  Layer.provide([ValidationErrorsLive, TestAuthenticationLive])
)

/** The test's environment, so worker processes can join the same database and queues. */
export class Env extends Context.Service<Env, TestEnv>()("test/sync/Env") {}

/** A superuser connection to the test database: reads what was stored, bypassing row-level security. */
export class OwnerDb extends Context.Service<OwnerDb, SqlClient.SqlClient>()("test/sync/OwnerDb") {}

export const ownerDbLayer = (env: TestEnv) =>
  Layer.effect(
    OwnerDb,
    Effect.gen(function* () {
      return yield* SqlClient.SqlClient
    })
  ).pipe(Layer.provide(PgClient.layer({ url: Redacted.make(env.databaseUrl), maxConnections: 2 })))

/** Every log line of the test process (in-process API and worker), rendered, to look for secrets. */
export const capturedLogs: Array<string> = []

/** Captures everything from Debug up; prints warnings and errors as usual. */
const captureLogger = Logger.make<unknown, void>((options) => {
  const annotations = options.fiber.getRef(References.CurrentLogAnnotations)
  const line = `${options.logLevel} ${JSON.stringify(options.message)} ${JSON.stringify(annotations)}${
    options.cause.reasons.length > 0 ? ` ${Cause.pretty(options.cause)}` : ""
  }`
  capturedLogs.push(line)
  if (options.logLevel === "Warn" || options.logLevel === "Error" || options.logLevel === "Fatal") console.log(line)
})

const CaptureLogsLive = Layer.mergeAll(
  Logger.layer([captureLogger]),
  Layer.succeed(References.MinimumLogLevel, "Debug")
)

export interface SyncTestOptions {
  /** Run the worker (sync processor, scheduler ticks) in this process. */
  readonly worker: boolean
  readonly env?: Record<string, string>
  readonly dovecot?: StartDovecotOptions
  /** A Dovecot the test started itself (its port is needed in `env`); the layer does not stop it. */
  readonly dovecotServer?: DovecotServer
  /** Exports every span of the API and the worker here (e.g. an InMemorySpanExporter's processor). */
  readonly spanProcessor?: SpanProcessor
}

/**
 * API + (optionally) worker + Dovecot + owner connection. With a worker, MailSync and the other
 * sync services are also in the test's context (the same instances the worker uses).
 */
export const syncTestLayer = (options: SyncTestOptions) =>
  Layer.unwrap(
    Effect.map(makeTestEnv(options.env ?? {}), (env) => {
      const http = HttpRouter.serve(SyncTestHttpLive, {
        disableLogger: true,
        disableListenLog: true
      }).pipe(Layer.provideMerge(NodeHttpServer.layerTest))
      const base = Layer.mergeAll(
        http,
        Layer.succeed(Env, env),
        ownerDbLayer(env),
        options.dovecotServer === undefined
          ? Dovecot.layer(options.dovecot)
          : Layer.succeed(Dovecot, options.dovecotServer)
      )
      const worker: Layer.Layer<
        never,
        Layer.Error<typeof WorkerLive>,
        Layer.Services<typeof WorkerLive>
      > = options.worker ? WorkerLive : Layer.empty
      return Layer.mergeAll(base, worker).pipe(
        Layer.provideMerge(SyncLive),
        Layer.provideMerge(JobsLive),
        Layer.provideMerge(PlatformLive),
        Layer.provide(
          options.spanProcessor === undefined
            ? Layer.empty
            : tracingWith(options.spanProcessor, { serviceName: "mail-helper-test" })
        ),
        Layer.provide(configLayer(env)),
        Layer.provideMerge(CaptureLogsLive)
      )
    })
  )

export const as = (user: string) => ({ "x-test-user": user })

/** Every response body the test saw, to check that no password ever appeared in one. */
export const seenResponses: Array<string> = []

export const api = (base: string, user: string, method: string, path: string, json?: unknown) =>
  call(base, method, path, { headers: as(user), ...(json === undefined ? {} : { json }) }).pipe(
    Effect.tap((response) => Effect.sync(() => seenResponses.push(response.text)))
  )

export interface AccountInput {
  readonly label?: string
  readonly username: string
  readonly password: string
  readonly syncIntervalMinutes?: number | null
  readonly port?: number
  readonly host?: string
  readonly security?: "tls" | "starttls" | "none"
}

export const accountPayload = (server: DovecotServer, input: AccountInput) => ({
  label: input.label ?? `test ${input.username}`,
  host: input.host ?? server.host,
  port: input.port ?? server.port,
  security: input.security ?? "none",
  username: input.username,
  password: input.password,
  syncIntervalMinutes: input.syncIntervalMinutes === undefined ? null : input.syncIntervalMinutes
})

/** Creates an account through the API (201 expected) and returns its id. */
export const createAccount = (base: string, user: string, server: DovecotServer, input: AccountInput) =>
  Effect.gen(function* () {
    const response = yield* api(base, user, "POST", "/api/v1/accounts", accountPayload(server, input))
    assert.strictEqual(response.status, 201, response.text)
    return String(field(response.body, "id"))
  })

export const terminal = (state: unknown) => ["succeeded", "failed", "cancelled"].includes(String(state))

/** Polls a job until `done` holds (bounded). */
export const waitForJob = (
  base: string,
  user: string,
  jobId: string,
  done: (job: unknown) => boolean = (job) => terminal(field(job, "state")),
  timeout: Schedule.Schedule<unknown> = Schedule.spaced("50 millis").pipe(Schedule.upTo({ times: 2_400 }))
) =>
  api(base, user, "GET", `/api/v1/jobs/${jobId}`).pipe(
    Effect.flatMap((response: ApiResponse) =>
      done(response.body) ? Effect.succeed(response.body) : Effect.fail(response.text)
    ),
    Effect.retry(timeout),
    Effect.orDie
  )

/** POST /accounts/:id/sync, then waits for the job to end; returns the finished job. */
export const syncNow = (base: string, user: string, accountId: string) =>
  Effect.gen(function* () {
    const response = yield* api(base, user, "POST", `/api/v1/accounts/${accountId}/sync`)
    assert.strictEqual(response.status, 202, response.text)
    const jobId = String(field(response.body, "jobId"))
    return yield* waitForJob(base, user, jobId)
  })

export const expectSucceeded = (job: unknown) =>
  assert.strictEqual(field(job, "state"), "succeeded", `sync did not succeed: ${JSON.stringify(job)}`)

// ---------------------------------------------------------------------------------------------
// what was stored

export const StoredEmail = Schema.Struct({
  id: Schema.String,
  uid: Schema.Number,
  uid_validity: Schema.Number,
  message_id: Schema.NullOr(Schema.String),
  thread_id: Schema.String,
  subject: Schema.NullOr(Schema.String),
  from_name: Schema.NullOr(Schema.String),
  from_address: Schema.NullOr(Schema.String),
  flags: Schema.Array(Schema.String),
  seen: Schema.Boolean,
  flagged: Schema.Boolean,
  text_body: Schema.NullOr(Schema.String),
  html_body: Schema.NullOr(Schema.String),
  parse_warnings: Schema.Array(Schema.String),
  has_attachments: Schema.Boolean,
  size: Schema.Number
})
export type StoredEmail = typeof StoredEmail.Type

/** The emails stored for one mailbox of an account, by UID (owner connection). */
export const storedEmails = (accountId: string, path: string) =>
  Effect.gen(function* () {
    const sql = yield* OwnerDb
    const rows = yield* sql`
      SELECT e.id, e.uid::float8 AS uid, e.uid_validity::float8 AS uid_validity, e.message_id, e.thread_id, e.subject,
        e.from_name, e.from_address, e.flags, e.seen, e.flagged, e.text_body, e.html_body, e.parse_warnings,
        e.has_attachments, e.size
      FROM emails e JOIN mailboxes m ON m.id = e.mailbox_id
      WHERE e.account_id = ${accountId} AND m.path = ${path}
      ORDER BY e.uid`
    return yield* Schema.decodeUnknownEffect(Schema.Array(StoredEmail))(rows)
  }).pipe(Effect.orDie)

export const ownerQuery = <A>(
  schema: Schema.Codec<A, unknown>,
  run: (sql: SqlClient.SqlClient) => Effect.Effect<ReadonlyArray<unknown>, unknown>
) =>
  Effect.gen(function* () {
    const sql = yield* OwnerDb
    const rows = yield* run(sql)
    return yield* Schema.decodeUnknownEffect(Schema.Array(schema))(rows)
  }).pipe(Effect.orDie)

export const sortedFlags = (flags: ReadonlyArray<string>) => [...flags].sort()

/**
 * The stored mailbox equals the server's view (doveadm, independent of any IMAP client): same UIDs,
 * same flags, same Message-IDs, and no UID twice.
 */
export const assertMatchesServer = (server: DovecotServer, user: string, accountId: string, path: string) =>
  Effect.gen(function* () {
    const onServer = yield* Effect.promise(() => server.doveadmFetch(user, path))
    const stored = yield* storedEmails(accountId, path)
    assert.strictEqual(stored.length, onServer.length, `${path}: stored ${stored.length}, server ${onServer.length}`)
    assert.strictEqual(new Set(stored.map((e) => e.uid)).size, stored.length, `${path}: duplicate UIDs stored`)
    const byUid = new Map(stored.map((e) => [e.uid, e]))
    for (const message of onServer) {
      const email = byUid.get(message.uid)
      assert.isDefined(email, `${path}: UID ${message.uid} not stored`)
      if (email === undefined) continue
      assert.deepStrictEqual(sortedFlags(email.flags), sortedFlags(message.flags), `${path} UID ${message.uid} flags`)
      assert.strictEqual(email.message_id, message.messageId, `${path} UID ${message.uid} Message-ID`)
      assert.strictEqual(email.seen, message.flags.includes("\\Seen"))
      assert.strictEqual(email.flagged, message.flags.includes("\\Flagged"))
    }
    return stored
  })

export const jsonOf = (value: unknown): string => JSON.stringify(value)

export { baseUrl, call, field }
