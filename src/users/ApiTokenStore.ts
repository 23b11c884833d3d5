import { Context, Effect, Layer, Option, Redacted, Schema } from "effect"
import { SqlClient, type SqlError } from "effect/sql"
import { Forbidden, ValidationError } from "../contract/http/ApiErrors.ts"
import { type DatabaseError, decodeRows, fromSqlError } from "../platform/Database.ts"
import { type CurrentUserShape, Role, scopesOfRole, TokenScope } from "../contract/users/CurrentUser.ts"
import { ApiTokenView, defaultTokenDays, maxTokenDays, TokenId, tokenPrefix } from "../contract/users/UserViews.ts"
import { randomSecret, secretHash } from "./Secrets.ts"
import { TokenNotFound } from "../contract/users/UserErrors.ts"
import { UserId } from "../contract/users/UserId.ts"
import { UserScope } from "./UserScope.ts"

const TokenRow = Schema.Struct({
  id: TokenId,
  name: Schema.String,
  token_prefix: Schema.String,
  scopes: Schema.Array(TokenScope),
  created_at: Schema.Date,
  expires_at: Schema.Date,
  last_used_at: Schema.NullOr(Schema.Date)
})

const toView = (row: typeof TokenRow.Type) =>
  new ApiTokenView({
    id: row.id,
    name: row.name,
    prefix: row.token_prefix,
    scopes: row.scopes,
    createdAt: row.created_at,
    expiresAt: row.expires_at,
    lastUsedAt: row.last_used_at
  })

const AuthRow = Schema.Struct({
  token_id: TokenId,
  user_id: UserId,
  email: Schema.String,
  role: Role,
  scopes: Schema.Array(TokenScope),
  stale: Schema.Boolean
})

/** `mh_` + 43 base64url characters; anything else is not worth a database round trip. */
const tokenShape = /^mh_[A-Za-z0-9_-]{43}$/

export interface TokenOwner {
  readonly tokenId: TokenId
  /** The user as the token acts: role `user` unless the token has the `admin` scope. */
  readonly user: CurrentUserShape & { readonly token: NonNullable<CurrentUserShape["token"]> }
}

export interface NewToken {
  readonly name: string
  /** Omitted: every scope the creator's role allows. */
  readonly scopes?: ReadonlyArray<TokenScope> | undefined
  /** 1 to maxTokenDays; omitted: defaultTokenDays. */
  readonly expiresInDays?: number | undefined
}

export interface ApiTokenStoreShape {
  /**
   * A new token for the creator, who must be signed in with a session: a token cannot make tokens
   * (so a leaked token cannot outlive its revocation through offspring). Scopes are bounded by the
   * creator's role, the lifetime by maxTokenDays.
   */
  readonly create: (
    creator: CurrentUserShape,
    input: NewToken
  ) => Effect.Effect<
    { readonly token: Redacted.Redacted<string>; readonly view: ApiTokenView },
    Forbidden | ValidationError | DatabaseError
  >
  /** The user's tokens that still work (not revoked, not expired), newest first. */
  readonly list: (userId: UserId) => Effect.Effect<ReadonlyArray<ApiTokenView>, DatabaseError>
  /** Revokes at once; another user's token, or one already revoked, is not found. */
  readonly revoke: (userId: UserId, id: TokenId) => Effect.Effect<void, TokenNotFound | DatabaseError>
  /** The owner of a live token whose user is not disabled. */
  readonly authenticate: (token: Redacted.Redacted<string>) => Effect.Effect<Option.Option<TokenOwner>, DatabaseError>
}

