import { NodeHttpServer } from "@effect/platform-node"
import { assert, layer } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { HttpRouter } from "effect/http"
import { UserId } from "../../src/contract/users/UserId.ts"
import { HttpAppLive } from "../../src/main/httpLayers.ts"
import { JobsLive, PlatformLive } from "../../src/main/layers.ts"
import { baseUrl, call, field } from "../harness/http.ts"
import { TestAuthenticationLive } from "../harness/TestAuthentication.ts"
import { configLayer, makeTestEnv } from "../harness/TestEnv.ts"
import { ensureTestUser } from "../users/fixtures.ts"

/*
 * Issue 15, per-user limits: an admin overrides a user's cap of simultaneous IMAP connections per
 * account (GET/PUT /api/v1/admin/users/:id/imap-connections, docs/limits.md). Only admins; an
 * unknown user is 404; a value outside 1..100 (or not an integer) is 400; null goes back to the
 * configured default (IMAP_MAX_CONNECTIONS_PER_ACCOUNT, 4 here so the default is visibly read).
 */

const TestLayer = Layer.unwrap(
  Effect.map(makeTestEnv({ IMAP_MAX_CONNECTIONS_PER_ACCOUNT: "4", JOB_SUBMIT_RATE_PER_MINUTE: "0" }), (env) =>
    HttpRouter.serve(HttpAppLive(TestAuthenticationLive), { disableLogger: true, disableListenLog: true }).pipe(
      Layer.provideMerge(NodeHttpServer.layerTest),
      Layer.provideMerge(JobsLive),
      Layer.provideMerge(PlatformLive),
      Layer.provide(configLayer(env))
    )
  )
)

const admin = { "x-test-user": "adadadad-0070-4070-8070-adadadadadad", "x-test-role": "admin" }
const user = UserId.make("c3333333-0070-4070-8070-333333333333")
const other = UserId.make("c4444444-0070-4070-8070-444444444444")

layer(TestLayer, { excludeTestServices: true, timeout: "120 seconds" })("admin IMAP connection limit", (it) => {
  it.effect("an admin sets and reads a user's override; null restores the default", () =>
    Effect.gen(function* () {
      const base = yield* baseUrl
      yield* ensureTestUser(user)
      const path = `/api/v1/admin/users/${user}/imap-connections`
      const initial = yield* call(base, "GET", path, { headers: admin })
      assert.strictEqual(initial.status, 200, initial.text)
      assert.deepStrictEqual(initial.body, { userId: user, override: null, default: 4, maxPerAccount: 4 })

      const set = yield* call(base, "PUT", path, { headers: admin, json: { maxPerAccount: 2 } })
      assert.strictEqual(set.status, 200, set.text)
      assert.deepStrictEqual(set.body, { userId: user, override: 2, default: 4, maxPerAccount: 2 })
      const read = yield* call(base, "GET", path, { headers: admin })
      assert.deepStrictEqual(read.body, set.body, "the override is stored")

      const reset = yield* call(base, "PUT", path, { headers: admin, json: { maxPerAccount: null } })
      assert.strictEqual(reset.status, 200, reset.text)
      assert.deepStrictEqual(reset.body, { userId: user, override: null, default: 4, maxPerAccount: 4 })
    })
  )

  it.effect("values outside 1..100, non-integers and malformed bodies are 400 and change nothing", () =>
    Effect.gen(function* () {
      const base = yield* baseUrl
      yield* ensureTestUser(user)
      const path = `/api/v1/admin/users/${user}/imap-connections`
      const before = yield* call(base, "PUT", path, { headers: admin, json: { maxPerAccount: 5 } })
      assert.strictEqual(before.status, 200, before.text)
      for (const json of [
        { maxPerAccount: 0 },
        { maxPerAccount: 101 },
        { maxPerAccount: -1 },
        { maxPerAccount: 2.5 },
        { maxPerAccount: "3" },
        {}
      ]) {
        const refused = yield* call(base, "PUT", path, { headers: admin, json })
        assert.strictEqual(refused.status, 400, `${JSON.stringify(json)}: ${refused.text}`)
      }
      const after = yield* call(base, "GET", path, { headers: admin })
      assert.strictEqual(field(after.body, "override"), 5, "a refused value changed nothing")
    })
  )

  it.effect("an unknown user is 404; a user who is not an admin gets 403, for their own limit too", () =>
    Effect.gen(function* () {
      const base = yield* baseUrl
      yield* ensureTestUser(user)
      yield* ensureTestUser(other)
      const unknown = "/api/v1/admin/users/c9999999-0070-4070-8070-999999999999/imap-connections"
      const unknownGet = yield* call(base, "GET", unknown, { headers: admin })
      assert.strictEqual(unknownGet.status, 404, unknownGet.text)
      assert.strictEqual(field(unknownGet.body, "_tag"), "UserNotFound")
      const unknownPut = yield* call(base, "PUT", unknown, { headers: admin, json: { maxPerAccount: 2 } })
      assert.strictEqual(unknownPut.status, 404, unknownPut.text)
      assert.strictEqual(field(unknownPut.body, "_tag"), "UserNotFound")

      const path = `/api/v1/admin/users/${user}/imap-connections`
      const before = yield* call(base, "GET", path, { headers: admin })
      for (const as of [user, other]) {
        const headers = { "x-test-user": as }
        const get = yield* call(base, "GET", path, { headers })
        assert.strictEqual(get.status, 403, get.text)
        const put = yield* call(base, "PUT", path, { headers, json: { maxPerAccount: 100 } })
        assert.strictEqual(put.status, 403, put.text)
      }
      const after = yield* call(base, "GET", path, { headers: admin })
      assert.deepStrictEqual(after.body, before.body, "a refused request changed nothing")
    })
  )
})
