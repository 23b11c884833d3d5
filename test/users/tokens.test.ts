import { PgClient } from "@effect/sql-pg"
import { assert, describe, layer } from "@effect/vitest"
import { Effect, Option, Redacted } from "effect"
import { SqlClient } from "effect/sql"
import fc from "fast-check"
import migration0054 from "../../migrations/0054_token_scopes.ts"
import { AppConfig } from "../../src/platform/Config.ts"
import { secretHash } from "../../src/users/Secrets.ts"
import { createUser } from "../../src/users/UsersCli.ts"
import { UserScope } from "../../src/users/UserScope.ts"
import { baseUrl, call, field } from "../harness/http.ts"
import { psqlValue } from "../harness/postgres.ts"
import {
  apiTestLayer,
  freshEmail,
  login,
  type SignedUp,
  sessionCookieOf,
  signUp,
  strongPassword,
  withCookie,
  withToken
} from "./helpers.ts"
import { example, record } from "./openapi.ts"

const unsafeMethods = new Set(["post", "put", "patch", "delete"])

/** A token of `user` with these scopes (made with the session cookie), and its id. */
const tokenWith = (base: string, user: SignedUp, json: Record<string, unknown>) =>
  Effect.gen(function* () {
    const created = yield* call(base, "POST", "/api/v1/auth/tokens", withCookie(user.cookie, { json }))
    assert.strictEqual(created.status, 201, created.text)
    return { token: String(field(created.body, "token")), id: String(field(created.body, "id")), body: created.body }
  })

const dayMillis = 86_400_000

/** An administrator made by the operator's CLI, signed in, with a default token. */
const signUpAdmin = (base: string) =>
  Effect.gen(function* () {
    const email = freshEmail("admin")
    const created = yield* createUser({ email, admin: true, password: Redacted.make(strongPassword) }).pipe(
      Effect.orDie
    )
    const cookie = sessionCookieOf(yield* login(base, email))
    const user: SignedUp = { id: created.id, email, cookie, token: "" }
    const token = yield* tokenWith(base, user, { name: "default" })
    return { ...user, token: token.token }
  })

