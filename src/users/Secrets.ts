import { createHash, randomBytes } from "node:crypto"
import { Redacted } from "effect"

/** 256 random bits, base64url (43 characters). */
export const randomSecret = (): Redacted.Redacted<string> => Redacted.make(randomBytes(32).toString("base64url"))

/**
 * SHA-256 (hex) of a high-entropy secret (session id, API token, invite code).
 * A fast hash is right here: with 256 random bits there is nothing to guess,
 * and storing only the hash means a leaked database or Redis dump holds no
 * usable credential.
 */
export const secretHash = (secret: Redacted.Redacted<string> | string): string =>
  createHash("sha256")
    .update(typeof secret === "string" ? secret : Redacted.value(secret))
    .digest("hex")
