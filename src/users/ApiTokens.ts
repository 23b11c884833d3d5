import { Context, Effect, Layer, Option, Redacted, Schema } from "effect"
import { SqlClient, type SqlError } from "effect/sql"
import { type DatabaseError, decodeRows, fromSqlError } from "../platform/Database.ts"
import { Role } from "./CurrentUser.ts"
import { randomSecret, secretHash } from "./Secrets.ts"
import { TokenNotFound } from "./UserErrors.ts"
import { UserId } from "./UserId.ts"
import { UserScope } from "./UserScope.ts"

export const TokenId = Schema.String.pipe(Schema.check(Schema.isUUID()), Schema.brand("ApiTokenId"))
export type TokenId = typeof TokenId.Type

/** Every token starts with this, so secret scanners and people can recognise one. */
export const tokenPrefix = "mh_"

/** An API token as listed: never the secret, only its first characters to tell tokens apart. */
export class ApiTokenView extends Schema.Class<ApiTokenView>("ApiToken")({
  id: TokenId,
  name: Schema.String,
  /** The first characters of the token (`mh_` and four more). */
  prefix: Schema.String,
  createdAt: Schema.Date,
  expiresAt: Schema.NullOr(Schema.Date),
  lastUsedAt: Schema.NullOr(Schema.Date)
}) {}

const TokenRow = Schema.Struct({
  id: TokenId,
  name: Schema.String,
  token_prefix: Schema.String,
  created_at: Schema.Date,
  expires_at: Schema.NullOr(Schema.Date),
  last_used_at: Schema.NullOr(Schema.Date)
})

const toView = (row: typeof TokenRow.Type) =>
  new ApiTokenView({
    id: row.id,
    name: row.name,
    prefix: row.token_prefix,
    createdAt: row.created_at,
    expiresAt: row.expires_at,
    lastUsedAt: row.last_used_at
  })

const AuthRow = Schema.Struct({
  token_id: TokenId,
  user_id: UserId,
  email: Schema.String,
  role: Role,
  stale: Schema.Boolean
})

/** `mh_` + 43 base64url characters; anything else is not worth a database round trip. */
const tokenShape = /^mh_[A-Za-z0-9_-]{43}$/

export interface TokenOwner {
  readonly tokenId: TokenId
  readonly user: { readonly id: UserId; readonly email: string; readonly role: Role }
}

export interface ApiTokensShape {
  readonly create: (
    userId: UserId,
    input: { readonly name: string; readonly expiresInDays?: number | undefined }
  ) => Effect.Effect<{ readonly token: Redacted.Redacted<string>; readonly view: ApiTokenView }, DatabaseError>
  /** The user's tokens that still work (not revoked, not expired), newest first. */
  readonly list: (userId: UserId) => Effect.Effect<ReadonlyArray<ApiTokenView>, DatabaseError>
  /** Revokes at once; another user's token, or one already revoked, is not found. */
  readonly revoke: (userId: UserId, id: TokenId) => Effect.Effect<void, TokenNotFound | DatabaseError>
  /** The owner of a live token whose user is not disabled. */
  readonly authenticate: (token: Redacted.Redacted<string>) => Effect.Effect<Option.Option<TokenOwner>, DatabaseError>
}

export class ApiTokens extends Context.Service<ApiTokens, ApiTokensShape>()("mail-helper/ApiTokens") {
  static readonly layer = Layer.effect(
    ApiTokens,
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const scope = yield* UserScope
      const decodeTokens = decodeRows(TokenRow)
      const decodeAuth = decodeRows(AuthRow)
      const dbError = <A, R>(effect: Effect.Effect<A, SqlError.SqlError, R>) => Effect.mapError(effect, fromSqlError)

      const create = (userId: UserId, input: { readonly name: string; readonly expiresInDays?: number | undefined }) =>
        Effect.gen(function* () {
          const token = Redacted.make(`${tokenPrefix}${Redacted.value(randomSecret())}`)
          const rows = yield* scope.run(
            userId,
            sql`
              INSERT INTO api_tokens (user_id, name, token_hash, token_prefix, expires_at)
              VALUES (${userId}, ${input.name}, ${secretHash(token)}, ${Redacted.value(token).slice(0, tokenPrefix.length + 4)},
                ${input.expiresInDays === undefined ? null : sql`now() + make_interval(days => ${input.expiresInDays})`})
              RETURNING *`.pipe(Effect.flatMap(decodeTokens))
          )
          const row = rows[0]
          if (row === undefined) return yield* Effect.die(new Error("INSERT ... RETURNING gave no row"))
          return { token, view: toView(row) }
        }).pipe(dbError, Effect.withSpan("ApiTokens.create"))

      const list = (userId: UserId) =>
        scope
          .run(
            userId,
            sql`
              SELECT * FROM api_tokens
              WHERE user_id = ${userId} AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())
              ORDER BY created_at DESC, id`.pipe(Effect.flatMap(decodeTokens))
          )
          .pipe(
            Effect.map((rows) => rows.map(toView)),
            dbError,
            Effect.withSpan("ApiTokens.list")
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
            Effect.withSpan("ApiTokens.revoke")
          )

      const touch = (tokenId: TokenId, userId: UserId) =>
        scope.run(userId, sql`UPDATE api_tokens SET last_used_at = now() WHERE id = ${tokenId}`).pipe(Effect.ignore)

      const authenticate = (token: Redacted.Redacted<string>) =>
        Effect.gen(function* () {
          if (!tokenShape.test(Redacted.value(token))) return Option.none<TokenOwner>()
          // Across users by design: the token is what tells us who the user is.
          const rows = yield* scope.system(
            "ApiTokens.authenticate",
            sql`
              SELECT t.id AS token_id, u.id AS user_id, u.email, u.role,
                (t.last_used_at IS NULL OR t.last_used_at < now() - interval '1 minute') AS stale
              FROM api_tokens t JOIN users u ON u.id = t.user_id
              WHERE t.token_hash = ${secretHash(token)} AND t.revoked_at IS NULL
                AND (t.expires_at IS NULL OR t.expires_at > now()) AND u.disabled_at IS NULL`.pipe(
              Effect.flatMap(decodeAuth)
            )
          )
          const row = rows[0]
          if (row === undefined) return Option.none<TokenOwner>()
          // last_used_at is informative only: written at most once a minute, off the request's path.
          if (row.stale) yield* Effect.forkDetach(touch(row.token_id, row.user_id))
          return Option.some<TokenOwner>({
            tokenId: row.token_id,
            user: { id: row.user_id, email: row.email, role: row.role }
          })
        }).pipe(dbError, Effect.withSpan("ApiTokens.authenticate"))

      return ApiTokens.of({ create, list, revoke, authenticate })
    })
  )
}
