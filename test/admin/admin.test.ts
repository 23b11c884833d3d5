import { assert, describe, layer } from "@effect/vitest"
import { Effect, Redacted } from "effect"
import { createUser } from "../../src/users/UsersCli.ts"
import { baseUrl, call, field } from "../harness/http.ts"
import {
  apiTestLayer,
  freshEmail,
  login,
  register,
  sessionCookieOf,
  signUp,
  strongPassword,
  withCookie,
  withToken
} from "../users/helpers.ts"

const items = (body: unknown): ReadonlyArray<unknown> => {
  const value = field(body, "items")
  return Array.isArray(value) ? value : []
}

layer(apiTestLayer(), { excludeTestServices: true, timeout: "60 seconds" })("admin (open registration)", (it) => {
  it.effect("the first user is an admin, later ones are not", () =>
    Effect.gen(function* () {
      const base = yield* baseUrl
      const first = yield* signUp(base, "first")
      const second = yield* signUp(base, "second")
      assert.strictEqual(
        field((yield* call(base, "GET", "/api/v1/auth/me", withToken(first.token))).body, "role"),
        "admin"
      )
      assert.strictEqual(
        field((yield* call(base, "GET", "/api/v1/auth/me", withToken(second.token))).body, "role"),
        "user"
      )
    })
  )

  it.effect("admin endpoints: 403 for users, 401 without credentials; the list has no secrets", () =>
    Effect.gen(function* () {
      const base = yield* baseUrl
      const user = yield* signUp(base, "plain")
      const refused = yield* call(base, "GET", "/api/v1/admin/users", withToken(user.token))
      assert.strictEqual(refused.status, 403, refused.text)
      assert.strictEqual(field(refused.body, "_tag"), "Forbidden")
      assert.strictEqual((yield* call(base, "GET", "/api/v1/admin/users")).status, 401)
      const admin = yield* adminOf(base)
      const listed = yield* call(base, "GET", "/api/v1/admin/users?limit=200", withToken(admin))
      assert.strictEqual(listed.status, 200, listed.text)
      assert.include(
        items(listed.body).map((item) => field(item, "email")),
        user.email
      )
      assert.notInclude(listed.text, "argon2")
      assert.notInclude(listed.text.toLowerCase(), "password")
    })
  )

  it.effect("a disabled user's sessions and tokens stop working at once, and sign-in fails generically", () =>
    Effect.gen(function* () {
      const base = yield* baseUrl
      const admin = yield* adminOf(base)
      const victim = yield* signUp(base, "victim")
      const secondSession = sessionCookieOf(yield* login(base, victim.email))
      assert.strictEqual((yield* call(base, "GET", "/api/v1/auth/me", withCookie(victim.cookie))).status, 200)

      const disabled = yield* call(base, "POST", `/api/v1/admin/users/${victim.id}/disable`, withToken(admin))
      assert.strictEqual(disabled.status, 200, disabled.text)
      assert.strictEqual(field(disabled.body, "disabled"), true)

      for (const cookie of [victim.cookie, secondSession]) {
        assert.strictEqual((yield* call(base, "GET", "/api/v1/auth/me", withCookie(cookie))).status, 401)
      }
      assert.strictEqual((yield* call(base, "GET", "/api/v1/auth/me", withToken(victim.token))).status, 401)
      const again = yield* login(base, victim.email)
      assert.strictEqual(again.status, 401)
      assert.deepStrictEqual(again.body, { _tag: "Unauthorized", message: "invalid email or password" })

      const enabled = yield* call(base, "POST", `/api/v1/admin/users/${victim.id}/enable`, withToken(admin))
      assert.strictEqual(enabled.status, 200, enabled.text)
      assert.strictEqual((yield* login(base, victim.email)).status, 200)
      assert.strictEqual((yield* call(base, "GET", "/api/v1/auth/me", withToken(victim.token))).status, 200)
    })
  )

  it.effect("an admin cannot disable themselves; unknown ids are 404; bad ids 400", () =>
    Effect.gen(function* () {
      const base = yield* baseUrl
      const admin = yield* adminOf(base)
      const me = yield* call(base, "GET", "/api/v1/auth/me", withToken(admin))
      const self = yield* call(
        base,
        "POST",
        `/api/v1/admin/users/${String(field(me.body, "id"))}/disable`,
        withToken(admin)
      )
      assert.strictEqual(self.status, 409, self.text)
      const unknown = yield* call(base, "POST", `/api/v1/admin/users/${crypto.randomUUID()}/disable`, withToken(admin))
      assert.strictEqual(unknown.status, 404, unknown.text)
      const bad = yield* call(base, "POST", "/api/v1/admin/users/nope/disable", withToken(admin))
      assert.strictEqual(bad.status, 400, bad.text)
      assert.include(bad.text, "params.id")
    })
  )

  it.effect("`cli users create --admin` makes an admin in any mode", () =>
    Effect.gen(function* () {
      const base = yield* baseUrl
      const email = freshEmail("operator")
      const created = yield* createUser({ email, admin: true, password: Redacted.make(strongPassword) })
      assert.strictEqual(created.role, "admin")
      const signedIn = yield* login(base, email)
      assert.strictEqual(field(signedIn.body, "user", "role"), "admin")
    })
  )
})

