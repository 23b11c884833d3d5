/**
 * The old system's per-user encryption, read side only (src/import/README.md, "The old encryption"):
 * the key-encryption key is PBKDF2-HMAC-SHA256 (600,000 iterations, 32 bytes) of the login password
 * (UTF-8) over the user's salt (`users.salt`, base64 of 32 bytes); the data key (DEK, 32 bytes) is
 * `users.encrypted_dek`, base64(iv 12 | ciphertext | tag 16) AES-256-GCM under it; every encrypted
 * field has that same form under the DEK, and an empty value is stored as "".
 *
 * Users from before the data key existed have only `users.encrypted_master_key`: four base64 parts
 * `salt:iv:ciphertext:tag` (an even older form: one base64 iv|ciphertext|tag blob whose salt is the
 * first 8 bytes of the iv), PBKDF2-HMAC-SHA256 with 100,000 iterations, and the plaintext is the
 * base64 text of the key that then plays the DEK's part.
 *
 * Everything decrypted stays in memory, wrapped in Redacted where it is a secret; no error message
 * carries a key, a plaintext or a ciphertext.
 */
import { pbkdf2 } from "node:crypto"
import { createDecipheriv } from "node:crypto"
import { Effect, Redacted } from "effect"
import { OldDataCorrupt, WrongMasterPassword } from "./ImportErrors.ts"

export const OldKdf = { iterations: 600_000, keyLength: 32, digest: "sha256" } as const
/** The pre-DEK master key format's derivation (the old reader's iteration count for it). */
export const OldLegacyKdf = { iterations: 100_000, keyLength: 32, digest: "sha256" } as const
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

const deriveKek = (
  password: Redacted.Redacted<string>,
  salt: Buffer,
  kdf: { readonly iterations: number; readonly keyLength: number; readonly digest: string } = OldKdf
) =>
  Effect.callback<Buffer, WrongMasterPassword>((resume) => {
    // node's pbkdf2 runs on the libuv thread pool: 600,000 rounds do not block the event loop
    pbkdf2(
      Buffer.from(Redacted.value(password), "utf8"),
      salt,
      kdf.iterations,
      kdf.keyLength,
      kdf.digest,
      (error, key) =>
        resume(
          error === null
            ? Effect.succeed(key)
            : Effect.fail(new WrongMasterPassword({ message: "the master password could not be derived" }))
        )
    )
  })

const wrongPassword = () =>
  new WrongMasterPassword({
    message: "wrong master password: it does not unlock this user's data in the old database; nothing was imported"
  })

/** The key material of an old user row (`users.salt`, `users.encrypted_dek`, `users.encrypted_master_key`). */
export interface OldUserKeys {
  readonly salt: string | null
  readonly wrappedDek: string | null
  readonly legacyMasterKey: string | null
}

/** The pre-DEK `encrypted_master_key`: the key, as the old reader opened it, or undefined. */
const openLegacyMasterKey = (password: Redacted.Redacted<string>, blob: string) =>
  Effect.gen(function* () {
    const parts = blob.split(":")
    let salt: Buffer
    let sealed: string
    if (parts.length === 4) {
      const [saltPart = "", iv = "", ciphertext = "", tag = ""] = parts
      salt = Buffer.from(saltPart, "base64")
      sealed = Buffer.concat([
        Buffer.from(iv, "base64"),
        Buffer.from(ciphertext, "base64"),
        Buffer.from(tag, "base64")
      ]).toString("base64")
    } else {
      salt = Buffer.from(blob, "base64").subarray(0, 8)
      sealed = blob
    }
    const kek = yield* deriveKek(password, salt, OldLegacyKdf)
    const plain = openGcm(kek, sealed)
    kek.fill(0)
    if (plain === undefined) return undefined
    const key = Buffer.from(plain.toString("utf8"), "base64")
    plain.fill(0)
    return key
  })

/**
 * Unwraps the user's data key with the master password. A wrong password (GCM does not
 * authenticate) fails here, before anything is read further or written.
 */
export const unwrapDataKey = (
  password: Redacted.Redacted<string>,
  keys: OldUserKeys
): Effect.Effect<Redacted.Redacted<Buffer>, WrongMasterPassword> =>
  Effect.gen(function* () {
    let dek: Buffer | undefined
    // the old login tries encrypted_dek first and falls back to the pre-DEK master key
    if (keys.wrappedDek !== null && keys.wrappedDek !== "") {
      if (keys.salt === null || keys.salt === "") {
        return yield* new WrongMasterPassword({
          message: "the old user has a wrapped data key but no salt: it cannot be unlocked; nothing was imported"
        })
      }
      const kek = yield* deriveKek(password, Buffer.from(keys.salt, "base64"))
      dek = openGcm(kek, keys.wrappedDek)
      kek.fill(0)
    } else if (keys.legacyMasterKey !== null && keys.legacyMasterKey !== "") {
      dek = yield* openLegacyMasterKey(password, keys.legacyMasterKey)
    } else {
      return yield* new WrongMasterPassword({
        message:
          "the old user has no encryption key (neither encrypted_dek nor encrypted_master_key); nothing was imported"
      })
    }
    if (dek === undefined || dek.length !== 32) return yield* wrongPassword()
    return Redacted.make(dek)
  }).pipe(Effect.withSpan("import.unwrapDataKey"))

/** Decrypts one field; `what` names it in the error ("mail account 3: IMAP password"), never its content. */
export const decryptField = (
  dek: Redacted.Redacted<Buffer>,
  blob: string | null,
  what: string
): Effect.Effect<Redacted.Redacted<string>, OldDataCorrupt> =>
  Effect.suspend(() => {
    // the old system stores an empty value as an empty string, unencrypted (or leaves the column NULL)
    if (blob === null || blob === "") return Effect.succeed(Redacted.make(""))
    const plain = openGcm(Redacted.value(dek), blob)
    return plain === undefined
      ? Effect.fail(new OldDataCorrupt({ message: `${what} does not decrypt with this user's key (damaged data)` }))
      : Effect.succeed(Redacted.make(plain.toString("utf8")))
  })
