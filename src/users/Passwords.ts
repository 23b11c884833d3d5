import { hash, parseOptions, verify } from "@node-rs/argon2"
import { Context, Effect, Layer, Redacted } from "effect"
import { AuthConfig } from "./AuthConfig.ts"
import { commonPasswords } from "./CommonPasswords.ts"

/** Longest password accepted: argon2 takes any length, but a bound keeps requests cheap to refuse. */
export const maxPasswordLength = 1024

export interface PasswordsShape {
  /** Why a new password is refused (one reason per problem), or an empty list when it is acceptable. */
  readonly problems: (password: Redacted.Redacted<string>, email: string) => ReadonlyArray<string>
  /** argon2id with the configured cost; the PHC string carries salt and parameters. */
  readonly hash: (password: Redacted.Redacted<string>) => Effect.Effect<string>
  /** Whether `password` matches `stored`; a malformed stored hash counts as no match. */
  readonly verify: (stored: string, password: Redacted.Redacted<string>) => Effect.Effect<boolean>
  /** Spends the same work as a real verification, for sign-ins of unknown emails (no timing oracle). */
  readonly verifyDummy: (password: Redacted.Redacted<string>) => Effect.Effect<void>
  /** Whether `stored` was made with other parameters than today's, so it should be replaced at the next sign-in. */
  readonly needsRehash: (stored: string) => boolean
}

export class Passwords extends Context.Service<Passwords, PasswordsShape>()("mail-helper/Passwords") {
  static readonly layer = Layer.effect(
    Passwords,
    Effect.gen(function* () {
      const config = yield* AuthConfig
      const options = {
        memoryCost: config.argon2.memoryKib,
        timeCost: config.argon2.timeCost,
        parallelism: config.argon2.parallelism,
        outputLen: 32
      }

      const hashPassword = (password: Redacted.Redacted<string>) =>
        Effect.promise(() => hash(Redacted.value(password), options)).pipe(Effect.withSpan("Passwords.hash"))

      // A hash of a random secret nobody knows, made with today's parameters.
      const dummy = yield* hashPassword(Redacted.make(crypto.randomUUID()))
      if (!dummy.startsWith("$argon2id$")) {
        return yield* Effect.die(new Error(`password hashing is not argon2id (${dummy.slice(0, 10)}...)`))
      }

      const verifyPassword = (stored: string, password: Redacted.Redacted<string>) =>
        Effect.promise(() => verify(stored, Redacted.value(password)).catch(() => false)).pipe(
          Effect.withSpan("Passwords.verify")
        )

      const problems = (password: Redacted.Redacted<string>, email: string): ReadonlyArray<string> => {
        const value = Redacted.value(password)
        const found: Array<string> = []
        const length = [...value].length
        if (length < config.passwordMinLength) {
          found.push(`must be at least ${config.passwordMinLength} characters long`)
        }
        if (value.length > maxPasswordLength) found.push(`must be at most ${maxPasswordLength} characters long`)
        const lower = value.trim().toLowerCase()
        if (commonPasswords.has(lower)) {
          found.push("is one of the most common passwords; choose one that is not on such lists")
        }
        const localPart = email.split("@")[0] ?? ""
        if (lower === email || (localPart.length > 0 && lower === localPart))
          found.push("must not be your email address")
        if (length > 0 && new Set(value).size === 1) found.push("must not repeat a single character")
        return found
      }

      const needsRehash = (stored: string) => {
        try {
          const current = parseOptions(stored)
          return (
            current.memoryCost !== options.memoryCost ||
            current.timeCost !== options.timeCost ||
            current.parallelism !== options.parallelism
          )
        } catch {
          return true
        }
      }

      return Passwords.of({
        problems,
        hash: hashPassword,
        verify: verifyPassword,
        verifyDummy: (password) => Effect.asVoid(verifyPassword(dummy, password)),
        needsRehash
      })
    })
  )
}
