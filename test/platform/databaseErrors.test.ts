import { NodeHttpServer } from "@effect/platform-node"
import { assert, layer } from "@effect/vitest"
import { Cause, Context, Effect, Layer, Logger, References } from "effect"
import { HttpRouter } from "effect/http"
import { SqlClient } from "effect/sql"
import fc from "fast-check"
import { HttpAppLive } from "../../src/main/httpLayers.ts"
import { JobsLive, PlatformLive } from "../../src/main/layers.ts"
import { fromSqlError, logDatabaseError } from "../../src/platform/Database.ts"
import { baseUrl, call, field } from "../harness/http.ts"
import { psqlValue } from "../harness/postgres.ts"
import { TestAuthenticationLive } from "../harness/TestAuthentication.ts"
import { configLayer, type TestEnv, withTestEnv } from "../harness/TestEnv.ts"

/**
 * A database error answers the client with a safe 503 and tells the operator
 * its cause in the log: SQLSTATE, message, constraint and table names, but
 * never a parameter or the server's detail/hint, which quote the row.
 */
class Env extends Context.Service<Env, TestEnv>()("test/platform/databaseErrors/Env") {}

interface Captured {
  readonly fields: Readonly<Record<string, unknown>>
  /** The whole line as a logger would write it (message, annotations, cause), to search for values. */
  readonly text: string
}

/** Every log line of the test process. */
const lines: Array<Captured> = []
const captureLogger = Logger.make<unknown, void>((options) => {
  const annotations = options.fiber.getRef(References.CurrentLogAnnotations)
  const fields = { level: options.logLevel, message: options.message, ...annotations }
  const cause = options.cause.reasons.length > 0 ? ` ${Cause.pretty(options.cause)}` : ""
  lines.push({ fields, text: `${JSON.stringify(fields)}${cause}` })
})
const CaptureLogsLive = Layer.mergeAll(
  Logger.layer([captureLogger]),
  Layer.succeed(References.MinimumLogLevel, "Debug")
)

const testLayer = withTestEnv((env) =>
  Layer.mergeAll(
    HttpRouter.serve(HttpAppLive(TestAuthenticationLive), { disableLogger: true, disableListenLog: true }).pipe(
      Layer.provideMerge(NodeHttpServer.layerTest)
    ),
    Layer.succeed(Env, env)
  ).pipe(
    Layer.provideMerge(JobsLive),
    Layer.provideMerge(PlatformLive),
    Layer.provide(configLayer(env)),
    Layer.provideMerge(CaptureLogsLive)
  )
)

const alice = "31111111-1111-4111-8111-111111111111"

/** The fields of the "database error" lines logged since `from`. */
const databaseErrorLines = (from: number) =>
  lines
    .slice(from)
    .filter((line) => JSON.stringify(line.fields["message"]).includes("database error"))
    .map((line) => line.fields)

/** Everything logged since `from`, as text. */
const textSince = (from: number) =>
  lines
    .slice(from)
    .map((line) => line.text)
    .join("\n")

const secretOf = (label: string) => `${label}-${crypto.randomUUID()}`

layer(testLayer, { excludeTestServices: true, timeout: "60 seconds" })("database errors", (it) => {
  it.effect("a constraint violation: 503 with the safe message, the cause in the log, the value nowhere", () =>
    Effect.gen(function* () {
      const env = yield* Env
      const base = yield* baseUrl
      // A real CHECK constraint: PostgreSQL's detail quotes the whole failing row, payload included.
      psqlValue(
        env.databaseUrl,
        "ALTER TABLE jobs ADD CONSTRAINT jobs_no_forbidden_payload CHECK (payload::text NOT LIKE '%forbidden-%') NOT VALID"
      )
      const secret = secretOf("forbidden")
      const from = lines.length
      const response = yield* call(base, "POST", "/api/v1/debug/ping", {
        json: { message: secret },
        headers: { "x-test-user": alice }
      })
      assert.strictEqual(response.status, 503, response.text)
      assert.strictEqual(field(response.body, "message"), "database error (ConstraintError)")
      assert.notInclude(response.text, "jobs_no_forbidden_payload")

      const logged = databaseErrorLines(from)
      assert.lengthOf(logged, 1, textSince(from))
      const [entry] = logged
      assert.strictEqual(entry?.["level"], "Error")
      assert.strictEqual(entry?.["db.error.code"], "23514")
      assert.strictEqual(entry?.["db.error.constraint"], "jobs_no_forbidden_payload")
      assert.strictEqual(entry?.["db.error.table"], "jobs")
      assert.strictEqual(entry?.["db.error.reason"], "ConstraintError")
      assert.include(String(entry?.["db.error.message"]), "violates check constraint")
      assert.notInclude(textSince(from), secret)
    })
  )

  it.effect(
    "a serialization failure: a retryable 503, logged as a warning with its code, detail and hint left out",
    () =>
      Effect.gen(function* () {
        const env = yield* Env
        const base = yield* baseUrl
        psqlValue(
          env.databaseUrl,
          `CREATE FUNCTION test_refuse_serializable() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
           IF NEW.payload::text LIKE '%serialize-%' THEN
             RAISE EXCEPTION USING ERRCODE = 'serialization_failure',
               MESSAGE = 'could not serialize access due to concurrent update',
               DETAIL = 'row ' || NEW.payload::text, HINT = 'hint ' || NEW.payload::text;
           END IF;
           RETURN NEW;
         END $$;
         CREATE TRIGGER test_refuse_serializable BEFORE INSERT ON jobs
           FOR EACH ROW EXECUTE FUNCTION test_refuse_serializable();`
        )
        const secret = secretOf("serialize")
        const from = lines.length
        const response = yield* call(base, "POST", "/api/v1/debug/ping", {
          json: { message: secret },
          headers: { "x-test-user": alice }
        })
        assert.strictEqual(response.status, 503, response.text)
        assert.strictEqual(field(response.body, "message"), "database error (SerializationError)")

        const logged = databaseErrorLines(from)
        assert.isAtLeast(logged.length, 1, textSince(from))
        for (const entry of logged) {
          assert.strictEqual(entry["level"], "Warn")
          assert.strictEqual(entry["db.error.code"], "40001")
          assert.strictEqual(entry["db.error.retryable"], true)
          assert.strictEqual(entry["db.error.message"], "could not serialize access due to concurrent update")
        }
        assert.notInclude(textSince(from), secret)
      })
  )

  it.effect("a data exception's message loses the value it quotes, whatever the value", () =>
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      // "§" makes every value invalid for every type below; the rest is arbitrary text
      const values = fc.sample(
        fc
          .string({ minLength: 4, maxLength: 40, unit: "grapheme" })
          .map((text) => `§${text.replaceAll("\u0000", "")}§`),
        25
      )
      for (const value of values) {
        for (const type of ["uuid", "integer", "timestamptz", "jsonb", "inet"] as const) {
          const from = lines.length
          const error = yield* Effect.flip(sql.unsafe(`SELECT $1::${type}`, [value]))
          const databaseError = fromSqlError(error)
          yield* logDatabaseError(databaseError)
          const [entry] = databaseErrorLines(from)
          const code = String(entry?.["db.error.code"])
          assert.isTrue(code.startsWith("22"), `${type} ${JSON.stringify(value)}: ${code}`)
          assert.isString(entry?.["db.error.message"])
          // as the value would appear inside a JSON log line
          assert.notInclude(textSince(from), JSON.stringify(value).slice(1, -1))
          assert.notInclude(databaseError.message, value)
        }
      }
    })
  )
})
