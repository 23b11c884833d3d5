import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import { baseUrl, call } from "../harness/http.ts"
import { operationsOf, record } from "./openapi.ts"
import { servedApiLayer } from "./support.ts"

/**
 * The served OpenAPI document (/openapi.json) documents itself: every operation has a summary
 * and a description, the two ways to authenticate are declared, and every operation that needs
 * credentials names them while sign-in, registration and health need none.
 */
layer(servedApiLayer(), { excludeTestServices: true, timeout: "60 seconds" })("the served OpenAPI document", (it) => {
  it.effect("every operation has a summary and a description", () =>
    Effect.gen(function* () {
      const document = (yield* call(yield* baseUrl, "GET", "/openapi.json")).body
      const operations = operationsOf(document)
      assert.isAbove(operations.length, 40, "the document lists the API")
      const undocumented = operations
        .filter(({ operation }) => {
          const { summary, description } = operation
          return (
            !(typeof summary === "string" && summary.trim().length > 0) ||
            !(typeof description === "string" && description.trim().length > 0)
          )
        })
        .map(({ key }) => key)
      assert.deepStrictEqual(undocumented, [], "operations without a summary or description")
    })
  )

  it.effect("declares the session cookie (with the Origin rule) and the bearer token", () =>
    Effect.gen(function* () {
      const document = (yield* call(yield* baseUrl, "GET", "/openapi.json")).body
      const schemes = record(record(record(document)["components"])["securitySchemes"])
      const cookie = record(schemes["sessionCookie"])
      assert.strictEqual(cookie["type"], "apiKey")
      assert.strictEqual(cookie["in"], "cookie")
      assert.match(String(cookie["description"]), /Origin/)
      const bearer = record(schemes["bearerToken"])
      assert.strictEqual(bearer["type"], "http")
      assert.strictEqual(bearer["scheme"], "bearer")

      const securityOf = (key: string) =>
        JSON.stringify(operationsOf(document).find((operation) => operation.key === key)?.operation["security"] ?? [])
      const both = JSON.stringify([{ sessionCookie: [] }, { bearerToken: [] }])
      for (const key of [
        "GET /api/v1/emails",
        "POST /api/v1/rules",
        "GET /api/v1/auth/me",
        "GET /api/v1/admin/users"
      ]) {
        assert.strictEqual(securityOf(key), both, key)
      }
      for (const key of ["POST /api/v1/auth/login", "POST /api/v1/auth/register", "GET /health/live"]) {
        assert.strictEqual(securityOf(key), "[]", key)
      }
    })
  )
})
