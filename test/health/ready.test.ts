import { NodeHttpServer } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { HttpRouter } from "effect/http"
import { HttpAppLive } from "../../src/main/httpLayers.ts"
import { JobsLive, PlatformLive } from "../../src/main/layers.ts"
import { configLayer, makeTestEnv } from "../harness/TestEnv.ts"
import { TestAuthenticationLive } from "../harness/TestAuthentication.ts"
import { baseUrl, call, field } from "../harness/http.ts"

// Nothing listens on port 1 of loopback: a dependency that is down.
const unreachableRedis = "redis://127.0.0.1:1/0"
const unreachablePostgres = "postgres://root@127.0.0.1:1/mail_helper"

/** Runs `use` against the API on a test server, configured with the given (broken) dependencies. */
const withApi = <A, E, R>(overrides: Record<string, string>, use: Effect.Effect<A, E, R>) =>
  Effect.gen(function* () {
    const env = yield* makeTestEnv(overrides)
    const app = HttpRouter.serve(HttpAppLive(TestAuthenticationLive), {
      disableLogger: true,
      disableListenLog: true
    }).pipe(
      Layer.provideMerge(NodeHttpServer.layerTest),
      Layer.provideMerge(JobsLive),
      Layer.provideMerge(PlatformLive),
      Layer.provide(configLayer(env))
    )
    return yield* use.pipe(Effect.provide(app))
  }).pipe(Effect.scoped)

const probes = Effect.gen(function* () {
  const base = yield* baseUrl
  return { live: yield* call(base, "GET", "/health/live"), ready: yield* call(base, "GET", "/health/ready") }
})

describe("readiness", () => {
  it.live(
    "is 503 naming Redis when Redis is unreachable, while liveness stays 200",
    () =>
      Effect.gen(function* () {
        const { live, ready } = yield* withApi({ REDIS_URL: unreachableRedis }, probes)
        assert.strictEqual(live.status, 200)
        assert.strictEqual(ready.status, 503, ready.text)
        assert.strictEqual(field(ready.body, "_tag"), "NotReady")
        assert.deepStrictEqual(field(ready.body, "checks"), { postgres: "up", redis: "down" })
        assert.include(String(field(ready.body, "message")), "redis")
      }),
    { timeout: 30_000 }
  )

  it.live(
    "is 503 naming PostgreSQL when PostgreSQL is unreachable",
    () =>
      Effect.gen(function* () {
        const { ready } = yield* withApi({ DATABASE_URL: unreachablePostgres }, probes)
        assert.strictEqual(ready.status, 503, ready.text)
        assert.deepStrictEqual(field(ready.body, "checks"), { postgres: "down", redis: "up" })
        assert.include(String(field(ready.body, "message")), "postgres")
      }),
    { timeout: 30_000 }
  )

  it.live(
    "answers 503 to an enqueue while Redis is down, and keeps no half-accepted job",
    () =>
      Effect.gen(function* () {
        const headers = { "x-test-user": "55555555-5555-4555-8555-555555555555" }
        const { submitted, list } = yield* withApi(
          { REDIS_URL: unreachableRedis },
          Effect.gen(function* () {
            const base = yield* baseUrl
            const submitted = yield* call(base, "POST", "/api/v1/debug/ping", { json: {}, headers })
            const list = yield* call(base, "GET", "/api/v1/jobs", { headers })
            return { submitted, list }
          })
        )
        assert.strictEqual(submitted.status, 503, submitted.text)
        assert.strictEqual(field(submitted.body, "_tag"), "ServiceUnavailable")
        assert.strictEqual(list.status, 200, list.text)
        assert.deepStrictEqual(field(list.body, "items"), [])
      }),
    { timeout: 30_000 }
  )
})
