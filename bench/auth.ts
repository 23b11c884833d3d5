/**
 * Cost of authentication on the request path.
 *
 *   npx tsx bench/auth.ts [seconds=10] [connections=50]
 *
 * Starts the real API (every group, the real Authentication middleware, a
 * fresh database and Redis prefix) on a loopback port and drives it with
 * autocannon (a separate process, so the load generator does not share the
 * server's event loop), in one run:
 *   live     GET /health/live: no authentication, the floor of the stack
 *   me       GET /api/v1/auth/me with a session cookie (one Redis script:
 *            look up the session hash, check the absolute end, renew the idle TTL)
 *   bearer   GET /api/v1/auth/me with an API token (one PostgreSQL lookup by hash)
 * at the same concurrency, and prints requests/s, latency and the ratio to
 * `live`. Then POST /api/v1/auth/login, which is slow by design (argon2id
 * with the configured cost), for a known and for an unknown email: their
 * latencies should match (the unknown email is verified against a dummy hash).
 *
 * Needs `autocannon` (devDependency) and the local PostgreSQL and Redis.
 */
import { NodeHttpServer } from "@effect/platform-node"
import { Effect, Layer, Schema } from "effect"
import { HttpRouter, HttpServer } from "effect/http"
import { execFile } from "node:child_process"
import { createServer } from "node:http"
import { fileURLToPath } from "node:url"
import { HttpAppLive } from "../src/main/httpLayers.ts"
import { JobsLive, PlatformLive } from "../src/main/layers.ts"
import { UsersLive } from "../src/users/UsersLive.ts"
import { type BenchEnvironment, benchEnvironment } from "./support/environment.ts"

const seconds = Number(process.argv[2] ?? 10)
const connections = Number(process.argv[3] ?? 50)
const origin = "http://bench.local"
const password = "correct horse battery staple"

const environment = benchEnvironment("auth", {
  PUBLIC_ORIGIN: origin,
  REGISTRATION_MODE: "open",
  // the bench signs in thousands of times from one address: lift the throttle (its cost stays measured)
  LOGIN_MAX_PER_ADDRESS: "100000",
  LOGIN_MAX_PER_ACCOUNT: "10000"
})

/** The figures autocannon's `--json` prints that we use. */
const Result = Schema.Struct({
  requests: Schema.Struct({ average: Schema.Number, total: Schema.Number }),
  latency: Schema.Struct({ average: Schema.Number, p50: Schema.Number, p99: Schema.Number }),
  non2xx: Schema.Number,
  errors: Schema.Number
})
type Result = typeof Result.Type
const decodeResult = Schema.decodeUnknownEffect(Schema.fromJsonString(Result))

const autocannonBin =
  process.env["AUTOCANNON_BIN"] ?? fileURLToPath(new URL("../node_modules/.bin/autocannon", import.meta.url))

const load = (
  url: string,
  options: {
    readonly headers?: Record<string, string>
    readonly method?: string
    readonly body?: string
    readonly connections?: number
    readonly seconds?: number
  } = {}
) =>
  Effect.gen(function* () {
    const args = ["--json", "-c", String(options.connections ?? connections), "-d", String(options.seconds ?? seconds)]
    for (const [name, value] of Object.entries(options.headers ?? {})) args.push("-H", `${name}=${value}`)
    if (options.method !== undefined) args.push("-m", options.method)
    if (options.body !== undefined) args.push("-b", options.body)
    args.push(url)
    const stdout = yield* Effect.callback<string, Error>((resume) => {
      execFile(autocannonBin, args, { maxBuffer: 64 * 1024 * 1024 }, (error, out, err) =>
        resume(
          error === null ? Effect.succeed(out) : Effect.fail(new Error(`autocannon failed: ${err || error.message}`))
        )
      )
    })
    const result = yield* decodeResult(stdout.trim().split("\n").at(-1) ?? "")
    if (result.non2xx > 0 || result.errors > 0) {
      return yield* Effect.fail(new Error(`${url}: ${result.non2xx} non-2xx answers, ${result.errors} errors`))
    }
    return result
  })

