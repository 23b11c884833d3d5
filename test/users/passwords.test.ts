import { assert, describe, layer } from "@effect/vitest"
import { dictionary as english } from "@zxcvbn-ts/language-en"
import { Effect, Redacted } from "effect"
import fc from "fast-check"
import { Passwords } from "../../src/users/Passwords.ts"
import { createUser } from "../../src/users/UsersCli.ts"
import { baseUrl, field } from "../harness/http.ts"
import { apiTestLayer, freshEmail, register } from "./helpers.ts"

/** PASSWORD_MIN_LENGTH's default: every generated weak password is at least this long, so length alone does not refuse it. */
const minLength = 10

const padTo = (value: string, length: number, filler: string) =>
  value.length >= length ? value : value + filler.repeat(Math.ceil((length - value.length) / filler.length))

/** A short pattern said again and again: `abababababab`, `x7Qx7Qx7Qx7Q`. */
const repeatedPattern = fc
  .tuple(fc.stringMatching(/^[a-zA-Z0-9!@#$%&*]{2,3}$/), fc.integer({ min: 0, max: 3 }))
  .filter(([unit]) => new Set(unit).size > 1)
  .map(([unit, extra]) => unit.repeat(Math.ceil(minLength / unit.length) + extra))

const keyboardRows = ["1234567890", "qwertyuiop", "asdfghjkl", "zxcvbnm"]

/** A run of 5 to 8 neighbouring keys of one row, forwards or backwards. */
const keyboardRun = fc
  .tuple(fc.constantFrom(...keyboardRows), fc.nat(), fc.integer({ min: 5, max: 8 }), fc.boolean())
  .map(([row, start, length, backwards]) => {
    const from = start % (row.length - 4)
    const run = row.slice(from, from + length)
    return backwards ? [...run].reverse().join("") : run
  })

/** Two runs along keyboard rows, one after the other: `qwertasdfg`, `0987poiuyt`. */
const keyboardWalk = fc
  .tuple(keyboardRun, keyboardRun)
  .map(([first, second]) => first + second)
  .filter((walk) => walk.length >= minLength)

const commonWords = (english["commonWords-en"] ?? []).slice(0, 2000).filter((word) => /^[a-z]{5,}$/.test(word))

/** A common word, maybe capitalised, with digits (a year, a count, a birthday): `Sunshine2019`, `kitchen123`. */
const wordWithDigits = fc
  .tuple(
    fc.constantFrom(...commonWords),
    fc.boolean(),
    fc.oneof(
      fc.integer({ min: 1950, max: 2030 }).map(String),
      fc.constantFrom("1", "12", "123", "1234", "12345", "007"),
      fc.integer({ min: 0, max: 99 }).map((n) => String(n).padStart(2, "0"))
    )
  )
  .map(([word, capital, digits]) => (capital ? word.charAt(0).toUpperCase() + word.slice(1) : word) + digits)
  .filter((password) => password.length >= minLength)

/** The email's local part with a suffix, for that email: `jonathanmiller2024` for jonathan.miller@…. */
const localPartWithSuffix = fc
  .tuple(
    fc.stringMatching(/^[a-z]{4,8}$/),
    fc.stringMatching(/^[a-z]{4,8}$/),
    fc.constantFrom(".", "", "_"),
    fc.stringMatching(/^[0-9!?.]{1,4}$/)
  )
  .map(([first, last, separator, suffix]) => ({
    email: `${first}${separator}${last}@example.org`,
    password: padTo(`${first}${separator}${last}${suffix}`, minLength, "1")
  }))

const printable = Array.from({ length: 94 }, (_, i) => String.fromCharCode(33 + i))

/** 16 to 24 characters drawn at random from the 94 printable ASCII characters. */
const randomStrong = fc.string({ unit: fc.constantFrom(...printable), minLength: 16, maxLength: 24 })

const refusedAsWeak = (problems: ReadonlyArray<string>, password: string) => {
  // refused (by zxcvbn, or by an older rule that saw it first), and never quoted back
  assert.isNotEmpty(problems, `accepted: ${JSON.stringify(password)}`)
  for (const problem of problems) assert.notInclude(problem, password)
}

layer(apiTestLayer(), { excludeTestServices: true, timeout: "120 seconds" })("password strength (zxcvbn)", (it) => {
  describe("generated passwords", () => {
    it.effect("weak ones are refused: repeats, keyboard walks, word + digits, the email's local part + suffix", () =>
      Effect.gen(function* () {
        const passwords = yield* Passwords
        const problemsOf = (email: string, password: string) =>
          Effect.runPromise(passwords.problems(Redacted.make(password), email))
        const options = { numRuns: 60 }
        yield* Effect.promise(async () => {
          for (const weak of [repeatedPattern, keyboardWalk, wordWithDigits]) {
            await fc.assert(
              fc.asyncProperty(weak, async (password) =>
                refusedAsWeak(await problemsOf("someone@example.org", password), password)
              ),
              options
            )
          }
          await fc.assert(
            fc.asyncProperty(localPartWithSuffix, async ({ email, password }) =>
              refusedAsWeak(await problemsOf(email, password), password)
            ),
            options
          )
        })
      })
    )

    it.effect("random ones from a large alphabet (16+ characters) are accepted", () =>
      Effect.gen(function* () {
        const passwords = yield* Passwords
        yield* Effect.promise(() =>
          fc.assert(
            fc.asyncProperty(randomStrong, async (password) => {
              const problems = await Effect.runPromise(
                passwords.problems(Redacted.make(password), "someone@example.org")
              )
              assert.deepStrictEqual(problems, [], JSON.stringify(password))
            }),
            { numRuns: 100 }
          )
        )
      })
    )
  })

  describe("every way to make a user enforces it", () => {
    it.effect("registration: 400 on payload.password with zxcvbn's advice, never the password", () =>
      Effect.gen(function* () {
        const base = yield* baseUrl
        for (const password of ["abababababab", "qwertzuiopasdf", "Sommer1234!"]) {
          const response = yield* register(base, freshEmail("weak"), password)
          assert.strictEqual(response.status, 400, `${password}: ${response.text}`)
          assert.strictEqual(field(response.body, "_tag"), "ValidationError")
          assert.strictEqual(field(response.body, "issues", 0, "path"), "payload.password")
          assert.include(String(field(response.body, "message")), "too easy to guess")
          assert.notInclude(response.text, password)
        }
        const accepted = yield* register(base, freshEmail("strong"), "violet tractor minus 47 glacier")
        assert.strictEqual(accepted.status, 201, accepted.text)
      })
    )

    it.effect("the CLI's `users create`: refused with the same reason", () =>
      Effect.gen(function* () {
        const email = freshEmail("cli")
        const refused = yield* Effect.flip(createUser({ email, admin: false, password: Redacted.make("abababababab") }))
        assert.strictEqual(refused._tag, "ValidationError")
        assert.include(refused.message, "too easy to guess")
        assert.notInclude(refused.message, "abababababab")
        const created = yield* createUser({
          email,
          admin: false,
          password: Redacted.make("violet tractor minus 47 glacier")
        })
        assert.strictEqual(created.email, email)
      })
    )
  })
})