layer(apiTestLayer(), { excludeTestServices: true, timeout: "120 seconds" })("API token scopes and lifetime", (it) => {
  describe("scopes, enforced by the Authentication middleware for every endpoint", () => {
    it.effect("a read-only token cannot POST/PUT/PATCH/DELETE any operation of the OpenAPI document", () =>
      Effect.gen(function* () {
        const base = yield* baseUrl
        const admin = yield* signUpAdmin(base)
        const readOnly = yield* tokenWith(base, admin, { name: "reader", scopes: ["read", "admin"] })

        const document = (yield* call(base, "GET", "/openapi.json")).body
        const refused: Array<string> = []
        const open: Array<string> = []
        for (const [template, operations] of Object.entries(record(field(document, "paths")))) {
          for (const [method, operation] of Object.entries(record(operations))) {
            if (!unsafeMethods.has(method)) continue
            const verb = method.toUpperCase()
            const url = template.replace(/\{[^}]+\}/g, crypto.randomUUID())
            const bodySchema = field(operation, "requestBody", "content", "application/json", "schema")
            const options = bodySchema === undefined ? {} : { json: example(bodySchema, document) }
            // Which operations sit behind the middleware: without credentials it answers "not signed in".
            const anonymous = yield* call(base, verb, url, options)
            if (anonymous.status !== 401 || field(anonymous.body, "message") !== "not signed in") {
              open.push(`${verb} ${template}`)
              continue
            }
            const response = yield* call(base, verb, url, withToken(readOnly.token, options))
            assert.strictEqual(response.status, 403, `${verb} ${template} with a read-only token: ${response.text}`)
            assert.strictEqual(field(response.body, "_tag"), "Forbidden")
            assert.include(String(field(response.body, "message")), "`write` scope", `${verb} ${template}`)
            refused.push(`${verb} ${template}`)
          }
        }
        // Only sign-up, sign-in and sign-out are reachable without credentials; everything else was refused.
        assert.sameMembers(open, ["POST /api/v1/auth/register", "POST /api/v1/auth/login", "POST /api/v1/auth/logout"])
        assert.includeMembers(refused, [
          "POST /api/v1/auth/tokens",
          "DELETE /api/v1/auth/tokens/{id}",
          "POST /api/v1/admin/invites",
          "DELETE /api/v1/jobs/{id}"
        ])
        assert.isAbove(refused.length, 10)

        // ...while reading works, with the admin role its scope gives
        const me = yield* call(base, "GET", "/api/v1/auth/me", withToken(readOnly.token))
        assert.strictEqual(me.status, 200, me.text)
        assert.deepStrictEqual([field(me.body, "role"), field(me.body, "scopes")], ["admin", ["read", "admin"]])
        assert.strictEqual((yield* call(base, "GET", "/api/v1/admin/users", withToken(readOnly.token))).status, 200)
        // and the token walked nothing into existence: still the two tokens signUpAdmin and this test made
        const listed = yield* call(base, "GET", "/api/v1/auth/tokens", withToken(readOnly.token))
        assert.lengthOf(field(listed.body, "items") as Array<unknown>, 2)
      })
    )

    it.effect("without the admin scope an admin's token acts as a user; only admins may grant `admin`", () =>
      Effect.gen(function* () {
        const base = yield* baseUrl
        const admin = yield* signUpAdmin(base)
        const readWrite = yield* tokenWith(base, admin, { name: "rw", scopes: ["read", "write"] })
        const me = yield* call(base, "GET", "/api/v1/auth/me", withToken(readWrite.token))
        assert.strictEqual(field(me.body, "role"), "user")
        const adminOnly = yield* call(base, "GET", "/api/v1/admin/users", withToken(readWrite.token))
        assert.strictEqual(adminOnly.status, 403, adminOnly.text)
        const plain = yield* signUp(base, "plain")
        const plainMe = yield* call(base, "GET", "/api/v1/auth/me", withToken(plain.token))
        assert.strictEqual(field(plainMe.body, "role"), "user")
        const refused = yield* call(
          base,
          "POST",
          "/api/v1/auth/tokens",
          withCookie(plain.cookie, { json: { name: "x", scopes: ["read", "admin"] } })
        )
        assert.strictEqual(refused.status, 400, refused.text)
        assert.strictEqual(field(refused.body, "issues", 0, "path"), "payload.scopes")
        // a write-only token cannot read
        const writeOnly = yield* tokenWith(base, admin, { name: "w", scopes: ["write"] })
        const read = yield* call(base, "GET", "/api/v1/auth/me", withToken(writeOnly.token))
        assert.strictEqual(read.status, 403, read.text)
        assert.include(String(field(read.body, "message")), "`read` scope")
      })
    )
  })

  describe("minting", () => {
    it.effect("a token cannot make a token, whatever scopes and lifetime it asks for", () =>
      Effect.gen(function* () {
        const base = yield* baseUrl
        const user = yield* signUp(base, "minter")
        const full = yield* tokenWith(base, user, { name: "full", scopes: ["read", "write"], expiresInDays: 1 })
        const count = Effect.map(
          call(base, "GET", "/api/v1/auth/tokens", withToken(full.token)),
          (listed) => (field(listed.body, "items") as Array<unknown>).length
        )
        const before = yield* count
        const request = fc.record(
          {
            name: fc.string({ minLength: 1, maxLength: 20 }),
            scopes: fc.subarray(["read", "write", "admin"], { minLength: 1 }),
            expiresInDays: fc.integer({ min: 1, max: 365 })
          },
          { requiredKeys: ["name"] }
        )
        yield* Effect.promise(() =>
          fc.assert(
            fc.asyncProperty(request, async (json) => {
              const response = await Effect.runPromise(
                call(base, "POST", "/api/v1/auth/tokens", withToken(full.token, { json }))
              )
              assert.strictEqual(response.status, 403, `${JSON.stringify(json)}: ${response.text}`)
              assert.include(String(field(response.body, "message")), "signed-in session")
            }),
            { numRuns: 25 }
          )
        )
        assert.strictEqual(yield* count, before, "no token was made")
      })
    )

    it.effect("a session's tokens: default 90 days and the role's scopes, at most 365 days, never unbounded", () =>
      Effect.gen(function* () {
        const base = yield* baseUrl
        const user = yield* signUp(base, "lifetimes")
        const started = Date.now()
        const plain = yield* tokenWith(base, user, { name: "default" })
        assert.deepStrictEqual(field(plain.body, "scopes"), ["read", "write"])
        const expires = Date.parse(String(field(plain.body, "expiresAt")))
        assert.approximately(expires - started, 90 * dayMillis, 60_000)
        const longest = yield* tokenWith(base, user, { name: "year", expiresInDays: 365 })
        assert.approximately(Date.parse(String(field(longest.body, "expiresAt"))) - started, 365 * dayMillis, 60_000)
        for (const expiresInDays of [366, 3650, 0, -1]) {
          const refused = yield* call(
            base,
            "POST",
            "/api/v1/auth/tokens",
            withCookie(user.cookie, { json: { name: "long", expiresInDays } })
          )
          assert.strictEqual(refused.status, 400, `${expiresInDays}: ${refused.text}`)
        }
        const noScopes = yield* call(
          base,
          "POST",
          "/api/v1/auth/tokens",
          withCookie(user.cookie, { json: { name: "none", scopes: [] } })
        )
        assert.strictEqual(noScopes.status, 400, noScopes.text)
      })
    )
  })

  it.effect("an expired token is refused (401) and no longer listed", () =>
    Effect.gen(function* () {
      const base = yield* baseUrl
      const user = yield* signUp(base, "expiry")
      const shortLived = yield* tokenWith(base, user, { name: "short", expiresInDays: 1 })
      assert.strictEqual((yield* call(base, "GET", "/api/v1/auth/me", withToken(shortLived.token))).status, 200)
      const sql = yield* SqlClient.SqlClient
      const scope = yield* UserScope
      // a day later, as far as the token is concerned
      yield* scope.system(
        "test: let the token expire",
        sql`UPDATE api_tokens SET expires_at = now() - interval '1 second' WHERE id = ${shortLived.id}`
      )
      const refused = yield* call(base, "GET", "/api/v1/auth/me", withToken(shortLived.token))
      assert.strictEqual(refused.status, 401, refused.text)
      assert.strictEqual(field(refused.body, "message"), "invalid, expired or revoked API token")
      const listed = yield* call(base, "GET", "/api/v1/auth/tokens", withCookie(user.cookie))
      const ids = (field(listed.body, "items") as Array<unknown>).map((item) => field(item, "id"))
      assert.notInclude(ids, shortLived.id)
      assert.lengthOf(ids, 1, "signUp's token is still listed")
    })
  )
})

