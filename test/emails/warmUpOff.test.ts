import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import { apiTestLayer } from "../harness/apiLayer.ts"
import { appPoolCheckouts } from "./warmUpSupport.ts"

/*
 * The tests' harness turns the API's start-up warm-up off (EMAILS_WARM_UP_CONNECTIONS=0 in
 * test/harness/TestEnv.ts): a test of the pool counts no checkout of it (test/ops/dbPool.test.ts).
 */
layer(apiTestLayer(), { excludeTestServices: true, timeout: "60 seconds" })("emails warm-up off (tests)", (it) => {
  it.effect("checks out no pool connection at start", () =>
    Effect.gen(function* () {
      // time for a warm-up to have run (it starts at once, in the background, and takes milliseconds)
      yield* Effect.sleep("1 second")
      assert.strictEqual(yield* appPoolCheckouts, 0)
    })
  )
})
