import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Redacted } from "effect"
import { AccountsConfig } from "../../src/accounts/AccountsConfig.ts"
import { ImapAccess, isNonPublicAddress } from "../../src/accounts/ImapAccess.ts"
import { Imap } from "../../src/sync/Imap.ts"

const access = (blockPrivateHosts: boolean) =>
  ImapAccess.layer.pipe(
    Layer.provide(Imap.layer),
    Layer.provide(
      Layer.succeed(AccountsConfig, {
        verifyTimeoutMs: 2_000,
        connectTimeoutMs: 2_000,
        socketTimeoutMs: 10_000,
        blockPrivateHosts,
        tlsCa: null
      })
    )
  )

const target = (host: string) => ({ host, port: 993, security: "tls" as const, username: "u" })
const password = Redacted.make("secret")

describe("host policy (SSRF)", () => {
  it("classifies addresses", () => {
    for (const address of [
      "127.0.0.1",
      "10.1.2.3",
      "172.16.0.1",
      "192.168.1.1",
      "169.254.169.254",
      "100.64.0.1",
      "0.0.0.0",
      "224.0.0.1",
      "::1",
      "::",
      "fe80::1",
      "fd00::1",
      "::ffff:127.0.0.1",
      "::ffff:10.0.0.1",
      "not an address"
    ]) {
      assert.isTrue(isNonPublicAddress(address), address)
    }
    for (const address of ["93.184.216.34", "8.8.8.8", "2a00:1450:4001:80b::200e", "::ffff:8.8.8.8"]) {
      assert.isFalse(isNonPublicAddress(address), address)
    }
  })

  it.effect("off (the default): loopback is allowed and the host is used as given", () =>
    Effect.gen(function* () {
      const imapAccess = yield* ImapAccess
      const options = yield* imapAccess.connectOptions(target("127.0.0.1"), password, "sync")
      assert.strictEqual(options.host, "127.0.0.1")
    }).pipe(Effect.provide(access(false)))
  )

  it.effect("on: internal targets are refused before any connection, public ones are pinned", () =>
    Effect.gen(function* () {
      const imapAccess = yield* ImapAccess
      for (const host of ["127.0.0.1", "localhost", "10.0.0.5", "169.254.169.254", "::1"]) {
        const refused = yield* Effect.flip(imapAccess.connectOptions(target(host), password, "verify"))
        assert.strictEqual(refused._tag, "HostNotAllowed")
        assert.strictEqual(refused.reason, "private", host)
      }
      const verified = yield* Effect.flip(imapAccess.verify(target("localhost"), password))
      assert.strictEqual(verified.reason, "host_not_allowed")
      assert.notInclude(verified.message, "secret")
      // an IP literal that is public is used as is (and no SNI name is invented)
      const options = yield* imapAccess.connectOptions(target("93.184.216.34"), password, "verify")
      assert.strictEqual(options.host, "93.184.216.34")
      assert.strictEqual(options.tls?.servername, undefined)
      assert.strictEqual(options.timeoutMs, 2_000)
    }).pipe(Effect.provide(access(true)))
  )
})