/** The admin of this file's database (the first user registered in it). */
const adminOf = (base: string) =>
  Effect.gen(function* () {
    const email = "boss@example.org"
    const existing = yield* login(base, email)
    const cookie = existing.status === 200 ? sessionCookieOf(existing) : yield* createAdmin(base, email)
    const token = yield* call(base, "POST", "/api/v1/auth/tokens", withCookie(cookie, { json: { name: "admin" } }))
    return String(field(token.body, "token"))
  })

const createAdmin = (base: string, email: string) =>
  Effect.gen(function* () {
    yield* createUser({ email, admin: true, password: Redacted.make(strongPassword) }).pipe(Effect.orDie)
    return sessionCookieOf(yield* login(base, email))
  })

layer(apiTestLayer({ REGISTRATION_MODE: "invite" }), { excludeTestServices: true, timeout: "60 seconds" })(
  "invite-only registration",
  (it) => {
    describe("invites", () => {
      it.effect("no code: 400 naming inviteCode; a code works once; a bound code only for its email", () =>
        Effect.gen(function* () {
          const base = yield* baseUrl
          const missing = yield* register(base, freshEmail("nocode"))
          assert.strictEqual(missing.status, 400, missing.text)
          assert.include(missing.text, "payload.inviteCode")

          const admin = yield* adminOf(base)
          const invite = yield* call(base, "POST", "/api/v1/admin/invites", withToken(admin, { json: {} }))
          assert.strictEqual(invite.status, 201, invite.text)
          const code = String(field(invite.body, "code"))
          assert.match(code, /^mhi_[A-Za-z0-9_-]{43}$/)

          const used = yield* register(base, freshEmail("invited"), strongPassword, { inviteCode: code })
          assert.strictEqual(used.status, 201, used.text)
          assert.strictEqual(field(used.body, "role"), "user", "invited users are not admins")
          const reused = yield* register(base, freshEmail("second"), strongPassword, { inviteCode: code })
          assert.strictEqual(reused.status, 400, reused.text)
          assert.include(reused.text, "payload.inviteCode")

          const bound = yield* call(
            base,
            "POST",
            "/api/v1/admin/invites",
            withToken(admin, { json: { email: "Named@Example.org" } })
          )
          const boundCode = String(field(bound.body, "code"))
          const wrong = yield* register(base, freshEmail("other"), strongPassword, { inviteCode: boundCode })
          assert.strictEqual(wrong.status, 400)
          const right = yield* register(base, "named@example.org", strongPassword, { inviteCode: boundCode })
          assert.strictEqual(right.status, 201, right.text)

          const users = yield* signUpWithInvite(base, admin)
          assert.strictEqual(
            (yield* call(base, "POST", "/api/v1/admin/invites", withToken(users, { json: {} }))).status,
            403
          )
        })
      )

      it.effect("invites are listed with their state, never their code; a revoked code registers nobody", () =>
        Effect.gen(function* () {
          const base = yield* baseUrl
          const admin = yield* adminOf(base)
          const created = yield* call(base, "POST", "/api/v1/admin/invites", withToken(admin, { json: {} }))
          const code = String(field(created.body, "code"))
          const usedInvite = yield* call(base, "POST", "/api/v1/admin/invites", withToken(admin, { json: {} }))
          const usedCode = String(field(usedInvite.body, "code"))
          assert.strictEqual(
            (yield* register(base, freshEmail("usedcode"), strongPassword, { inviteCode: usedCode })).status,
            201
          )

          const listed = yield* call(base, "GET", "/api/v1/admin/invites", withToken(admin))
          assert.strictEqual(listed.status, 200, listed.text)
          assert.notInclude(listed.text, code.slice(4))
          assert.notInclude(listed.text, usedCode.slice(4))
          assert.notInclude(listed.text, "hash")
          const [newest, second] = items(listed.body)
          // newest first: the used invite, then the pending one
          assert.strictEqual(field(newest, "state"), "used")
          assert.strictEqual(field(second, "state"), "pending")
          const pendingId = String(field(second, "id"))
          const usedId = String(field(newest, "id"))

          const revoked = yield* call(base, "DELETE", `/api/v1/admin/invites/${pendingId}`, withToken(admin))
          assert.strictEqual(revoked.status, 200, revoked.text)
          assert.strictEqual(field(revoked.body, "state"), "revoked")
          const refused = yield* register(base, freshEmail("revoked"), strongPassword, { inviteCode: code })
          assert.strictEqual(refused.status, 400, refused.text)
          assert.include(refused.text, "payload.inviteCode")
          const again = yield* call(base, "GET", "/api/v1/admin/invites", withToken(admin))
          assert.strictEqual(
            field(
              items(again.body).find((item) => field(item, "id") === pendingId),
              "state"
            ),
            "revoked"
          )

          const usedRevoke = yield* call(base, "DELETE", `/api/v1/admin/invites/${usedId}`, withToken(admin))
          assert.strictEqual(usedRevoke.status, 409, usedRevoke.text)
          const unknown = yield* call(base, "DELETE", `/api/v1/admin/invites/${crypto.randomUUID()}`, withToken(admin))
          assert.strictEqual(unknown.status, 404, unknown.text)

          const user = yield* signUpWithInvite(base, admin)
          assert.strictEqual((yield* call(base, "GET", "/api/v1/admin/invites", withToken(user))).status, 403)
          assert.strictEqual(
            (yield* call(base, "DELETE", `/api/v1/admin/invites/${usedId}`, withToken(user))).status,
            403
          )
        })
      )
    })
  }
)

const signUpWithInvite = (base: string, adminToken: string) =>
  Effect.gen(function* () {
    const invite = yield* call(base, "POST", "/api/v1/admin/invites", withToken(adminToken, { json: {} }))
    const email = freshEmail("invitee")
    yield* register(base, email, strongPassword, { inviteCode: String(field(invite.body, "code")) })
    const cookie = sessionCookieOf(yield* login(base, email))
    const token = yield* call(base, "POST", "/api/v1/auth/tokens", withCookie(cookie, { json: { name: "t" } }))
    return String(field(token.body, "token"))
  })

layer(apiTestLayer({ REGISTRATION_MODE: "closed" }), { excludeTestServices: true, timeout: "60 seconds" })(
  "closed registration",
  (it) => {
    it.effect("registration is refused with 403 even for the first user", () =>
      Effect.gen(function* () {
        const base = yield* baseUrl
        const response = yield* register(base, freshEmail("closed"))
        assert.strictEqual(response.status, 403, response.text)
        assert.strictEqual(field(response.body, "_tag"), "RegistrationClosed")
      })
    )
  }
)
