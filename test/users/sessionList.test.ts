import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import { secretHash } from "../../src/users/Secrets.ts"
import { baseUrl, call, field } from "../harness/http.ts"
import { apiTestLayer, freshEmail, login, register, sessionCookieOf, withCookie, withToken } from "./helpers.ts"

const items = (body: unknown): ReadonlyArray<unknown> => {
  const value = field(body, "items")
  return Array.isArray(value) ? value : []
}

const browser = "Mozilla/5.0 (X11; Linux x86_64) Chromium/131.0"
const phone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148"

layer(apiTestLayer(), { excludeTestServices: true, timeout: "60 seconds" })("sessions list", (it) => {
  it.effect("lists the user's sessions (user agent, times, current flag), never the cookie; one can be ended", () =>
    Effect.gen(function* () {
      const base = yield* baseUrl
      const email = freshEmail("sessions")
      assert.strictEqual((yield* register(base, email)).status, 201)
      const first = sessionCookieOf(yield* login(base, email, undefined, { "user-agent": browser }))
      const second = sessionCookieOf(yield* login(base, email, undefined, { "user-agent": phone }))

      const listed = yield* call(base, "GET", "/api/v1/auth/sessions", withCookie(first))
      assert.strictEqual(listed.status, 200, listed.text)
      const sessions = items(listed.body)
      assert.strictEqual(sessions.length, 2, listed.text)
      for (const cookie of [first, second]) {
        const value = cookie.split("=")[1] ?? ""
        assert.notInclude(listed.text, value, "the cookie is never listed")
        assert.notInclude(listed.text, secretHash(value), "nor its whole hash")
      }
      const current = sessions.filter((session) => field(session, "current") === true)
      assert.strictEqual(current.length, 1)
      assert.strictEqual(field(current[0], "userAgent"), browser)
      const other = sessions.find((session) => field(session, "current") === false)
      assert.strictEqual(field(other, "userAgent"), phone)
      for (const session of sessions) {
        const id = String(field(session, "id"))
        assert.match(id, /^[0-9a-f]{16}$/)
        const signedIn = Date.parse(String(field(session, "signedInAt")))
        const lastUsed = Date.parse(String(field(session, "lastUsedAt")))
        const expires = Date.parse(String(field(session, "expiresAt")))
        assert.isAtLeast(lastUsed, signedIn)
        assert.isAbove(expires, lastUsed)
      }
      const otherSecret = second.split("=")[1] ?? ""
      assert.strictEqual(String(field(other, "id")), secretHash(otherSecret).slice(0, 16))

      const ended = yield* call(
        base,
        "DELETE",
        `/api/v1/auth/sessions/${String(field(other, "id"))}`,
        withCookie(first)
      )
      assert.strictEqual(ended.status, 204, ended.text)
      assert.strictEqual((yield* call(base, "GET", "/api/v1/auth/me", withCookie(second))).status, 401)
      assert.strictEqual((yield* call(base, "GET", "/api/v1/auth/me", withCookie(first))).status, 200)
      const after = yield* call(base, "GET", "/api/v1/auth/sessions", withCookie(first))
      assert.strictEqual(items(after.body).length, 1)
      const again = yield* call(
        base,
        "DELETE",
        `/api/v1/auth/sessions/${String(field(other, "id"))}`,
        withCookie(first)
      )
      assert.strictEqual(again.status, 404, again.text)
      assert.strictEqual(
        (yield* call(base, "DELETE", "/api/v1/auth/sessions/not-a-session", withCookie(first))).status,
        400
      )
    })
  )

  it.effect("isolation: another user's session id is 404 and that session lives on; lists are per user", () =>
    Effect.gen(function* () {
      const base = yield* baseUrl
      const alice = freshEmail("alice")
      const bob = freshEmail("bob")
      yield* register(base, alice)
      yield* register(base, bob)
      const aliceCookie = sessionCookieOf(yield* login(base, alice))
      const bobCookie = sessionCookieOf(yield* login(base, bob))
      const bobs = yield* call(base, "GET", "/api/v1/auth/sessions", withCookie(bobCookie))
      const bobId = String(field(items(bobs.body)[0], "id"))

      const alices = yield* call(base, "GET", "/api/v1/auth/sessions", withCookie(aliceCookie))
      assert.notInclude(alices.text, bobId)
      assert.strictEqual(items(alices.body).length, 1)

      const refused = yield* call(base, "DELETE", `/api/v1/auth/sessions/${bobId}`, withCookie(aliceCookie))
      assert.strictEqual(refused.status, 404, refused.text)
      assert.strictEqual(field(refused.body, "_tag"), "SessionNotFound")
      assert.strictEqual((yield* call(base, "GET", "/api/v1/auth/me", withCookie(bobCookie))).status, 200)

      // with a bearer token no session is the current one
      const token = yield* call(base, "POST", "/api/v1/auth/tokens", withCookie(aliceCookie, { json: { name: "t" } }))
      const byToken = yield* call(base, "GET", "/api/v1/auth/sessions", withToken(String(field(token.body, "token"))))
      assert.strictEqual(byToken.status, 200, byToken.text)
      assert.isTrue(items(byToken.body).every((session) => field(session, "current") === false))
    })
  )
})
