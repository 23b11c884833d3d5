import { Context, Effect, Layer, Option, Redacted } from "effect"
import { Conflict, type TooManyRequests, Unauthorized, ValidationError } from "../contract/http/ApiErrors.ts"
import type { DatabaseError } from "../platform/Database.ts"
import type { RedisError } from "../platform/Redis.ts"
import { AuthConfig } from "./AuthConfig.ts"
import type { Role } from "../contract/users/CurrentUser.ts"
import { LoginThrottle } from "./LoginThrottle.ts"
import { Passwords } from "./Passwords.ts"
import { randomSecret, secretHash } from "./Secrets.ts"
import { type SessionUser, Sessions } from "./Sessions.ts"
import { type EmailTaken, RegistrationClosed, type UserNotFound } from "../contract/users/UserErrors.ts"
import type { UserId } from "../contract/users/UserId.ts"
import type { UserView } from "../contract/users/UserViews.ts"
import { emailProblem, normaliseEmail, UserStore } from "./UserStore.ts"

/** The one answer to a failed sign-in, whatever failed: no hint whether the email exists. */
export const invalidCredentials = () => new Unauthorized({ message: "invalid email or password" })

export interface RegisterInput {
  /** The client address, for the registration throttle. */
  readonly address: string
  readonly email: string
  readonly password: Redacted.Redacted<string>
  readonly inviteCode?: Redacted.Redacted<string> | undefined
}

export interface SignedIn {
  readonly user: UserView
  readonly session: Redacted.Redacted<string>
  readonly expiresAt: Date
}

export interface AuthShape {
  /** Self-service registration, as REGISTRATION_MODE allows. */
  readonly register: (
    input: RegisterInput
  ) => Effect.Effect<
    UserView,
    ValidationError | RegistrationClosed | EmailTaken | TooManyRequests | DatabaseError | RedisError
  >
  /** Operator path (CLI): every registration mode, explicit role. */
  readonly createUser: (input: {
    readonly email: string
    readonly password: Redacted.Redacted<string>
    readonly role: Role
  }) => Effect.Effect<UserView, ValidationError | EmailTaken | DatabaseError>
  /**
   * Checks the password (throttled per address and per account), then starts
   * a new session; `previousSession` (the cookie the request carried) is
   * ended, so the session id changes at every sign-in.
   */
  readonly login: (input: {
    readonly email: string
    readonly password: Redacted.Redacted<string>
    readonly address: string
    readonly previousSession: Option.Option<Redacted.Redacted<string>>
    /** The browser's User-Agent, kept with the session so its owner can tell sessions apart. */
    readonly userAgent?: string | undefined
  }) => Effect.Effect<SignedIn, Unauthorized | TooManyRequests | DatabaseError | RedisError>
  readonly logout: (session: Redacted.Redacted<string>) => Effect.Effect<void, RedisError>
  /** Disables a user; their sessions end now and their tokens stop working with the next request. */
  readonly disableUser: (
    /** Who disables (an admin may not disable themselves); null for the operator's CLI. */
    actor: UserId | null,
    id: UserId
  ) => Effect.Effect<UserView, UserNotFound | Conflict | DatabaseError | RedisError>
  readonly enableUser: (id: UserId) => Effect.Effect<UserView, UserNotFound | DatabaseError>
  /** A single-use registration code (shown once; only its hash is kept). */
  readonly createInvite: (input: {
    readonly createdBy: UserId | null
    readonly email?: string | undefined
    readonly days?: number | undefined
  }) => Effect.Effect<
    { readonly code: Redacted.Redacted<string>; readonly expiresAt: Date },
    ValidationError | DatabaseError
  >
}

