import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import { baseUrl, call, field } from "../harness/http.ts"
import { apiTestLayer, signUp, withToken } from "./helpers.ts"
import { example, type Json, record } from "./openapi.ts"

/**
 * The isolation suite walks the OpenAPI document: for every path with a
 * parameter and every method on it, a second user asking for the first
 * user's resource gets 404 (never 200, never 403). Ids come from the first
 * user's own collection (`GET` of the path up to the parameter), so new
 * endpoints are covered by this test without new test code; a collection
 * the seeders below do not fill is still probed with an unknown id.
 * Admin paths are closed by role (403 for non-admins), not by ownership:
 * they are checked for that instead.
 */

layer(apiTestLayer(), { excludeTestServices: true, timeout: "120 seconds" })(
  "isolation walk of the OpenAPI document",
  (it) => {
    it.effect("another user's resource is 404 on every path with an id, for every method", () =>
      Effect.gen(function* () {
        const base = yield* baseUrl
        yield* signUp(base, "first-admin") // the first user is an admin; the two below are plain users
        const alice = yield* signUp(base, "alice")
        const bob = yield* signUp(base, "bob")

        // Seeders: give alice at least one of each resource the API has today.
        const seeded = yield* call(
          base,
          "POST",
          "/api/v1/debug/ping",
          withToken(alice.token, { json: { sleepMillis: 30_000 } })
        )
        assert.strictEqual(seeded.status, 202, seeded.text)

        const document = (yield* call(base, "GET", "/openapi.json")).body
        const paths = record(field(document, "paths"))
        const probed: Array<string> = []
        const withRealIds: Array<string> = []

        for (const [template, operations] of Object.entries(paths)) {
          if (!template.includes("{")) continue
          // the OAuth2 callback's parameter is a configured provider's name, not a user's resource, and
          // it answers every outcome as a redirect to the web app (its refusals: test/accounts/oauth.test.ts)
          if (template.endsWith("/oauth/{provider}/callback")) continue
          const collection = template.slice(0, template.indexOf("/{"))
          for (const [method, operation] of Object.entries(record(operations))) {
            const verb = method.toUpperCase()
            if (template.includes("/admin/")) {
              const url = template.replace(/\{[^}]+\}/g, alice.id)
              // a body only where the method may carry one (fetch refuses a GET or HEAD with a body)
              const body = verb === "GET" || verb === "HEAD" ? {} : { json: {} }
              const response = yield* call(base, verb, url, withToken(bob.token, body))
              assert.strictEqual(response.status, 403, `${verb} ${template} for a non-admin: ${response.text}`)
              continue
            }
            // alice's ids, from her own collection
            const listed = yield* call(base, "GET", collection, withToken(alice.token))
            const ids = (Array.isArray(field(listed.body, "items")) ? (field(listed.body, "items") as Array<Json>) : [])
              .map((item) => field(item, "id"))
              .filter((id): id is string => typeof id === "string")
            const id = ids[0] ?? crypto.randomUUID()
            if (ids[0] !== undefined) withRealIds.push(`${verb} ${template}`)
            const url = template.replace(/\{[^}]+\}/g, id)
            const bodySchema = field(operation, "requestBody", "content", "application/json", "schema")
            const options = bodySchema === undefined ? {} : { json: example(bodySchema, document) }

            const asBob = yield* call(base, verb, url, withToken(bob.token, options))
            assert.strictEqual(asBob.status, 404, `${verb} ${url} as another user: ${asBob.status} ${asBob.text}`)
            assert.isString(field(asBob.body, "message"), `${verb} ${template}: 404 body has a message`)
            probed.push(`${verb} ${template}`)

            // (streams are skipped here: they stay open while the job is queued)
            const streams = JSON.stringify(field(operation, "responses")).includes("text/event-stream")
            if (verb === "GET" && ids[0] !== undefined && !streams) {
              const asAlice = yield* call(base, "GET", url, withToken(alice.token))
              assert.isBelow(asAlice.status, 300, `${verb} ${url} for its owner: ${asAlice.text}`)
            }
          }
        }
        // The walk covered what exists today with real ids, not only unknown ones.
        assert.includeMembers(withRealIds, [
          "GET /api/v1/jobs/{id}",
          "DELETE /api/v1/jobs/{id}",
          "GET /api/v1/jobs/{id}/events"
        ])
        assert.includeMembers(probed, ["DELETE /api/v1/auth/tokens/{id}"])

        // bob's DELETEs changed nothing of alice's
        const job = yield* call(
          base,
          "GET",
          `/api/v1/jobs/${String(field(seeded.body, "jobId"))}`,
          withToken(alice.token)
        )
        assert.strictEqual(field(job.body, "cancelRequested"), false)
        assert.strictEqual((yield* call(base, "GET", "/api/v1/auth/me", withToken(alice.token))).status, 200)
      })
    )

    it.effect("alice's token ids, probed directly: 404 for bob, and the token survives", () =>
      Effect.gen(function* () {
        const base = yield* baseUrl
        const alice = yield* signUp(base, "alice2")
        const bob = yield* signUp(base, "bob2")
        const listed = yield* call(base, "GET", "/api/v1/auth/tokens", withToken(alice.token))
        const id = String(field(listed.body, "items", 0, "id"))
        const response = yield* call(base, "DELETE", `/api/v1/auth/tokens/${id}`, withToken(bob.token))
        assert.strictEqual(response.status, 404)
        assert.strictEqual((yield* call(base, "GET", "/api/v1/auth/me", withToken(alice.token))).status, 200)
      })
    )
  }
)
