import { NodeHttpServer } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { HttpRouter } from "effect/http"
import { HttpAppLive, JobsLive, PlatformLive } from "../../src/main/layers.ts"
import { configLayer, makeTestEnv } from "../harness/TestEnv.ts"
import { TestAuthenticationLive } from "../harness/TestAuthentication.ts"
import { baseUrl, call, field } from "../harness/http.ts"

// Nothing listens on port 1 of loopback: a dependency that is down.
const unreachableRedis = "redis://127.0.0.1:1/0"
const unreachablePostgres = "postgres://root@127.0.0.1:1/mail_helper"

const readiness = (overrides: Record<string, string>) =>
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
    return yield* Effect.gen(function* () {
      const base = yield* baseUrl
      const live = yield* call(base, "GET", "/health/live")
      const ready = yield* call(base, "GET", "/health/ready")
      return { live, ready }
    }).pipe(Effect.provide(app))
  })

describe("readiness", () => {
  it.live(
    "is 503 naming Redis when Redis is unreachable, while liveness stays 200",
    () =>
      Effect.gen(function* () {
        const { live, ready } = yield* readiness({ REDIS_URL: unreachableRedis })
        assert.strictEqual(live.status, 200)
        assert.strictEqual(ready.status, 503, ready.text)
        assert.strictEqual(field(ready.body, "_tag"), "NotReady")
        assert.deepStrictEqual(field(ready.body, "checks"), { postgres: "up", redis: "down" })
        assert.include(String(field(ready.body, "message")), "redis")
      }).pipe(Effect.scoped),
    { timeout: 30_000 }
  )

  it.live(
    "is 503 naming PostgreSQL when PostgreSQL is unreachable",
    () =>
      Effect.gen(function* () {
        const { ready } = yield* readiness({ DATABASE_URL: unreachablePostgres })
        assert.strictEqual(ready.status, 503, ready.text)
        assert.deepStrictEqual(field(ready.body, "checks"), { postgres: "down", redis: "up" })
        assert.include(String(field(ready.body, "message")), "postgres")
      }).pipe(Effect.scoped),
    { timeout: 30_000 }
  )

  it.live(
    "answers 503 to an enqueue while Redis is down, and keeps no half-accepted job",
    () =>
      Effect.gen(function* () {
        const env = yield* makeTestEnv({ REDIS_URL: unreachableRedis })
        const app = HttpRouter.serve(HttpAppLive(TestAuthenticationLive), {
          disableLogger: true,
          disableListenLog: true
        }).pipe(
          Layer.provideMerge(NodeHttpServer.layerTest),
          Layer.provideMerge(JobsLive),
          Layer.provideMerge(PlatformLive),
          Layer.provide(configLayer(env))
        )
        const headers = { "x-test-user": "55555555-5555-4555-8555-555555555555" }
        const { submitted, list } = yield* Effect.gen(function* () {
          const base = yield* baseUrl
          const submitted = yield* call(base, "POST", "/api/v1/debug/ping", { json: {}, headers })
          const list = yield* call(base, "GET", "/api/v1/jobs", { headers })
          return { submitted, list }
        }).pipe(Effect.provide(app))
        assert.strictEqual(submitted.status, 503, submitted.text)
        assert.strictEqual(field(submitted.body, "_tag"), "ServiceUnavailable")
        assert.strictEqual(list.status, 200, list.text)
        assert.deepStrictEqual(field(list.body, "items"), [])
      }).pipe(Effect.scoped),
    { timeout: 30_000 }
  )
})
