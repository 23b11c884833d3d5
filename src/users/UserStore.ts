import { Context, Effect, Layer, Option, Schema } from "effect"
import { SqlClient, type SqlError } from "effect/sql"
import { type DatabaseError, decodeRows, fromSqlError } from "../platform/Database.ts"
import { Role } from "../contract/users/CurrentUser.ts"
import { InviteId, InviteView, UserView } from "../contract/users/UserViews.ts"
import { EmailTaken, InviteNotFound, UserNotFound } from "../contract/users/UserErrors.ts"
import { Conflict } from "../contract/http/ApiErrors.ts"
import { UserId } from "../contract/users/UserId.ts"
import { UserScope } from "./UserScope.ts"

const UserRow = Schema.Struct({
  id: UserId,
  email: Schema.String,
  role: Role,
  password_hash: Schema.String,
  disabled_at: Schema.NullOr(Schema.Date),
  created_at: Schema.Date,
  last_login_at: Schema.NullOr(Schema.Date)
})
type UserRow = typeof UserRow.Type

const toView = (row: UserRow): UserView =>
  new UserView({
    id: row.id,
    email: row.email,
    role: row.role,
    disabled: row.disabled_at !== null,
    createdAt: row.created_at,
    lastLoginAt: row.last_login_at
  })

const InviteRow = Schema.Struct({
  id: InviteId,
  email: Schema.NullOr(Schema.String),
  created_at: Schema.Date,
  expires_at: Schema.Date,
  used_at: Schema.NullOr(Schema.Date),
  revoked_at: Schema.NullOr(Schema.Date),
  expired: Schema.Boolean
})
type InviteRow = typeof InviteRow.Type

const inviteView = (row: InviteRow): InviteView =>
  new InviteView({
    id: row.id,
    email: row.email,
    state: row.used_at !== null ? "used" : row.revoked_at !== null ? "revoked" : row.expired ? "expired" : "pending",
    createdAt: row.created_at,
    expiresAt: row.expires_at,
    usedAt: row.used_at,
    revokedAt: row.revoked_at
  })

/** The invite columns a view needs (never the code's hash), with expiry judged by the database's clock. */
const inviteColumns = "id, email, created_at, expires_at, used_at, revoked_at, expires_at <= now() AS expired"

/** What sign-in needs to know about an account. */
export interface Credentials {
  readonly user: UserView
  readonly passwordHash: string
}

export { normaliseEmail } from "./normaliseEmail.ts"

/** Why an (already normalised) email is refused, or undefined. */
export const emailProblem = (email: string): string | undefined =>
  email.length === 0
    ? "is required"
    : email.length > 254
      ? "must be at most 254 characters long"
      : /^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(email)
        ? undefined
        : "is not an email address"

export interface NewUser {
  /** Normalised. */
  readonly email: string
  readonly passwordHash: string
  /** `first-user-admin`: admin when no user exists yet, else user (registration in open mode). */
  readonly role: Role | "first-user-admin"
  /** A single-use invite code's hash to consume in the same transaction. */
  readonly inviteHash?: string | undefined
}

export class InviteRejected extends Schema.TaggedError<InviteRejected>()("InviteRejected", {
  message: Schema.String
}) {}

export interface UserPage {
  readonly items: ReadonlyArray<UserView>
  readonly nextCursor: string | null
}

export interface UserStoreShape {
  readonly create: (user: NewUser) => Effect.Effect<UserView, EmailTaken | InviteRejected | DatabaseError>
  /** Sign-in lookup by email, across users (the user is not known yet). */
  readonly findCredentials: (email: string) => Effect.Effect<Option.Option<Credentials>, DatabaseError>
  readonly get: (id: UserId) => Effect.Effect<Option.Option<UserView>, DatabaseError>
  /** Notes a sign-in (and an upgraded hash); false when the user was disabled meanwhile. */
  readonly recordSignIn: (id: UserId, newPasswordHash: string | undefined) => Effect.Effect<boolean, DatabaseError>
  /** Admin: every user, by email. */
  readonly list: (options: {
    readonly limit: number
    readonly after?: string | undefined
  }) => Effect.Effect<UserPage, DatabaseError>
  readonly setDisabled: (id: UserId, disabled: boolean) => Effect.Effect<UserView, UserNotFound | DatabaseError>
  readonly findByEmail: (email: string) => Effect.Effect<Option.Option<UserView>, DatabaseError>
  /** Stores an invite (by the hash of its code) and returns its expiry. */
  readonly createInvite: (invite: {
    readonly codeHash: string
    readonly email: string | null
    readonly createdBy: UserId | null
    readonly days: number
  }) => Effect.Effect<Date, DatabaseError>
  /** Admin: the newest invites first (never a code or its hash). */
  readonly listInvites: (limit: number) => Effect.Effect<ReadonlyArray<InviteView>, DatabaseError>
  /** Admin: the code registers nobody from now on; revoking a revoked or expired invite changes nothing. */
  readonly revokeInvite: (id: InviteId) => Effect.Effect<InviteView, InviteNotFound | Conflict | DatabaseError>
}

