import { assert, describe, it } from "@effect/vitest"
import { Effect, Schedule } from "effect"
import { createServer, type IncomingMessage } from "node:http"
import { gunzipSync } from "node:zlib"
import { makeTestEnv } from "../harness/TestEnv.ts"
import { type ApiResponse, call, field } from "../harness/http.ts"
import { testAuthEnv } from "../users/helpers.ts"
import { type Program, startApi, startWorker } from "./programs.ts"

/**
 * Centralised logs: with OTEL_EXPORTER_OTLP_ENDPOINT set, the real api and worker programs export
 * their log lines over OTLP/HTTP (what the collector's `otlp` receiver takes and forwards to
 * Loki). A small OTLP/HTTP receiver stands in for the collector: a request's log records from
 * the api and the job's records from the worker arrive with the same trace id.
 */

interface ReceivedLog {
  readonly service: string
  readonly traceId: string
  readonly spanId: string
  readonly severityText: string
  readonly body: string
  readonly attributes: Record<string, unknown>
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value)
const list = (value: unknown): ReadonlyArray<unknown> => (Array.isArray(value) ? value : [])

/** An OTLP AnyValue in JSON to a plain value. */
const plain = (value: unknown): unknown => {
  if (!isRecord(value)) return undefined
  if ("stringValue" in value) return value["stringValue"]
  if ("intValue" in value) return Number(value["intValue"])
  if ("doubleValue" in value) return value["doubleValue"]
  if ("boolValue" in value) return value["boolValue"]
  if ("arrayValue" in value && isRecord(value["arrayValue"])) return list(value["arrayValue"]["values"]).map(plain)
  if ("kvlistValue" in value && isRecord(value["kvlistValue"])) return attributesOf(value["kvlistValue"]["values"])
  return undefined
}

const attributesOf = (values: unknown): Record<string, unknown> =>
  Object.fromEntries(list(values).flatMap((kv) => (isRecord(kv) ? [[String(kv["key"]), plain(kv["value"])]] : [])))

const readBody = (request: IncomingMessage) =>
  new Promise<Buffer>((resolve, reject) => {
    const chunks: Array<Buffer> = []
    request.on("data", (chunk: Buffer) => chunks.push(chunk))
    request.on("end", () => resolve(Buffer.concat(chunks)))
    request.on("error", reject)
  })

/** An OTLP/HTTP receiver (JSON encoding) on a free loopback port, keeping every log record. */
const otlpReceiver = Effect.acquireRelease(
  Effect.promise(async () => {
    const logs: Array<ReceivedLog> = []
    const problems: Array<string> = []
    const server = createServer((request, response) => {
      void readBody(request).then((raw) => {
        const body = request.headers["content-encoding"] === "gzip" ? gunzipSync(raw) : raw
        if (request.url === "/v1/logs") {
          if (!String(request.headers["content-type"]).startsWith("application/json")) {
            problems.push(`/v1/logs with content-type ${request.headers["content-type"]}`)
          } else {
            const parsed: unknown = JSON.parse(body.toString("utf8"))
            for (const resourceLogs of list(isRecord(parsed) ? parsed["resourceLogs"] : undefined)) {
              if (!isRecord(resourceLogs)) continue
              const resource = attributesOf(
                isRecord(resourceLogs["resource"]) ? resourceLogs["resource"]["attributes"] : []
              )
              for (const scopeLogs of list(resourceLogs["scopeLogs"])) {
                if (!isRecord(scopeLogs)) continue
                for (const record of list(scopeLogs["logRecords"])) {
                  if (!isRecord(record)) continue
                  logs.push({
                    service: String(resource["service.name"]),
                    traceId: String(record["traceId"] ?? ""),
                    spanId: String(record["spanId"] ?? ""),
                    severityText: String(record["severityText"] ?? ""),
                    body: JSON.stringify(plain(record["body"])),
                    attributes: attributesOf(record["attributes"])
                  })
                }
              }
            }
          }
        }
        response.writeHead(200, { "content-type": "application/json" })
        response.end("{}")
      })
    })
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
    const address = server.address()
    const port = typeof address === "object" && address !== null ? address.port : 0
    return { endpoint: `http://127.0.0.1:${port}`, logs, problems, server }
  }),
  ({ server }) => Effect.promise(() => new Promise<void>((resolve) => server.close(() => resolve())))
)

