import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import fc from "fast-check"
import { baseUrl, call, field } from "../harness/http.ts"
import { signUp, withToken } from "../users/helpers.ts"
import { example, isDateField, type Json, type Operation, operationsOf, setAt, stringPaths, urlOf } from "./openapi.ts"
import { servedApiLayer } from "./support.ts"

/**
 * Text PostgreSQL cannot store (U+0000, unpaired UTF-16 surrogates) is refused at the request
 * boundary with a 400 naming the field, for every string any operation of the served OpenAPI
 * document reads: path parameters, query parameters and every string in its JSON body. Dates a
 * filter cannot compare (invalid, or out of PostgreSQL's range) likewise. Before the shared check,
 * a NUL in the login email was `503 database error`.
 */

const withNul = fc.tuple(fc.string({ maxLength: 6 }), fc.string({ maxLength: 6 })).map(([a, b]) => `${a}\u0000${b}`)

/** JSON can carry both (as escapes); a URL only the NUL: percent-encoded surrogates are no UTF-8 and decode to U+FFFD. */
const unstorable = fc.oneof(
  withNul,
  fc
    .tuple(fc.string({ maxLength: 6 }), fc.integer({ min: 0xd800, max: 0xdfff }), fc.string({ maxLength: 6 }))
    // ASCII neighbours cannot pair with the surrogate
    .map(([a, unit, b]) => `${a}${String.fromCharCode(unit)}${b}`)
)

const issuesOf = (body: Json): ReadonlyArray<string> => {
  const issues = field(body, "issues")
  return Array.isArray(issues) ? issues.map((issue) => String(field(issue, "path"))) : []
}

/** The fixed parameters an operation needs to reach its handler (a valid id where the path has one). */
const validParams = (operation: Operation): Record<string, string> =>
  Object.fromEntries(
    operation.parameters.filter((p) => p.in === "path").map((p) => [p.name, crypto.randomUUID()] as const)
  )

