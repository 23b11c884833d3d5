import { Config, Context, Effect, Layer, Redacted, Schema } from "effect"
import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto"

/**
 * Secrets at rest (IMAP passwords, provider keys): AES-256-GCM under a
 * versioned keyring. Each ciphertext names its key version and is bound to
 * its row through associated data, so a ciphertext copied to another row does
 * not decrypt. Stored form: `v<version>.<iv>.<ciphertext>.<tag>` (base64url).
 */

export class SecretDecryptionFailed extends Schema.TaggedError<SecretDecryptionFailed>()("SecretDecryptionFailed", {
  message: Schema.String
}) {}

export interface Keyring {
  /** The key new secrets are encrypted with: the highest version. */
  readonly current: number
  readonly keys: ReadonlyMap<number, Redacted.Redacted<Buffer>>
}

export interface CryptoShape {
  readonly encrypt: (plaintext: Redacted.Redacted<string>, associatedData: string) => Effect.Effect<string>
  readonly decrypt: (
    sealed: string,
    associatedData: string
  ) => Effect.Effect<Redacted.Redacted<string>, SecretDecryptionFailed>
  /** The key version a sealed value was written with, or undefined when it is not ours. */
  readonly versionOf: (sealed: string) => number | undefined
  readonly currentVersion: number
}

// Development and tests only: production refuses to start without SECRET_KEYS.
const developmentKeys = "1:bWFpbC1oZWxwZXItZGV2ZWxvcG1lbnQta2V5LTAwMDE="

export const parseKeyring = (value: string): Keyring | string => {
  const keys = new Map<number, Redacted.Redacted<Buffer>>()
  for (const entry of value
    .split(",")
    .map((part) => part.trim())
    .filter((part) => part.length > 0)) {
    const [versionText, keyText] = entry.split(":")
    const version = Number(versionText)
    if (!Number.isInteger(version) || version < 1 || keyText === undefined) {
      return "each entry must be <version>:<base64 key>, e.g. 1:AbC..."
    }
    const key = Buffer.from(keyText, "base64")
    if (key.length !== 32) return `key version ${version} must be 32 bytes (base64 of 32 random bytes)`
    if (keys.has(version)) return `key version ${version} appears twice`
    keys.set(version, Redacted.make(key))
  }
  if (keys.size === 0) return "no keys given"
  return { current: Math.max(...keys.keys()), keys }
}

export const makeCrypto = (keyring: Keyring): CryptoShape => {
  const encrypt = (plaintext: Redacted.Redacted<string>, associatedData: string) =>
    Effect.sync(() => {
      const key = keyring.keys.get(keyring.current)
      if (key === undefined) throw new Error("keyring has no current key")
      const iv = randomBytes(12)
      const cipher = createCipheriv("aes-256-gcm", Redacted.value(key), iv)
      cipher.setAAD(Buffer.from(associatedData, "utf8"))
      const ciphertext = Buffer.concat([cipher.update(Redacted.value(plaintext), "utf8"), cipher.final()])
      const tag = cipher.getAuthTag()
      return [`v${keyring.current}`, iv, ciphertext, tag]
        .map((part) => (typeof part === "string" ? part : part.toString("base64url")))
        .join(".")
    })

  const versionOf = (sealed: string): number | undefined => {
    const match = /^v(\d+)\./.exec(sealed)
    return match?.[1] === undefined ? undefined : Number(match[1])
  }

  const decrypt = (sealed: string, associatedData: string) =>
    Effect.try({
      try: () => {
        const [versionText, ivText, ciphertextText, tagText] = sealed.split(".")
        const version = versionOf(sealed)
        const key = version === undefined ? undefined : keyring.keys.get(version)
        if (
          versionText === undefined ||
          ivText === undefined ||
          ciphertextText === undefined ||
          tagText === undefined
        ) {
          throw new Error("malformed")
        }
        if (key === undefined) throw new Error(`unknown key version ${versionText}`)
        const decipher = createDecipheriv("aes-256-gcm", Redacted.value(key), Buffer.from(ivText, "base64url"))
        decipher.setAAD(Buffer.from(associatedData, "utf8"))
        decipher.setAuthTag(Buffer.from(tagText, "base64url"))
        const plaintext = Buffer.concat([decipher.update(Buffer.from(ciphertextText, "base64url")), decipher.final()])
        return Redacted.make(plaintext.toString("utf8"))
      },
      // never the key, the plaintext or the ciphertext
      catch: (error) =>
        new SecretDecryptionFailed({
          message: `secret could not be decrypted (${error instanceof Error && error.message.startsWith("unknown key") ? error.message : "wrong key, wrong row or tampered"})`
        })
    })

  return { encrypt, decrypt, versionOf, currentVersion: keyring.current }
}

export class Crypto extends Context.Service<Crypto, CryptoShape>()("mail-helper/Crypto") {
  static readonly layer = Layer.effect(
    Crypto,
    Effect.gen(function* () {
      const production = (yield* Config.String("NODE_ENV").pipe(Config.withDefault("development"))) === "production"
      const configured = yield* Config.option(Config.Redacted("SECRET_KEYS"))
      if (configured._tag === "None" && production) {
        return yield* Effect.die(new Error("SECRET_KEYS must be set in production (see README: secret keys)"))
      }
      if (configured._tag === "None") yield* Effect.logWarning("SECRET_KEYS is not set: using the development key")
      const source = configured._tag === "Some" ? Redacted.value(configured.value) : developmentKeys
      const keyring = parseKeyring(source)
      if (typeof keyring === "string") return yield* Effect.die(new Error(`SECRET_KEYS is invalid: ${keyring}`))
      return Crypto.of(makeCrypto(keyring))
    })
  )
}
