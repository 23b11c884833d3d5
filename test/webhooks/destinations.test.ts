import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit } from "effect"
import { ImapConnectionError } from "../../src/imap/ImapErrors.ts"
import type { Lookup } from "../../src/imap/ImapDestinations.ts"
import { makeWebhookDestinations } from "../../src/webhooks/WebhookDestinations.ts"

const defaults = {
  allowHttp: false,
  policy: "public-only" as const,
  allowed: { networks: [], hosts: new Set<string>() }
}

/** A resolver answering from a table (the test seam of the IMAP policy, reused). */
const table =
  (answers: Record<string, ReadonlyArray<string>>): Lookup =>
  (host) => {
    const found = answers[host]
    return found === undefined
      ? Effect.fail(new ImapConnectionError({ reason: "dns", message: `${host} does not resolve` }))
      : Effect.succeed(found)
  }

describe("webhook destinations (default policy)", () => {
  it.effect("refuses loopback, private and link-local addresses, as literals and as resolved names", () =>
    Effect.gen(function* () {
      const destinations = makeWebhookDestinations(
        defaults,
        table({
          localhost: ["127.0.0.1"],
          "intranet.example": ["93.184.216.34", "10.0.0.7"],
          "metadata.example": ["169.254.169.254"]
        })
      )
      for (const url of [
        "https://127.0.0.1/hook",
        "https://2130706433/hook",
        "https://localhost/hook",
        "https://intranet.example/hook",
        "https://metadata.example/hook",
        "https://[fe80::1]/hook"
      ]) {
        const exit = yield* Effect.exit(destinations.resolve(url))
        assert.isTrue(Exit.isFailure(exit), url)
      }
    })
  )

  it.effect("admits a public host and pins the checked address (a later DNS answer is not used)", () =>
    Effect.gen(function* () {
      const destinations = makeWebhookDestinations(defaults, table({ "hooks.example": ["93.184.216.34"] }))
      const destination = yield* destinations.resolve("https://hooks.example/in")
      assert.strictEqual(destination.address, "93.184.216.34")
      assert.strictEqual(destination.hostname, "hooks.example")
    })
  )

  it.effect("refuses plain http unless WEBHOOK_ALLOW_HTTP, and URLs with credentials", () =>
    Effect.gen(function* () {
      const destinations = makeWebhookDestinations(defaults, table({ "hooks.example": ["93.184.216.34"] }))
      for (const url of ["http://hooks.example/in", "https://user:pw@hooks.example/in", "not a url"]) {
        assert.isTrue(Exit.isFailure(yield* Effect.exit(destinations.resolve(url))), url)
      }
      const lenient = makeWebhookDestinations(
        { ...defaults, allowHttp: true },
        table({ "hooks.example": ["93.184.216.34"] })
      )
      assert.isTrue(Exit.isSuccess(yield* Effect.exit(lenient.resolve("http://hooks.example/in"))))
    })
  )
})
