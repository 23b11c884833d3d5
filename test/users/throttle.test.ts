import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import { baseUrl, field } from "../harness/http.ts"
import { apiTestLayer, freshEmail, login, register, strongPassword } from "./helpers.ts"

// Each layer is its own database and Redis prefix, so the per-address counter starts at zero.
layer(apiTestLayer({ LOGIN_MAX_PER_ACCOUNT: "3", LOGIN_MAX_PER_ADDRESS: "1000", LOGIN_WINDOW_SECONDS: "60" }), {
  excludeTestServices: true,
  timeout: "60 seconds"
})("per-account lock-out", (it) => {
  it.effect("unknown email and wrong password get the same 401", () =>
    Effect.gen(function* () {
      const base = yield* baseUrl
      const email = freshEmail("known")
      yield* register(base, email)
      const wrong = yield* login(base, email, "not the password at all")
      const unknown = yield* login(base, freshEmail("nobody"), "not the password at all")
      assert.strictEqual(wrong.status, 401)
      assert.strictEqual(unknown.status, 401)
      assert.strictEqual(wrong.text, unknown.text)
      assert.deepStrictEqual(wrong.body, { _tag: "Unauthorized", message: "invalid email or password" })
    })
  )

  it.effect("past the limit even the right password gets 429 with Retry-After", () =>
    Effect.gen(function* () {
      const base = yield* baseUrl
      const email = freshEmail("victim")
      yield* register(base, email)
      for (let i = 0; i < 3; i++) assert.strictEqual((yield* login(base, email, `wrong password ${i}`)).status, 401)
      const locked = yield* login(base, email)
      assert.strictEqual(locked.status, 429, locked.text)
      assert.strictEqual(field(locked.body, "_tag"), "TooManyRequests")
      const retryAfter = Number(locked.headers.get("retry-after"))
      assert.isTrue(Number.isInteger(retryAfter) && retryAfter > 0 && retryAfter <= 60, `Retry-After: ${retryAfter}`)
      assert.strictEqual(field(locked.body, "retryAfterSeconds"), retryAfter)
      assert.lengthOf(locked.headers.getSetCookie(), 0)
    })
  )

  it.effect("unknown emails lock out the same way (no enumeration through 429)", () =>
    Effect.gen(function* () {
      const base = yield* baseUrl
      const email = freshEmail("ghost")
      for (let i = 0; i < 3; i++) assert.strictEqual((yield* login(base, email, strongPassword)).status, 401)
      assert.strictEqual((yield* login(base, email, strongPassword)).status, 429)
    })
  )

  it.effect("a successful sign-in resets the account's count", () =>
    Effect.gen(function* () {
      const base = yield* baseUrl
      const email = freshEmail("forgetful")
      yield* register(base, email)
      for (let i = 0; i < 2; i++) yield* login(base, email, "wrong wrong wrong")
      assert.strictEqual((yield* login(base, email)).status, 200)
      for (let i = 0; i < 2; i++) yield* login(base, email, "wrong wrong wrong")
      assert.strictEqual(
        (yield* login(base, email)).status,
        200,
        "two failures after a success are under the limit of three"
      )
    })
  )

  it.effect("parallel guesses are counted before the password is checked", () =>
    Effect.gen(function* () {
      const base = yield* baseUrl
      const email = freshEmail("parallel")
      yield* register(base, email)
      const answers = yield* Effect.all(
        Array.from({ length: 10 }, (_, i) => login(base, email, `guess number ${i}`)),
        { concurrency: "unbounded" }
      )
      const statuses = answers.map((answer) => answer.status)
      assert.strictEqual(statuses.filter((status) => status === 401).length, 3, JSON.stringify(statuses))
      assert.strictEqual(statuses.filter((status) => status === 429).length, 7)
    })
  )
})

layer(apiTestLayer({ LOGIN_MAX_PER_ACCOUNT: "1000", LOGIN_MAX_PER_ADDRESS: "5", LOGIN_WINDOW_SECONDS: "60" }), {
  excludeTestServices: true,
  timeout: "60 seconds"
})("per-address limit", (it) => {
  it.effect("one address spraying many accounts gets 429", () =>
    Effect.gen(function* () {
      const base = yield* baseUrl
      for (let i = 0; i < 5; i++)
        assert.strictEqual((yield* login(base, freshEmail("spray"), strongPassword)).status, 401)
      const blocked = yield* login(base, freshEmail("spray"), strongPassword)
      assert.strictEqual(blocked.status, 429)
      assert.isTrue(Number(blocked.headers.get("retry-after")) > 0)
    })
  )

  it.effect("registrations from one address are limited too (each costs an argon2id hash)", () =>
    Effect.gen(function* () {
      const base = yield* baseUrl
      for (let i = 0; i < 5; i++) assert.strictEqual((yield* register(base, freshEmail("bulk"))).status, 201)
      const blocked = yield* register(base, freshEmail("bulk"))
      assert.strictEqual(blocked.status, 429, blocked.text)
      assert.isTrue(Number(blocked.headers.get("retry-after")) > 0)
    })
  )
})
