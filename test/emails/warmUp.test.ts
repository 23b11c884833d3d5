import { assert, layer } from "@effect/vitest"
import { Effect, Schedule } from "effect"
import { apiTestLayer } from "../harness/apiLayer.ts"
import { appPoolCheckouts } from "./warmUpSupport.ts"

/*
 * The API's start-up warm-up (EmailsHttp.ts, issue 16): the inbox's first-page statement on
 * EMAILS_WARM_UP_CONNECTIONS pool connections, in the background. On by default; the tests' harness
 * turns it off (test/emails/warmUpOff.test.ts), a test that wants it sets it again. (The pool's
 * metrics are the process's: the on and off cases are in separate files.)
 */
layer(apiTestLayer({ EMAILS_WARM_UP_CONNECTIONS: "3" }), { excludeTestServices: true, timeout: "60 seconds" })(
  "emails warm-up on",
  (it) => {
    it.effect("checks out pool connections at start, before any request", () =>
      Effect.gen(function* () {
        const checkouts = yield* appPoolCheckouts.pipe(
          Effect.filterOrFail(
            (count) => count >= 3,
            (count) => `${count} checkouts so far`
          ),
          Effect.retry(Schedule.spaced("50 millis").pipe(Schedule.upTo({ times: 400 }))),
          Effect.orDie
        )
        assert.isAtLeast(checkouts, 3)
      })
    )
  }
)