layer(apiTestLayer(), { excludeTestServices: true, timeout: "120 seconds" })("migration 0054 (token scopes)", (it) => {
  it.effect("tokens made before scopes keep what they could do, and get an expiry", () =>
    Effect.gen(function* () {
      const base = yield* baseUrl
      const admin = yield* signUpAdmin(base)
      const user = yield* signUp(base, "legacy-user")
      const config = yield* AppConfig
      // The schema owner's login: the programs' own (DATABASE_URL) may not alter tables.
      const ownerUrl = Option.getOrElse(config.databaseOwnerUrl, () => config.databaseUrl)
      const url = Redacted.value(ownerUrl)
      // Back to the shape before 0054 (as the owner), with tokens of that time.
      psqlValue(
        url,
        `ALTER TABLE api_tokens DROP CONSTRAINT api_tokens_scopes_known;
         ALTER TABLE api_tokens DROP COLUMN scopes;
         ALTER TABLE api_tokens ALTER COLUMN expires_at DROP NOT NULL`
      )
      const secret = (name: string) => `mh_${name.padEnd(43, "A")}`
      const legacy = [
        { name: "adminforever", user: admin.id, expires: "NULL" },
        { name: "userforever", user: user.id, expires: "NULL" },
        { name: "userdecade", user: user.id, expires: "now() + interval '3650 days'" },
        { name: "usersoon", user: user.id, expires: "now() + interval '10 days'" }
      ]
      psqlValue(
        url,
        `INSERT INTO api_tokens (user_id, name, token_hash, token_prefix, expires_at) VALUES ${legacy
          .map((t) => `('${t.user}', '${t.name}', '${secretHash(secret(t.name))}', 'mh_xxxx', ${t.expires})`)
          .join(", ")}`
      )
      yield* migration0054.pipe(Effect.provide(PgClient.layer({ url: ownerUrl, maxConnections: 1 })))

      const daysLeft = (name: string) =>
        Number(
          psqlValue(
            url,
            `SELECT round(extract(epoch FROM expires_at - now()) / 86400) FROM api_tokens WHERE name = '${name}'`
          )
        )
      assert.strictEqual(daysLeft("adminforever"), 90)
      assert.strictEqual(daysLeft("userforever"), 90)
      assert.strictEqual(daysLeft("userdecade"), 365)
      assert.strictEqual(daysLeft("usersoon"), 10)
      assert.strictEqual(
        psqlValue(url, "SELECT count(*) FROM api_tokens WHERE scopes IS NULL OR expires_at IS NULL"),
        "0"
      )

      const meOf = (name: string) => call(base, "GET", "/api/v1/auth/me", withToken(secret(name)))
      const adminMe = yield* meOf("adminforever")
      assert.deepStrictEqual(
        [field(adminMe.body, "role"), field(adminMe.body, "scopes")],
        ["admin", ["read", "write", "admin"]]
      )
      const userMe = yield* meOf("userforever")
      assert.deepStrictEqual([field(userMe.body, "role"), field(userMe.body, "scopes")], ["user", ["read", "write"]])
    })
  )
})
