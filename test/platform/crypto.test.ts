import { assert, describe, it } from "@effect/vitest"
import { Effect, Redacted, Result } from "effect"
import { randomBytes } from "node:crypto"
import { type Keyring, makeCrypto, parseKeyring } from "../../src/platform/Crypto.ts"

const key = () => randomBytes(32).toString("base64")
const keyring = (text: string): Keyring => {
  const parsed = parseKeyring(text)
  if (typeof parsed === "string") throw new Error(parsed)
  return parsed
}

describe("Crypto", () => {
  const k1 = key()
  const k2 = key()
  const secret = Redacted.make("hunter2-imap-password")

  it.effect("round-trips a secret bound to its row", () =>
    Effect.gen(function* () {
      const crypto = makeCrypto(keyring(`1:${k1}`))
      const sealed = yield* crypto.encrypt(secret, "mail_accounts:42")
      assert.notInclude(sealed, "hunter2")
      assert.isTrue(sealed.startsWith("v1."))
      const opened = yield* crypto.decrypt(sealed, "mail_accounts:42")
      assert.strictEqual(Redacted.value(opened), "hunter2-imap-password")
      // a fresh IV each time
      assert.notStrictEqual(sealed, yield* crypto.encrypt(secret, "mail_accounts:42"))
    })
  )

  it.effect("refuses a ciphertext moved to another row, or tampered with", () =>
    Effect.gen(function* () {
      const crypto = makeCrypto(keyring(`1:${k1}`))
      const sealed = yield* crypto.encrypt(secret, "mail_accounts:42")
      const moved = yield* Effect.result(crypto.decrypt(sealed, "mail_accounts:43"))
      assert.isTrue(Result.isFailure(moved))
      const parts = sealed.split(".")
      const flipped = Buffer.from(parts[2] ?? "", "base64url")
      flipped[0] = (flipped[0] ?? 0) ^ 1
      const tampered = [parts[0], parts[1], flipped.toString("base64url"), parts[3]].join(".")
      const result = yield* Effect.result(crypto.decrypt(tampered, "mail_accounts:42"))
      assert.isTrue(Result.isFailure(result))
      if (Result.isFailure(result)) {
        assert.notInclude(result.failure.message, "hunter2")
        assert.notInclude(result.failure.message, k1)
      }
    })
  )

  it.effect("decrypts old versions after rotation and encrypts with the newest", () =>
    Effect.gen(function* () {
      const before = makeCrypto(keyring(`1:${k1}`))
      const old = yield* before.encrypt(secret, "row")
      const after = makeCrypto(keyring(`1:${k1},2:${k2}`))
      assert.strictEqual(after.currentVersion, 2)
      assert.strictEqual(Redacted.value(yield* after.decrypt(old, "row")), "hunter2-imap-password")
      const resealed = yield* after.encrypt(yield* after.decrypt(old, "row"), "row")
      assert.strictEqual(after.versionOf(resealed), 2)
      const withoutOld = makeCrypto(keyring(`2:${k2}`))
      const gone = yield* Effect.result(withoutOld.decrypt(old, "row"))
      assert.isTrue(Result.isFailure(gone))
      if (Result.isFailure(gone)) assert.include(gone.failure.message, "unknown key version")
    })
  )

  it("explains a malformed keyring", () => {
    assert.strictEqual(typeof parseKeyring(""), "string")
    assert.include(String(parseKeyring("1:c2hvcnQ=")), "32 bytes")
    assert.include(String(parseKeyring(`x:${k1}`)), "<version>:<base64 key>")
    assert.include(String(parseKeyring(`1:${k1},1:${k2}`)), "twice")
  })
})
