import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import { Redis } from "../../src/platform/Redis.ts"
import { secretHash } from "../../src/users/Secrets.ts"
import { baseUrl, call } from "../harness/http.ts"
import { apiTestLayer, freshEmail, login, register, sessionCookieOf, withCookie } from "./helpers.ts"

const me = (base: string, cookie: string) => call(base, "GET", "/api/v1/auth/me", withCookie(cookie))

const signedIn = (base: string) =>
  Effect.gen(function* () {
    const email = freshEmail("session")
    yield* register(base, email)
    return sessionCookieOf(yield* login(base, email))
  })

// Idle timeout 1 s, absolute lifetime 3 s: short enough to watch both happen.
layer(apiTestLayer({ SESSION_IDLE_SECONDS: "1", SESSION_ABSOLUTE_SECONDS: "3" }), {
  excludeTestServices: true,
  timeout: "60 seconds"
})("session expiry", (it) => {
  it.effect("a session left idle past SESSION_IDLE_SECONDS ends", () =>
    Effect.gen(function* () {
      const base = yield* baseUrl
      const cookie = yield* signedIn(base)
      assert.strictEqual((yield* me(base, cookie)).status, 200)
      yield* Effect.sleep("1500 millis")
      assert.strictEqual((yield* me(base, cookie)).status, 401)
    })
  )

  it.effect("each request renews the idle timer, but never past the absolute end", () =>
    Effect.gen(function* () {
      const base = yield* baseUrl
      const cookie = yield* signedIn(base)
      const started = Date.now()
      // in use every 0.5 s: the idle timer (1 s) never runs out...
      while (Date.now() - started < 2_600) {
        assert.strictEqual((yield* me(base, cookie)).status, 200, `still valid after ${Date.now() - started} ms`)
        yield* Effect.sleep("500 millis")
      }
      // ...yet 3 s after sign-in the session is over
      yield* Effect.sleep(`${Math.max(0, 3_100 - (Date.now() - started))} millis`)
      assert.strictEqual((yield* me(base, cookie)).status, 401)
    })
  )

  it.effect("Redis holds only the SHA-256 of the session id, with the idle TTL", () =>
    Effect.gen(function* () {
      const base = yield* baseUrl
      const cookie = yield* signedIn(base)
      const id = cookie.split("=")[1] ?? ""
      const redis = yield* Redis
      const keys = yield* Effect.promise(() => redis.client.keys(`${redis.prefix}:session:*`))
      assert.isAbove(keys.length, 0)
      for (const key of keys) assert.notInclude(key, id)
      const hash = secretHash(id)
      assert.include(keys, `${redis.prefix}:session:${hash}`)
      const ttl = yield* Effect.promise(() => redis.client.pttl(`${redis.prefix}:session:${hash}`))
      assert.isAtMost(ttl, 1_000)
      assert.isAbove(ttl, 0)
      const values = yield* Effect.promise(() => redis.client.hgetall(`${redis.prefix}:session:${hash}`))
      assert.notInclude(JSON.stringify(values), id)
    })
  )
})

layer(apiTestLayer({ SESSION_COOKIE_SECURE: "true", SESSION_COOKIE_SAMESITE: "strict" }), {
  excludeTestServices: true,
  timeout: "60 seconds"
})("secure cookie", (it) => {
  it.effect("SESSION_COOKIE_SECURE=true: a Secure __Host- cookie, which signs the user in", () =>
    Effect.gen(function* () {
      const base = yield* baseUrl
      const email = freshEmail("secure")
      yield* register(base, email)
      const response = yield* login(base, email)
      const set = response.headers.getSetCookie().join("\n")
      assert.match(set, /^__Host-mh_session=[A-Za-z0-9_-]{43};/)
      assert.match(set, /; Secure/i)
      assert.match(set, /; HttpOnly/i)
      assert.match(set, /; SameSite=Strict/i)
      assert.match(set, /; Path=\//i)
      assert.notMatch(set, /; Domain=/i)
      assert.strictEqual((yield* me(base, sessionCookieOf(response))).status, 200)
    })
  )
})