/** Users and invites in PostgreSQL. Reads for one user run in that user's scope; cross-user work is marked `system`. */
export class UserStore extends Context.Service<UserStore, UserStoreShape>()("mail-helper/UserStore") {
  static readonly layer = Layer.effect(
    UserStore,
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const scope = yield* UserScope
      const decode = decodeRows(UserRow)
      const firstRow = (rows: ReadonlyArray<unknown>) => Effect.map(decode(rows), (rs) => Option.fromNullishOr(rs[0]))
      const dbError = <A, R>(effect: Effect.Effect<A, SqlError.SqlError, R>) => Effect.mapError(effect, fromSqlError)

      const create = (user: NewUser) =>
        scope
          .system(
            "UserStore.create",
            Effect.gen(function* () {
              if (user.inviteHash !== undefined) {
                const consumed = yield* sql`
                  UPDATE invites SET used_at = now()
                  WHERE code_hash = ${user.inviteHash} AND used_at IS NULL AND revoked_at IS NULL AND expires_at > now()
                    AND (email IS NULL OR email = ${user.email})
                  RETURNING id`
                if (consumed.length === 0) {
                  return yield* new InviteRejected({
                    message: "the invite code is unknown, used, expired or for another email"
                  })
                }
              }
              let role: Role
              if (user.role === "first-user-admin") {
                // Serialise first registrations so two racing requests cannot both become admin.
                yield* sql`SELECT pg_advisory_xact_lock(hashtext('mail-helper:first-user'))`
                const [existing] = yield* sql`SELECT EXISTS (SELECT 1 FROM users) AS any`.pipe(
                  Effect.flatMap(decodeRows(Schema.Struct({ any: Schema.Boolean })))
                )
                role = existing?.any === true ? "user" : "admin"
              } else {
                role = user.role
              }
              const inserted = yield* sql`
                INSERT INTO users (email, password_hash, role)
                VALUES (${user.email}, ${user.passwordHash}, ${role})
                RETURNING *`.pipe(Effect.flatMap(firstRow))
              if (Option.isNone(inserted)) return yield* Effect.die(new Error("INSERT ... RETURNING gave no row"))
              if (user.inviteHash !== undefined) {
                yield* sql`UPDATE invites SET used_by = ${inserted.value.id} WHERE code_hash = ${user.inviteHash}`
              }
              return toView(inserted.value)
            })
          )
          .pipe(
            Effect.catchReason(
              "SqlError",
              "UniqueViolation",
              () => Effect.fail(new EmailTaken({ message: "an account with this email already exists" })),
              (_, error) => Effect.fail(fromSqlError(error))
            ),
            Effect.withSpan("UserStore.create")
          )

      const findCredentials = (email: string) =>
        scope
          .system(
            "UserStore.findCredentials",
            sql`SELECT * FROM users WHERE email = ${email}`.pipe(Effect.flatMap(firstRow))
          )
          .pipe(
            Effect.map(Option.map((row): Credentials => ({ user: toView(row), passwordHash: row.password_hash }))),
            dbError,
            Effect.withSpan("UserStore.findCredentials")
          )

      const findByEmail = (email: string) =>
        scope
          .system(
            "UserStore.findByEmail",
            sql`SELECT * FROM users WHERE email = ${email}`.pipe(Effect.flatMap(firstRow))
          )
          .pipe(Effect.map(Option.map(toView)), dbError)

      const get = (id: UserId) =>
        scope
          .run(id, sql`SELECT * FROM users WHERE id = ${id}`.pipe(Effect.flatMap(firstRow)))
          .pipe(Effect.map(Option.map(toView)), dbError, Effect.withSpan("UserStore.get"))

      const recordSignIn = (id: UserId, newPasswordHash: string | undefined) =>
        scope
          .run(
            id,
            sql`
              UPDATE users SET last_login_at = now(),
                password_hash = COALESCE(${newPasswordHash ?? null}, password_hash),
                updated_at = CASE WHEN ${newPasswordHash ?? null}::text IS NULL THEN updated_at ELSE now() END
              WHERE id = ${id} AND disabled_at IS NULL
              RETURNING id`
          )
          .pipe(
            Effect.map((rows) => rows.length > 0),
            dbError
          )

      const list = (options: { readonly limit: number; readonly after?: string | undefined }) =>
        scope
          .system(
            "UserStore.list (admin)",
            sql`
              SELECT * FROM users
              ${options.after === undefined ? sql`` : sql`WHERE email > ${options.after}`}
              ORDER BY email LIMIT ${options.limit + 1}`.pipe(Effect.flatMap(decode))
          )
          .pipe(
            Effect.map((rows) => {
              const items = rows.slice(0, options.limit).map(toView)
              const last = items.at(-1)
              return { items, nextCursor: rows.length > options.limit && last !== undefined ? last.email : null }
            }),
            dbError
          )

      const setDisabled = (id: UserId, disabled: boolean) =>
        scope
          .system(
            disabled ? "UserStore.disable (admin)" : "UserStore.enable (admin)",
            sql`
              UPDATE users SET
                disabled_at = ${disabled ? sql`COALESCE(disabled_at, now())` : sql`NULL`},
                updated_at = now()
              WHERE id = ${id}
              RETURNING *`.pipe(Effect.flatMap(firstRow))
          )
          .pipe(
            dbError,
            Effect.flatMap(
              Option.match({
                onNone: () => Effect.fail(new UserNotFound({ message: `no user with id ${id}` })),
                onSome: (row) => Effect.succeed(toView(row))
              })
            )
          )

      const createInvite = (invite: {
        readonly codeHash: string
        readonly email: string | null
        readonly createdBy: UserId | null
        readonly days: number
      }) =>
        scope
          .system(
            "UserStore.createInvite (admin)",
            sql`
              INSERT INTO invites (code_hash, email, created_by, expires_at)
              VALUES (${invite.codeHash}, ${invite.email}, ${invite.createdBy}, now() + make_interval(days => ${invite.days}))
              RETURNING expires_at`.pipe(Effect.flatMap(decodeRows(Schema.Struct({ expires_at: Schema.Date }))))
          )
          .pipe(
            Effect.flatMap((rows) =>
              rows[0] === undefined
                ? Effect.die(new Error("INSERT ... RETURNING gave no row"))
                : Effect.succeed(rows[0].expires_at)
            ),
            dbError
          )

      const decodeInvites = decodeRows(InviteRow)

      const listInvites = (limit: number) =>
        scope
          .system(
            "UserStore.listInvites (admin)",
            sql`SELECT ${sql.literal(inviteColumns)} FROM invites ORDER BY created_at DESC, id LIMIT ${limit}`.pipe(
              Effect.flatMap(decodeInvites)
            )
          )
          .pipe(
            Effect.map((rows) => rows.map(inviteView)),
            dbError,
            Effect.withSpan("UserStore.listInvites")
          )

      const revokeInvite = (id: InviteId) =>
        scope
          .system(
            "UserStore.revokeInvite (admin)",
            Effect.gen(function* () {
              // the row lock orders this against a registration consuming the same code
              const [row] =
                yield* sql`SELECT ${sql.literal(inviteColumns)} FROM invites WHERE id = ${id} FOR UPDATE`.pipe(
                  Effect.flatMap(decodeInvites)
                )
              if (row === undefined) return Option.none()
              if (row.used_at !== null || row.revoked_at !== null) return Option.some(row)
              const [revoked] = yield* sql`
                UPDATE invites SET revoked_at = now() WHERE id = ${id}
                RETURNING ${sql.literal(inviteColumns)}`.pipe(Effect.flatMap(decodeInvites))
              return Option.fromNullishOr(revoked)
            })
          )
          .pipe(
            dbError,
            Effect.flatMap((found): Effect.Effect<InviteView, InviteNotFound | Conflict> => {
              if (Option.isNone(found)) return Effect.fail(new InviteNotFound({ message: `no invite with id ${id}` }))
              if (found.value.used_at !== null) {
                return Effect.fail(new Conflict({ message: "this invite was used already; disable the user instead" }))
              }
              return Effect.succeed(inviteView(found.value))
            }),
            Effect.withSpan("UserStore.revokeInvite")
          )

      return UserStore.of({
        create,
        findCredentials,
        findByEmail,
        get,
        recordSignIn,
        list,
        setDisabled,
        createInvite,
        listInvites,
        revokeInvite
      })
    })
  )
}