layer(servedApiLayer(), { excludeTestServices: true, timeout: "120 seconds" })(
  "text no column can store, and dates out of range",
  (it) => {
    it.effect("a NUL or lone surrogate anywhere in any operation's input is a 400 naming the field", () =>
      Effect.gen(function* () {
        const base = yield* baseUrl
        const admin = yield* signUp(base, "admin") // the first user is an admin: admin routes reach their handlers
        const document = (yield* call(base, "GET", "/openapi.json")).body
        const operations = operationsOf(document)
        assert.isAbove(operations.length, 30, "the document lists the API")
        const bad = fc.sample(unstorable, { numRuns: 400, seed: 7 })
        const badInUrl = fc.sample(withNul, { numRuns: 400, seed: 7 })
        let next = 0
        const badText = () => bad[next++ % bad.length] ?? "\u0000"
        const badUrlText = () => badInUrl[next++ % badInUrl.length] ?? "\u0000"
        const probed = new Set<string>()
        const withoutText: Array<string> = []
        let requests = 0

        const expect400 = (operation: Operation, url: string, body: Json, fieldPath: string) =>
          Effect.gen(function* () {
            const options = body === undefined ? {} : { json: body }
            const response = yield* call(base, operation.method, url, withToken(admin.token, options))
            requests++
            const where = `${operation.key} with bad text in ${fieldPath} (${url})`
            assert.strictEqual(response.status, 400, `${where}: ${response.status} ${response.text}`)
            assert.strictEqual(field(response.body, "_tag"), "ValidationError", where)
            assert.include(issuesOf(response.body), fieldPath, `${where}: ${response.text}`)
            probed.add(operation.key)
          })

        for (const operation of operations) {
          const params = validParams(operation)
          const body = operation.body === undefined ? undefined : example(operation.body, document)
          let inputs = 0
          for (const parameter of operation.parameters) {
            if (parameter.in === "path") {
              const url = urlOf(operation, { ...params, [parameter.name]: encodeURIComponent(badUrlText()) })
              yield* expect400(operation, url, body, `params.${parameter.name}`)
              inputs++
            } else if (parameter.in === "query") {
              const query = `${encodeURIComponent(parameter.name)}=${encodeURIComponent(badUrlText())}`
              yield* expect400(operation, urlOf(operation, params, query), body, `query.${parameter.name}`)
              inputs++
            }
          }
          if (operation.body !== undefined) {
            for (const path of stringPaths(operation.body, document)) {
              const poisoned = setAt(body, path, badText())
              yield* expect400(operation, urlOf(operation, params), poisoned, ["payload", ...path].join("."))
              inputs++
            }
            // a key no schema knows, carrying the bad text itself
            const keyed = { ...(typeof body === "object" && body !== null ? body : {}), "k\u0000": 1 }
            yield* expect400(operation, urlOf(operation, params), keyed, "payload.k\\u0000")
            inputs++
          }
          if (inputs === 0) withoutText.push(operation.key)
        }

        console.log(
          `unstorable text: ${requests} requests over ${probed.size} of ${operations.length} operations; ` +
            `without any text input: ${withoutText.join(", ")}`
        )
        // every operation that reads text was probed; the others read none at all
        for (const operation of operations) {
          const hasInput =
            operation.body !== undefined || operation.parameters.some((p) => p.in === "path" || p.in === "query")
          assert.strictEqual(probed.has(operation.key), hasInput, operation.key)
        }
      })
    )

    it.effect("login without authentication: a NUL in the email is a 400, not a database error", () =>
      Effect.gen(function* () {
        const base = yield* baseUrl
        const response = yield* call(base, "POST", "/api/v1/auth/login", {
          body: '{"email":"a\\u0000@example.org","password":"correct horse battery staple"}'
        })
        assert.strictEqual(response.status, 400, response.text)
        assert.deepStrictEqual(field(response.body, "issues"), [
          { path: "payload.email", message: "must not contain U+0000 (NUL)" }
        ])
        const surrogate = yield* call(base, "POST", "/api/v1/auth/register", {
          body: '{"email":"a@example.org","password":"correct horse \\ud800 battery staple"}'
        })
        assert.strictEqual(surrogate.status, 400, surrogate.text)
        // the message names the field, never the secret
        assert.notInclude(surrogate.text, "battery")
        assert.include(issuesOf(surrogate.body), "payload.password")
      })
    )

    it.effect("every date filter: invalid or out of PostgreSQL's range is a 400 naming it; in range passes", () =>
      Effect.gen(function* () {
        const base = yield* baseUrl
        const user = yield* signUp(base, "dates")
        const document = (yield* call(base, "GET", "/openapi.json")).body
        // PostgreSQL's timestamptz starts at 4714-11-24 BC (ISO year -4713); JavaScript's dates go further
        const outOfRange = ["-200000-01-01T00:00:00Z", "-004714-01-01T00:00:00Z", "2025-13-01T00:00:00Z", "not a date"]
        const covered: Array<string> = []
        for (const operation of operationsOf(document)) {
          const params = validParams(operation)
          const body = operation.body === undefined ? undefined : example(operation.body, document)
          const options = (payload: Json) => withToken(user.token, payload === undefined ? {} : { json: payload })
          for (const parameter of operation.parameters) {
            if (parameter.in !== "query" || !isDateField(parameter.name, parameter.schema, document)) continue
            covered.push(`${operation.key} query.${parameter.name}`)
            for (const value of outOfRange) {
              const url = urlOf(operation, params, `${parameter.name}=${encodeURIComponent(value)}`)
              const response = yield* call(base, operation.method, url, options(body))
              assert.strictEqual(response.status, 400, `${url}: ${response.text}`)
              assert.include(issuesOf(response.body), `query.${parameter.name}`, response.text)
            }
            const fine = urlOf(operation, params, `${parameter.name}=2025-03-01T08:00:00Z`)
            const response = yield* call(base, operation.method, fine, options(body))
            assert.isBelow(response.status, 500, `${fine}: ${response.text}`)
            assert.notInclude(issuesOf(response.body), `query.${parameter.name}`, response.text)
          }
          if (operation.body === undefined) continue
          for (const path of stringPaths(operation.body, document)) {
            const name = String(path.at(-1))
            if (!isDateField(name, undefined, document)) continue
            covered.push(`${operation.key} payload.${path.join(".")}`)
            for (const value of outOfRange) {
              const response = yield* call(
                base,
                operation.method,
                urlOf(operation, params),
                options(setAt(body, path, value))
              )
              assert.strictEqual(response.status, 400, `${operation.key} ${name}=${value}: ${response.text}`)
              assert.include(issuesOf(response.body), ["payload", ...path].join("."), response.text)
            }
          }
        }
        console.log(`date fields: ${covered.join(", ")}`)
        assert.includeMembers(covered, [
          "GET /api/v1/emails query.dateFrom",
          "GET /api/v1/emails query.dateTo",
          "POST /api/v1/rules/apply payload.since"
        ])
      })
    )
  }
)