export class ApiTokenStore extends Context.Service<ApiTokenStore, ApiTokenStoreShape>()("mail-helper/ApiTokenStore") {
  static readonly layer = Layer.effect(
    ApiTokenStore,
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const scope = yield* UserScope
      const decodeTokens = decodeRows(TokenRow)
      const decodeAuth = decodeRows(AuthRow)
      const dbError = <A, R>(effect: Effect.Effect<A, SqlError.SqlError, R>) => Effect.mapError(effect, fromSqlError)

      const create = (creator: CurrentUserShape, input: NewToken) =>
        Effect.gen(function* () {
          if (creator.token !== undefined) {
            return yield* new Forbidden({
              message: "API tokens are made from a signed-in session, not with another API token"
            })
          }
          const allowed = scopesOfRole(creator.role)
          const scopes = input.scopes === undefined ? allowed : [...new Set(input.scopes)]
          const issues: Array<{ path: string; message: string }> = []
          if (scopes.length === 0) issues.push({ path: "payload.scopes", message: "name at least one scope" })
          const beyond = scopes.filter((wanted) => !allowed.includes(wanted))
          if (beyond.length > 0) {
            issues.push({ path: "payload.scopes", message: `your role cannot grant the scope ${beyond.join(", ")}` })
          }
          const days = input.expiresInDays ?? defaultTokenDays
          if (!Number.isInteger(days) || days < 1 || days > maxTokenDays) {
            issues.push({ path: "payload.expiresInDays", message: `a token lives 1 to ${maxTokenDays} days` })
          }
          if (issues.length > 0) {
            return yield* new ValidationError({ message: issues.map((issue) => issue.message).join("; "), issues })
          }
          const token = Redacted.make(`${tokenPrefix}${Redacted.value(randomSecret())}`)
          const rows = yield* scope
            .run(
              creator.id,
              sql`
              INSERT INTO api_tokens (user_id, name, token_hash, token_prefix, scopes, expires_at)
              VALUES (${creator.id}, ${input.name}, ${secretHash(token)}, ${Redacted.value(token).slice(0, tokenPrefix.length + 4)},
                string_to_array(${scopes.join(",")}, ','), now() + make_interval(days => ${days}))
              RETURNING *`.pipe(Effect.flatMap(decodeTokens))
            )
            .pipe(dbError)
          const row = rows[0]
          if (row === undefined) return yield* Effect.die(new Error("INSERT ... RETURNING gave no row"))
          return { token, view: toView(row) }
        }).pipe(Effect.withSpan("ApiTokenStore.create"))

      const list = (userId: UserId) =>
        scope
          .run(
            userId,
            sql`
              SELECT * FROM api_tokens
              WHERE user_id = ${userId} AND revoked_at IS NULL AND expires_at > now()
              ORDER BY created_at DESC, id`.pipe(Effect.flatMap(decodeTokens))
          )
          .pipe(
            Effect.map((rows) => rows.map(toView)),
            dbError,
            Effect.withSpan("ApiTokenStore.list")
          )

      const revoke = (userId: UserId, id: TokenId) =>
        scope
          .run(
            userId,
            sql`
              UPDATE api_tokens SET revoked_at = now()
              WHERE id = ${id} AND user_id = ${userId} AND revoked_at IS NULL
              RETURNING id`
          )
          .pipe(
            dbError,
            Effect.flatMap((rows) =>
              rows.length === 0
                ? Effect.fail(new TokenNotFound({ message: `no API token with id ${id}` }))
                : Effect.void
            ),
            Effect.withSpan("ApiTokenStore.revoke")
          )

      const touch = (tokenId: TokenId, userId: UserId) =>
        scope.run(userId, sql`UPDATE api_tokens SET last_used_at = now() WHERE id = ${tokenId}`).pipe(Effect.ignore)

      const authenticate = (token: Redacted.Redacted<string>) =>
        Effect.gen(function* () {
          if (!tokenShape.test(Redacted.value(token))) return Option.none<TokenOwner>()
          // Across users by design: the token is what tells us who the user is.
          const rows = yield* scope.system(
            "ApiTokenStore.authenticate",
            sql`
              SELECT t.id AS token_id, u.id AS user_id, u.email, u.role, t.scopes,
                (t.last_used_at IS NULL OR t.last_used_at < now() - interval '1 minute') AS stale
              FROM api_tokens t JOIN users u ON u.id = t.user_id
              WHERE t.token_hash = ${secretHash(token)} AND t.revoked_at IS NULL
                AND t.expires_at > now() AND u.disabled_at IS NULL`.pipe(Effect.flatMap(decodeAuth))
          )
          const row = rows[0]
          if (row === undefined) return Option.none<TokenOwner>()
          // last_used_at is informative only: written at most once a minute, off the request's path.
          if (row.stale) yield* Effect.forkDetach(touch(row.token_id, row.user_id))
          return Option.some<TokenOwner>({
            tokenId: row.token_id,
            user: {
              id: row.user_id,
              email: row.email,
              // the admin role only through the admin scope, and only while the user is still an admin
              role: row.scopes.includes("admin") ? row.role : "user",
              token: { id: row.token_id, scopes: row.scopes }
            }
          })
        }).pipe(dbError, Effect.withSpan("ApiTokenStore.authenticate"))

      return ApiTokenStore.of({ create, list, revoke, authenticate })
    })
  )
}
