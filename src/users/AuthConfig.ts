import { Config, Context, Effect, Layer, Schema } from "effect"
import { AppConfig, boundedInt } from "../platform/Config.ts"

export const RegistrationMode = Schema.Literals(["open", "invite", "closed"])
export type RegistrationMode = typeof RegistrationMode.Type

/**
 * Settings of sign-in, sessions and passwords. Each value comes from one
 * environment variable (docs/security.md lists them with their defaults).
 */
export interface AuthConfigShape {
  /** `open`: anyone may register (the first user becomes admin); `invite`: an admin-issued code is needed; `closed`: the CLI only. */
  readonly registrationMode: RegistrationMode
  readonly passwordMinLength: number
  /** Least zxcvbn score (0-4) a new password needs; 0 turns the strength check off. */
  readonly passwordMinScore: number
  /** argon2id cost (RFC 9106 / OWASP): memory in KiB, passes, lanes. */
  readonly argon2: { readonly memoryKib: number; readonly timeCost: number; readonly parallelism: number }
  /** A session ends after this long without a request... */
  readonly sessionIdleSeconds: number
  /** ...and at the latest this long after sign-in. */
  readonly sessionAbsoluteSeconds: number
  readonly cookieSecure: boolean
  readonly cookieSameSite: "lax" | "strict"
  /** `__Host-mh_session` when Secure (bound to this host, path /), `mh_session` otherwise. */
  readonly cookieName: string
  /** Origins the browser UI is served from; cookie-authenticated unsafe requests must come from one of them. */
  readonly publicOrigins: ReadonlyArray<string>
  /** Sign-in attempts per client address per window. */
  readonly loginMaxPerAddress: number
  /** Sign-in attempts per account (email) per window; a success resets it. */
  readonly loginMaxPerAccount: number
  readonly loginWindowSeconds: number
  readonly inviteDays: number
}

/** An http(s) origin such as `https://mail.example.org` (a trailing slash is tolerated). */
const Origin = Schema.String.pipe(
  Schema.check(
    Schema.makeFilter(
      (value: string) =>
        (/^https?:\/\/[^/\s]+\/?$/i.test(value.trim()) && URL.canParse(value.trim())) ||
        `not an http(s) origin: ${value}`
    )
  )
)

export const authConfig = Effect.gen(function* () {
  const app = yield* AppConfig
  const cookieSecure = yield* Config.Boolean("SESSION_COOKIE_SECURE").pipe(Config.withDefault(false))
  const publicOrigins = yield* Config.Array(Origin, "PUBLIC_ORIGIN", { separator: "," }).pipe(
    Config.map((origins) => origins.map((origin) => new URL(origin.trim()).origin)),
    Config.withDefault([`http://localhost:${app.port}`, `http://127.0.0.1:${app.port}`])
  )
  const rest = yield* Config.all({
    registrationMode: Config.schema(RegistrationMode, "REGISTRATION_MODE").pipe(
      Config.withDefault(app.environment === "production" ? ("invite" as const) : ("open" as const))
    ),
    passwordMinLength: boundedInt("PASSWORD_MIN_LENGTH", 8, 128, 10),
    passwordMinScore: boundedInt("PASSWORD_MIN_SCORE", 0, 4, 3),
    argon2: Config.all({
      // OWASP's argon2id baseline: 19 MiB, 2 passes, 1 lane (about 30-60 ms on one core).
      memoryKib: boundedInt("ARGON2_MEMORY_KIB", 8 * 1024, 1024 * 1024, 19 * 1024),
      timeCost: boundedInt("ARGON2_TIME_COST", 1, 10, 2),
      parallelism: boundedInt("ARGON2_PARALLELISM", 1, 16, 1)
    }),
    sessionIdleSeconds: boundedInt("SESSION_IDLE_SECONDS", 1, 365 * 86_400, 2 * 3600),
    sessionAbsoluteSeconds: boundedInt("SESSION_ABSOLUTE_SECONDS", 1, 365 * 86_400, 7 * 86_400),
    cookieSameSite: Config.Literals(["lax", "strict"], "SESSION_COOKIE_SAMESITE").pipe(
      Config.withDefault("lax" as const)
    ),
    loginMaxPerAddress: boundedInt("LOGIN_MAX_PER_ADDRESS", 1, 100_000, 30),
    loginMaxPerAccount: boundedInt("LOGIN_MAX_PER_ACCOUNT", 1, 10_000, 5),
    loginWindowSeconds: boundedInt("LOGIN_WINDOW_SECONDS", 1, 86_400, 15 * 60),
    inviteDays: boundedInt("INVITE_DAYS", 1, 365, 7)
  })
  return {
    ...rest,
    cookieSecure,
    cookieName: cookieSecure ? "__Host-mh_session" : "mh_session",
    publicOrigins
  } satisfies AuthConfigShape
})

export class AuthConfig extends Context.Service<AuthConfig, AuthConfigShape>()("mail-helper/AuthConfig") {
  static readonly layer = Layer.effect(AuthConfig, authConfig)
}