const programScoped = <A extends { readonly program: Program }>(start: () => Promise<A>) =>
  Effect.acquireRelease(Effect.promise(start), ({ program }) => Effect.promise(() => program.stop("SIGTERM")))

const waitFor = <A>(what: string, attempt: Effect.Effect<A | undefined>) =>
  attempt.pipe(
    Effect.flatMap((value) => (value === undefined ? Effect.fail(what) : Effect.succeed(value))),
    Effect.retry(Schedule.spaced("100 millis").pipe(Schedule.upTo({ times: 300 }))),
    Effect.orDie
  )

const sessionCookie = (response: ApiResponse): string => {
  const set = response.headers.getSetCookie().find((cookie) => cookie.startsWith("mh_session="))
  assert.isDefined(set, "login set no session cookie")
  return (set ?? "").split(";")[0] ?? ""
}

describe("logs over OTLP", () => {
  it.live(
    "a request's log records from the api and its job's from the worker arrive with one trace id",
    () =>
      Effect.gen(function* () {
        const receiver = yield* otlpReceiver
        const env = yield* makeTestEnv({ ...testAuthEnv, OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint })
        const { base } = yield* programScoped(() => startApi({ ...env.env, LOG_LEVEL: "Debug" }))
        const { program: worker } = yield* programScoped(() => startWorker({ ...env.env, LOG_LEVEL: "Debug" }))
        const origin = testAuthEnv["PUBLIC_ORIGIN"] ?? ""

        const email = `otlp.${Date.now().toString(36)}@example.org`
        const password = `Otlp-logs-${Date.now().toString(36)}-passphrase`
        const registered = yield* call(base, "POST", "/api/v1/auth/register", { json: { email, password } })
        assert.strictEqual(registered.status, 201, registered.text)
        const signedIn = yield* call(base, "POST", "/api/v1/auth/login", { json: { email, password } })
        assert.strictEqual(signedIn.status, 200, signedIn.text)
        const created = yield* call(base, "POST", "/api/v1/auth/tokens", {
          json: { name: "otlp" },
          headers: { cookie: sessionCookie(signedIn), origin }
        })
        assert.strictEqual(created.status, 201, created.text)
        const bearer = { authorization: `Bearer ${String(field(created.body, "token"))}` }

        // a job that fails: the worker writes a `job attempt failed` line in the request's trace
        const ping = yield* call(base, "POST", "/api/v1/debug/ping", {
          json: { failPermanently: true },
          headers: bearer
        })
        assert.strictEqual(ping.status, 202, ping.text)
        const jobId = String(field(ping.body, "jobId"))
        const job = yield* waitFor(
          "the ping job to fail",
          Effect.map(call(base, "GET", `/api/v1/jobs/${jobId}`, { headers: bearer }), (r) =>
            field(r.body, "state") === "failed" ? r.body : undefined
          )
        )
        const traceId = String(field(job, "traceId"))
        assert.match(traceId, /^[0-9a-f]{32}$/)

        const ofTrace = (service: string) => receiver.logs.filter((l) => l.service === service && l.traceId === traceId)
        const request = yield* waitFor(
          "the api's log record of POST /debug/ping, over OTLP",
          Effect.sync(() => ofTrace("mail-helper-api").find((l) => l.attributes["http.url"] === "/api/v1/debug/ping"))
        )
        const failure = yield* waitFor(
          "the worker's log record of the failed job, over OTLP",
          Effect.sync(() => ofTrace("mail-helper-worker").find((l) => l.attributes["jobId"] === jobId))
        )
        assert.deepStrictEqual(receiver.problems, [])

        // the record's own span context and the annotations of the stdout line
        assert.match(request.spanId, /^[0-9a-f]{16}$/)
        assert.strictEqual(request.attributes["traceId"], traceId)
        assert.strictEqual(request.severityText, "Info")
        assert.strictEqual(failure.severityText, "Warn")
        assert.include(failure.body, "job attempt failed")
        assert.match(failure.spanId, /^[0-9a-f]{16}$/)
        // the same line went to the worker's stdout, with the same trace id
        const stdoutLine = worker
          .logLines()
          .find((line) => line["jobId"] === jobId && String(line["message"]).startsWith("job attempt failed"))
        assert.strictEqual(stdoutLine?.["traceId"], traceId)
      }),
    { timeout: 120_000 }
  )
})