const request = (base: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
  Effect.promise(() =>
    fetch(`${base}${path}`, {
      method,
      headers: { "content-type": "application/json", origin, ...headers },
      ...(body === undefined ? {} : { body: JSON.stringify(body) })
    })
  )

const row = (name: string, result: Result, floor: Result) =>
  `${name.padEnd(8)} ${result.requests.average.toFixed(0).padStart(9)} req/s   p50 ${String(result.latency.p50).padStart(4)} ms   p99 ${String(
    result.latency.p99
  ).padStart(4)} ms   ${(result.requests.average / floor.requests.average).toFixed(2)} x live`

const appLive = (bench: BenchEnvironment) =>
  HttpRouter.serve(HttpAppLive(UsersLive), { disableLogger: true, disableListenLog: true }).pipe(
    Layer.provideMerge(NodeHttpServer.layer(createServer, { port: 0, host: "127.0.0.1" })),
    Layer.provideMerge(JobsLive),
    Layer.provideMerge(PlatformLive),
    Layer.provide(bench.config)
  )

const measureRequests = Effect.gen(function* () {
  const server = yield* HttpServer.HttpServer
  if (!("port" in server.address)) return yield* Effect.die(new Error("not on TCP"))
  const base = `http://127.0.0.1:${server.address.port}`

  const email = "bench@example.org"
  yield* request(base, "POST", "/api/v1/auth/register", { email, password })
  const signedIn = yield* request(base, "POST", "/api/v1/auth/login", { email, password })
  const cookie = (signedIn.headers.getSetCookie()[0] ?? "").split(";")[0] ?? ""
  const created = yield* request(base, "POST", "/api/v1/auth/tokens", { name: "bench" }, { cookie })
  const tokenBody: unknown = yield* Effect.promise(() => created.json())
  const token =
    typeof tokenBody === "object" && tokenBody !== null && "token" in tokenBody ? String(tokenBody.token) : ""

  yield* Effect.log(`warming up (${base})`)
  yield* load(`${base}/health/live`, { seconds: 2 })
  yield* load(`${base}/api/v1/auth/me`, { seconds: 2, headers: { cookie } })

  const live = yield* load(`${base}/health/live`)
  const me = yield* load(`${base}/api/v1/auth/me`, { headers: { cookie } })
  const bearer = yield* load(`${base}/api/v1/auth/me`, { headers: { authorization: `Bearer ${token}` } })

  const loginBody = (who: string) => JSON.stringify({ email: who, password })
  const loginOptions = (who: string) => ({
    method: "POST",
    body: loginBody(who),
    headers: { "content-type": "application/json", origin },
    connections: 8,
    seconds: Math.max(3, Math.round(seconds / 2))
  })
  const knownLogin = yield* load(`${base}/api/v1/auth/login`, loginOptions(email))

  console.log(`\nauthenticated request path, ${connections} connections, ${seconds} s each (autocannon)`)
  console.log(row("live", live, live))
  console.log(row("me", me, live))
  console.log(row("bearer", bearer, live))
  console.log(`me / live = ${(me.requests.average / live.requests.average).toFixed(2)}`)
  console.log("\nsign-in (argon2id at the configured cost; slow on purpose), 8 connections")
  console.log(
    `login    ${knownLogin.requests.average.toFixed(1).padStart(9)} req/s   mean ${knownLogin.latency.average.toFixed(0)} ms`
  )
})

const unknownEmailLatency = Effect.gen(function* () {
  // autocannon counts 401s as failures: time 40 sequential refused sign-ins of each kind instead
  const server = yield* HttpServer.HttpServer
  if (!("port" in server.address)) return
  const base = `http://127.0.0.1:${server.address.port}`
  const time = (who: string, pw: string) =>
    Effect.gen(function* () {
      const started = performance.now()
      for (let i = 0; i < 40; i++) yield* request(base, "POST", "/api/v1/auth/login", { email: who, password: pw })
      return (performance.now() - started) / 40
    })
  const wrong = yield* time("bench@example.org", "wrong password, known email")
  const unknown = yield* time("nobody@example.org", "wrong password, unknown email")
  console.log(
    `refused sign-in: wrong password ${wrong.toFixed(1)} ms, unknown email ${unknown.toFixed(1)} ms (ratio ${(unknown / wrong).toFixed(2)}; ~1 means no timing oracle)`
  )
})

await Effect.runPromise(
  Effect.gen(function* () {
    const bench = yield* environment
    yield* Effect.andThen(measureRequests, unknownEmailLatency).pipe(Effect.provide(appLive(bench)))
  }).pipe(Effect.scoped)
)
