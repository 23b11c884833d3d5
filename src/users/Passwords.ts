import { hash, parseOptions, verify } from "@node-rs/argon2"
import type { ZxcvbnFactory } from "@zxcvbn-ts/core"
import { Context, Effect, Layer, Redacted } from "effect"
import { AuthConfig } from "./AuthConfig.ts"
import { commonPasswords } from "./CommonPasswords.ts"
import { maxPasswordLength } from "../contract/users/UserViews.ts"

/**
 * zxcvbn judges only this many leading characters: its matching grows fast with length (2.2 s for
 * 1024 random characters, 40 ms at 64 with few l33t substitutions), and 64 characters that score
 * well are strong whatever follows.
 */
const strengthCheckedLength = 64

/**
 * zxcvbn with the common (passwords, keyboard layouts), English and German dictionaries, built once.
 * The dictionaries cost about 37 MB of heap and 0.3 s to load, so only a program that checks a new
 * password pays for them, at its first check.
 */
const loadStrengthEstimator = Effect.promise(async (): Promise<ZxcvbnFactory> => {
  const [core, common, en, de] = await Promise.all([
    import("@zxcvbn-ts/core"),
    import("@zxcvbn-ts/language-common"),
    import("@zxcvbn-ts/language-en"),
    import("@zxcvbn-ts/language-de")
  ])
  return new core.ZxcvbnFactory({
    dictionary: { ...common.dictionary, ...en.dictionary, ...de.dictionary },
    graphs: common.adjacencyGraphs,
    translations: en.translations,
    maxLength: strengthCheckedLength,
    l33tMaxSubstitutions: 10
  })
}).pipe(Effect.withSpan("Passwords.loadStrengthEstimator"))

/** Words a guesser tries first for this user: the email, its local part and its pieces, the product's name. */
const userInputs = (email: string): Array<string> => {
  const localPart = email.split("@")[0] ?? ""
  const pieces = localPart.split(/[^\p{L}\p{N}]+/u).filter((piece) => piece.length >= 3)
  return [email, localPart, ...pieces, "mail-helper", "mailhelper", "mail helper"].filter((word) => word.length > 0)
}

export interface PasswordsShape {
  /**
   * Why a new password is refused (one reason per problem), or an empty list when it is acceptable.
   * Includes zxcvbn's strength estimate (below PASSWORD_MIN_SCORE: refused, with its feedback).
   */
  readonly problems: (password: Redacted.Redacted<string>, email: string) => Effect.Effect<ReadonlyArray<string>>
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

      // loaded at the first check, then shared
      const strengthEstimator = yield* Effect.cached(loadStrengthEstimator)

      /** zxcvbn's verdict, when the score is below the minimum: its warning and suggestions, never the password. */
      const weakness = (value: string, email: string) =>
        Effect.gen(function* () {
          if (config.passwordMinScore === 0) return undefined
          const estimator = yield* strengthEstimator
          const result = estimator.check(value, userInputs(email))
          if (result.score >= config.passwordMinScore) return undefined
          const advice = [result.feedback.warning, ...result.feedback.suggestions].filter(
            (line): line is string => line !== null && line.length > 0
          )
          return `is too easy to guess (strength ${result.score} of 4, at least ${config.passwordMinScore} needed)${
            advice.length > 0 ? `: ${advice.join(" ")}` : ""
          }`
        }).pipe(Effect.withSpan("Passwords.strength"))

      const problems = (password: Redacted.Redacted<string>, email: string) =>
        Effect.gen(function* () {
          const found = [...basicProblems(password, email)]
          if (found.length === 0) {
            const weak = yield* weakness(Redacted.value(password), email)
            if (weak !== undefined) found.push(weak)
          }
          return found
        })

      const basicProblems = (password: Redacted.Redacted<string>, email: string): ReadonlyArray<string> => {
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
