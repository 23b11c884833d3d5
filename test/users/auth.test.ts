import { assert, describe, layer } from "@effect/vitest"
import { Effect } from "effect"
import { baseUrl, call, field } from "../harness/http.ts"
import {
  apiTestLayer,
  appOrigin,
  freshEmail,
  login,
  register,
  sessionCookieOf,
  signUp,
  strongPassword,
  withCookie,
  withToken
} from "./helpers.ts"

layer(apiTestLayer(), { excludeTestServices: true, timeout: "60 seconds" })("auth over real HTTP", (it) => {
  describe("register / login / me / logout", () => {
    it.effect("round trip with a session cookie", () =>
      Effect.gen(function* () {
        const base = yield* baseUrl
        const email = freshEmail("round")
        const registered = yield* register(base, `  ${email.toUpperCase()} `)
        assert.strictEqual(registered.status, 201, registered.text)
        assert.strictEqual(field(registered.body, "email"), email, "email is trimmed and lower-cased")
        assert.isUndefined(field(registered.body, "passwordHash"))
        assert.notInclude(registered.text, "argon2")

        const signedIn = yield* login(base, email.toUpperCase())
        assert.strictEqual(signedIn.status, 200, signedIn.text)
        assert.strictEqual(field(signedIn.body, "user", "email"), email)
        const cookie = sessionCookieOf(signedIn)

        const me = yield* call(base, "GET", "/api/v1/auth/me", withCookie(cookie))
        assert.strictEqual(me.status, 200, me.text)
        assert.deepStrictEqual(me.body, {
          id: field(registered.body, "id"),
          email,
          role: field(registered.body, "role"),
          scopes: field(registered.body, "role") === "admin" ? ["read", "write", "admin"] : ["read", "write"]
        })

        const out = yield* call(base, "POST", "/api/v1/auth/logout", withCookie(cookie))
        assert.strictEqual(out.status, 204, out.text)
        assert.match(out.headers.getSetCookie().join("\n"), /mh_session=;.*(Max-Age=0|Expires=Thu, 01 Jan 1970)/i)

        const after = yield* call(base, "GET", "/api/v1/auth/me", withCookie(cookie))
        assert.strictEqual(after.status, 401, "the session is gone from Redis, not just from the browser")
        assert.strictEqual(field(after.body, "_tag"), "Unauthorized")
      })
    )

    it.effect("the session cookie is HttpOnly, SameSite, Path=/ and not Secure unless configured", () =>
      Effect.gen(function* () {
        const base = yield* baseUrl
        const email = freshEmail("flags")
        yield* register(base, email)
        const signedIn = yield* login(base, email)
        const set = signedIn.headers.getSetCookie().find((cookie) => cookie.startsWith("mh_session=")) ?? ""
        assert.match(set, /; HttpOnly/i)
        assert.match(set, /; SameSite=Lax/i)
        assert.match(set, /; Path=\//i)
        assert.notMatch(set, /; Secure/i)
        const value = set.split(";")[0]?.split("=")[1] ?? ""
        assert.match(value, /^[A-Za-z0-9_-]{43}$/, "256 random bits, base64url")
      })
    )

    it.effect("a new session id at every sign-in; the old cookie is ended", () =>
      Effect.gen(function* () {
        const base = yield* baseUrl
        const email = freshEmail("rotate")
        yield* register(base, email)
        const first = sessionCookieOf(yield* login(base, email))
        const second = sessionCookieOf(yield* login(base, email, strongPassword, { cookie: first, origin: appOrigin }))
        assert.notStrictEqual(first, second)
        assert.strictEqual((yield* call(base, "GET", "/api/v1/auth/me", withCookie(first))).status, 401)
        assert.strictEqual((yield* call(base, "GET", "/api/v1/auth/me", withCookie(second))).status, 200)
      })
    )

    it.effect("no cookie, a forged cookie: 401", () =>
      Effect.gen(function* () {
        const base = yield* baseUrl
        assert.strictEqual((yield* call(base, "GET", "/api/v1/auth/me")).status, 401)
        const forged = yield* call(
          base,
          "GET",
          "/api/v1/auth/me",
          withCookie("mh_session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
        )
        assert.strictEqual(forged.status, 401)
      })
    )
  })

  describe("registration rules", () => {
    it.effect("duplicate email, whatever its case: 409", () =>
      Effect.gen(function* () {
        const base = yield* baseUrl
        const email = freshEmail("dup")
        assert.strictEqual((yield* register(base, email)).status, 201)
        const again = yield* register(base, ` ${email.toUpperCase()}`)
        assert.strictEqual(again.status, 409, again.text)
        assert.strictEqual(field(again.body, "_tag"), "EmailTaken")
        assert.isString(field(again.body, "message"))
      })
    )

    it.effect("a short password: 400 that says why", () =>
      Effect.gen(function* () {
        const base = yield* baseUrl
        const response = yield* register(base, freshEmail("short"), "Xq3!rT9")
        assert.strictEqual(response.status, 400, response.text)
        assert.strictEqual(field(response.body, "_tag"), "ValidationError")
        assert.include(String(field(response.body, "message")), "at least 10 characters")
        assert.deepStrictEqual(field(response.body, "issues", 0, "path"), "payload.password")
      })
    )

    it.effect("a common password, in any case: 400 that says why", () =>
      Effect.gen(function* () {
        const base = yield* baseUrl
        for (const password of ["qwertyuiop", "Password123", "1q2w3e4r5t"]) {
          const response = yield* register(base, freshEmail("common"), password)
          assert.strictEqual(response.status, 400, `${password}: ${response.text}`)
          assert.include(String(field(response.body, "message")), "most common passwords")
        }
      })
    )

    it.effect("every invalid field is named in one 400, and the password is never echoed", () =>
      Effect.gen(function* () {
        const base = yield* baseUrl
        const response = yield* register(base, "not-an-email", "abc")
        assert.strictEqual(response.status, 400, response.text)
        const paths = (field(response.body, "issues") as ReadonlyArray<unknown>).map((issue) => field(issue, "path"))
        assert.includeMembers(paths, ["payload.email", "payload.password"])
        assert.notInclude(response.text, '"abc"')
      })
    )

    it.effect("a payload of the wrong shape: 400 naming each field", () =>
      Effect.gen(function* () {
        const base = yield* baseUrl
        const response = yield* call(base, "POST", "/api/v1/auth/register", { json: { email: 42 } })
        assert.strictEqual(response.status, 400, response.text)
        assert.include(response.text, "payload.email")
        assert.include(response.text, "payload.password")
      })
    )
  })

  describe("CSRF", () => {
    it.effect("cross-site unsafe requests carrying the cookie: 403; same-origin ones pass", () =>
      Effect.gen(function* () {
        const base = yield* baseUrl
        const user = yield* signUp(base, "csrf")
        const create = (headers: Record<string, string>) =>
          call(base, "POST", "/api/v1/auth/tokens", {
            json: { name: "x" },
            headers: { cookie: user.cookie, ...headers }
          })
        const evil = yield* create({ origin: "https://evil.example" })
        assert.strictEqual(evil.status, 403, evil.text)
        assert.strictEqual(field(evil.body, "_tag"), "Forbidden")
        assert.strictEqual((yield* create({ "sec-fetch-site": "cross-site" })).status, 403)
        assert.strictEqual((yield* create({ origin: "null" })).status, 403)
        assert.strictEqual((yield* create({})).status, 403, "no provenance at all is refused with a cookie")
        const made = yield* create({ origin: appOrigin })
        assert.strictEqual(made.status, 201, made.text)
        assert.strictEqual((yield* create({ "sec-fetch-site": "same-origin" })).status, 201)
        assert.strictEqual((yield* create({ referer: `${appOrigin}/settings` })).status, 201)
        // safe methods are not refused: they change nothing
        const read = yield* call(base, "GET", "/api/v1/auth/me", {
          headers: { cookie: user.cookie, origin: "https://evil.example" }
        })
        assert.strictEqual(read.status, 200)
        // a bearer token is exempt: another site cannot make a browser send it
        const scripted = yield* call(base, "DELETE", `/api/v1/auth/tokens/${String(field(made.body, "id"))}`, {
          headers: { authorization: `Bearer ${user.token}`, origin: "https://evil.example" }
        })
        assert.strictEqual(scripted.status, 204, scripted.text)
        // and logout with the cookie from another site does not end the session
        const logout = yield* call(base, "POST", "/api/v1/auth/logout", {
          headers: { cookie: user.cookie, origin: "https://evil.example" }
        })
        assert.strictEqual(logout.status, 403)
        assert.strictEqual((yield* call(base, "GET", "/api/v1/auth/me", withCookie(user.cookie))).status, 200)
      })
    )

    it.effect("login from another site's page is refused (login CSRF)", () =>
      Effect.gen(function* () {
        const base = yield* baseUrl
        const email = freshEmail("logincsrf")
        yield* register(base, email)
        const response = yield* login(base, email, strongPassword, { origin: "https://evil.example" })
        assert.strictEqual(response.status, 403, response.text)
        assert.lengthOf(response.headers.getSetCookie(), 0)
      })
    )
  })

  describe("bearer tokens", () => {
    it.effect("created once, listed without the secret, used, revoked at once", () =>
      Effect.gen(function* () {
        const base = yield* baseUrl
        const user = yield* signUp(base, "tokens")
        const created = yield* call(
          base,
          "POST",
          "/api/v1/auth/tokens",
          withCookie(user.cookie, { json: { name: "backup script", expiresInDays: 30 } })
        )
        assert.strictEqual(created.status, 201, created.text)
        const token = String(field(created.body, "token"))
        const id = String(field(created.body, "id"))
        assert.match(token, /^mh_[A-Za-z0-9_-]{43}$/)
        assert.strictEqual(field(created.body, "prefix"), token.slice(0, 7))
        assert.isString(field(created.body, "expiresAt"))

        const me = yield* call(base, "GET", "/api/v1/auth/me", withToken(token))
        assert.strictEqual(me.status, 200, me.text)
        assert.strictEqual(field(me.body, "email"), user.email)

        const listed = yield* call(base, "GET", "/api/v1/auth/tokens", withToken(token))
        assert.strictEqual(listed.status, 200, listed.text)
        assert.notInclude(listed.text, token.slice(7), "the secret is never listed")
        const names = (field(listed.body, "items") as ReadonlyArray<unknown>).map((item) => field(item, "name"))
        assert.includeMembers(names, ["backup script", "tests"])

        const revoked = yield* call(base, "DELETE", `/api/v1/auth/tokens/${id}`, withToken(user.token))
        assert.strictEqual(revoked.status, 204, revoked.text)
        const refused = yield* call(base, "GET", "/api/v1/auth/me", withToken(token))
        assert.strictEqual(refused.status, 401, "revoked tokens stop at the next request")
        const again = yield* call(base, "DELETE", `/api/v1/auth/tokens/${id}`, withToken(user.token))
        assert.strictEqual(again.status, 404)
      })
    )

    it.effect("another user's token: 404, and it keeps working", () =>
      Effect.gen(function* () {
        const base = yield* baseUrl
        const alice = yield* signUp(base, "alice")
        const bob = yield* signUp(base, "bob")
        const aliceTokens = yield* call(base, "GET", "/api/v1/auth/tokens", withToken(alice.token))
        const aliceTokenId = String(field(aliceTokens.body, "items", 0, "id"))
        const byBob = yield* call(base, "DELETE", `/api/v1/auth/tokens/${aliceTokenId}`, withToken(bob.token))
        assert.strictEqual(byBob.status, 404, byBob.text)
        assert.strictEqual((yield* call(base, "GET", "/api/v1/auth/me", withToken(alice.token))).status, 200)
        const bobList = yield* call(base, "GET", "/api/v1/auth/tokens", withToken(bob.token))
        assert.notInclude(bobList.text, aliceTokenId)
      })
    )

    it.effect("malformed, unknown and wrong-scheme credentials: 401", () =>
      Effect.gen(function* () {
        const base = yield* baseUrl
        for (const authorization of ["Bearer nope", `Bearer mh_${"A".repeat(43)}`, "Basic dXNlcjpwYXNz", "Bearer"]) {
          const response = yield* call(base, "GET", "/api/v1/auth/me", { headers: { authorization } })
          assert.strictEqual(response.status, 401, authorization)
        }
        const bad = yield* call(base, "DELETE", "/api/v1/auth/tokens/not-a-uuid", {
          headers: { authorization: "Bearer x" }
        })
        assert.oneOf(bad.status, [400, 401])
      })
    )
  })
})