export class Auth extends Context.Service<Auth, AuthShape>()("mail-helper/Auth") {
  static readonly layer = Layer.effect(
    Auth,
    Effect.gen(function* () {
      const config = yield* AuthConfig
      const users = yield* UserStore
      const passwords = yield* Passwords
      const sessions = yield* Sessions
      const throttle = yield* LoginThrottle

      /** Every problem of email and password at once, as 400 issues. */
      const validateNew = (
        rawEmail: string,
        password: Redacted.Redacted<string>,
        extra: ReadonlyArray<{ readonly path: string; readonly message: string }> = []
      ) =>
        Effect.gen(function* () {
          const email = normaliseEmail(rawEmail)
          const issues: Array<{ path: string; message: string }> = [...extra]
          const badEmail = emailProblem(email)
          if (badEmail !== undefined) issues.push({ path: "payload.email", message: `email ${badEmail}` })
          for (const problem of yield* passwords.problems(password, email)) {
            issues.push({ path: "payload.password", message: `password ${problem}` })
          }
          if (issues.length > 0) {
            return yield* new ValidationError({
              message: issues.map((issue) => issue.message).join("; "),
              issues
            })
          }
          return email
        })

      const register = (input: RegisterInput) =>
        Effect.gen(function* () {
          if (config.registrationMode === "closed") {
            return yield* new RegistrationClosed({
              message: "registration is closed; ask an administrator for an account"
            })
          }
          yield* throttle.registration(input.address)
          const needsInvite = config.registrationMode === "invite"
          const email = yield* validateNew(
            input.email,
            input.password,
            needsInvite && input.inviteCode === undefined
              ? [{ path: "payload.inviteCode", message: "an invite code is required to register" }]
              : []
          )
          const passwordHash = yield* passwords.hash(input.password)
          return yield* users
            .create({
              email,
              passwordHash,
              role: needsInvite ? "user" : "first-user-admin",
              inviteHash: needsInvite && input.inviteCode !== undefined ? secretHash(input.inviteCode) : undefined
            })
            .pipe(
              Effect.catchTag("InviteRejected", (rejected) =>
                Effect.fail(
                  new ValidationError({
                    message: rejected.message,
                    issues: [{ path: "payload.inviteCode", message: rejected.message }]
                  })
                )
              )
            )
        }).pipe(Effect.withSpan("Auth.register"))

      const createUser = (input: {
        readonly email: string
        readonly password: Redacted.Redacted<string>
        readonly role: Role
      }) =>
        Effect.gen(function* () {
          const email = yield* validateNew(input.email, input.password)
          const passwordHash = yield* passwords.hash(input.password)
          return yield* users.create({ email, passwordHash, role: input.role })
        }).pipe(
          // no invite involved: cannot be rejected
          Effect.catchTag("InviteRejected", Effect.die),
          Effect.withSpan("Auth.createUser")
        )

      const login = (input: {
        readonly email: string
        readonly password: Redacted.Redacted<string>
        readonly address: string
        readonly previousSession: Option.Option<Redacted.Redacted<string>>
        readonly userAgent?: string | undefined
      }) =>
        Effect.gen(function* () {
          const email = normaliseEmail(input.email)
          yield* throttle.attempt(input.address, email)
          const found = yield* users.findCredentials(email)
          if (Option.isNone(found)) {
            // Same work as a real check, so the answer's timing does not tell whether the email exists.
            yield* passwords.verifyDummy(input.password)
            return yield* invalidCredentials()
          }
          const { user, passwordHash } = found.value
          const matches = yield* passwords.verify(passwordHash, input.password)
          if (!matches || user.disabled) return yield* invalidCredentials()
          yield* throttle.succeeded(input.address, email)
          if (Option.isSome(input.previousSession)) yield* sessions.revoke(input.previousSession.value)
          const sessionUser: SessionUser = { id: user.id, email: user.email, role: user.role }
          const session = yield* sessions.create(sessionUser, input.userAgent)
          const rehashed = passwords.needsRehash(passwordHash) ? yield* passwords.hash(input.password) : undefined
          // Checked after the session exists: a disable that raced this sign-in either ended the
          // session already (it was listed) or is seen here.
          const stillEnabled = yield* users.recordSignIn(user.id, rehashed)
          if (!stillEnabled) {
            yield* sessions.revoke(session.token)
            return yield* invalidCredentials()
          }
          return { user, session: session.token, expiresAt: session.expiresAt }
        }).pipe(Effect.withSpan("Auth.login"))

      const disableUser = (actor: UserId | null, id: UserId) =>
        Effect.gen(function* () {
          if (actor === id) return yield* new Conflict({ message: "you cannot disable your own account" })
          const user = yield* users.setDisabled(id, true)
          yield* sessions.revokeAll(id)
          return user
        }).pipe(Effect.withSpan("Auth.disableUser"))

      const createInvite = (input: {
        readonly createdBy: UserId | null
        readonly email?: string | undefined
        readonly days?: number | undefined
      }) =>
        Effect.gen(function* () {
          const email = input.email === undefined ? null : normaliseEmail(input.email)
          const problem = email === null ? undefined : emailProblem(email)
          if (problem !== undefined) {
            return yield* new ValidationError({
              message: `email ${problem}`,
              issues: [{ path: "payload.email", message: `email ${problem}` }]
            })
          }
          const days = input.days ?? config.inviteDays
          if (!Number.isInteger(days) || days < 1 || days > 365) {
            return yield* new ValidationError({
              message: "an invite lives 1 to 365 days",
              issues: [{ path: "payload.expiresInDays", message: "must be an integer from 1 to 365" }]
            })
          }
          const code = Redacted.make(`mhi_${Redacted.value(randomSecret())}`)
          const expiresAt = yield* users.createInvite({
            codeHash: secretHash(code),
            email,
            createdBy: input.createdBy,
            days
          })
          return { code, expiresAt }
        })

      return Auth.of({
        register,
        createUser,
        login,
        logout: sessions.revoke,
        disableUser,
        enableUser: (id) => users.setDisabled(id, false),
        createInvite
      })
    })
  )
}
