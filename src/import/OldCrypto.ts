/**
 * The old system's per-user encryption, read side only (src/import/README.md, "What we read"):
 * the key-encryption key is PBKDF2-HMAC-SHA256 (600,000 iterations, 32 bytes) of the master password
 * over the user's base64 salt; the data key (DEK, 32 bytes) is stored as base64(iv 12 | ciphertext |
 * tag 16) AES-256-GCM under it; every encrypted field has that same form under the DEK.
 *
 * Everything decrypted stays in memory, wrapped in Redacted where it is a secret; no error message
 * carries a key, a plaintext or a ciphertext.
 */
import { pbkdf2 } from "node:crypto"
import { createDecipheriv } from "node:crypto"
import { Effect, Redacted } from "effect"
import { OldDataCorrupt, WrongMasterPassword } from "./ImportErrors.ts"

export const OldKdf = { iterations: 600_000, keyLength: 32, digest: "sha256" } as const
const ivLength = 12
const tagLength = 16

/** base64(iv | ciphertext | tag) -> plaintext bytes, or undefined when it does not open. */
const openGcm = (key: Buffer, blob: string): Buffer | undefined => {
  const bytes = Buffer.from(blob, "base64")
  if (bytes.length < ivLength + tagLength) return undefined
  try {
    const decipher = createDecipheriv("aes-256-gcm", key, bytes.subarray(0, ivLength))
    decipher.setAuthTag(bytes.subarray(bytes.length - tagLength))
    return Buffer.concat([decipher.update(bytes.subarray(ivLength, bytes.length - tagLength)), decipher.final()])
  } catch {
    // GCM authentication failed: wrong key or damaged blob; the caller names which field
    return undefined
  }
}

const deriveKek = (password: Redacted.Redacted<string>, saltBase64: string) =>
  Effect.callback<Buffer, WrongMasterPassword>((resume) => {
    // node's pbkdf2 runs on the libuv thread pool: 600,000 rounds do not block the event loop
    pbkdf2(
      Buffer.from(Redacted.value(password), "utf8"),
      Buffer.from(saltBase64, "base64"),
      OldKdf.iterations,
      OldKdf.keyLength,
      OldKdf.digest,
      (error, key) =>
        resume(
          error === null
            ? Effect.succeed(key)
            : Effect.fail(new WrongMasterPassword({ message: "the master password could not be derived" }))
        )
    )
  })

/**
 * Unwraps the user's data key with the master password. A wrong password (GCM does not
 * authenticate) fails here, before anything is read further or written.
 */
export const unwrapDataKey = (
  password: Redacted.Redacted<string>,
  saltBase64: string,
  wrappedDekBase64: string
): Effect.Effect<Redacted.Redacted<Buffer>, WrongMasterPassword> =>
  Effect.gen(function* () {
    const kek = yield* deriveKek(password, saltBase64)
    const dek = openGcm(kek, wrappedDekBase64)
    kek.fill(0)
    if (dek === undefined || dek.length !== 32) {
      return yield* new WrongMasterPassword({
        message: "wrong master password: it does not unlock this user's data in the old database; nothing was imported"
      })
    }
    return Redacted.make(dek)
  }).pipe(Effect.withSpan("import.unwrapDataKey"))

/** Decrypts one field; `what` names it in the error ("mail account 3: IMAP password"), never its content. */
export const decryptField = (
  dek: Redacted.Redacted<Buffer>,
  blob: string,
  what: string
): Effect.Effect<Redacted.Redacted<string>, OldDataCorrupt> =>
  Effect.suspend(() => {
    // the old system stores an empty value as an empty string, unencrypted
    if (blob === "") return Effect.succeed(Redacted.make(""))
    const plain = openGcm(Redacted.value(dek), blob)
    return plain === undefined
      ? Effect.fail(new OldDataCorrupt({ message: `${what} does not decrypt with this user's key (damaged data)` }))
      : Effect.succeed(Redacted.make(plain.toString("utf8")))
  })
