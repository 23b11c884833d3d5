import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import fc from "fast-check"
import { apiTestLayer } from "../harness/apiLayer.ts"
import { baseUrl, call } from "../harness/http.ts"

/*
 * Item 13 of the hardening issue: debug.ping accepted a sleep of up to 600 s while its kind's hard
 * time limit is 30 s — a ping that could never succeed and held a worker slot until the limit.
 */
const TestLayer = apiTestLayer({ JOB_SUBMIT_RATE_PER_MINUTE: "0" })
const headers = { "x-test-user": "99999999-9999-4999-8999-999999999999" }

layer(TestLayer, { excludeTestServices: true, timeout: "60 seconds" })("debug ping bounds", (it) => {
  it.effect("a sleep longer than the kind's 30 s limit is a 400 naming the field and the limit", () =>
    Effect.gen(function* () {
      const base = yield* baseUrl
      const samples = fc.sample(fc.integer({ min: 30_001, max: 2_000_000_000 }), { numRuns: 10, seed: 13 })
      for (const sleepMillis of [30_001, 600_000, ...samples]) {
        const response = yield* call(base, "POST", "/api/v1/debug/ping", { json: { sleepMillis }, headers })
        assert.strictEqual(response.status, 400, `${sleepMillis}: ${response.text}`)
        assert.include(response.text, "sleepMillis")
        assert.include(response.text, "30000")
      }
      const atLimit = yield* call(base, "POST", "/api/v1/debug/ping", { json: { sleepMillis: 30_000 }, headers })
      assert.strictEqual(atLimit.status, 202, atLimit.text)
    })
  )
})
