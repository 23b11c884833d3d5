/**
 * The SQL of OAuth2 accounts: the one-time authorisation states and the grants (sealed refresh
 * and access tokens). Sealing happens here, like AccountStore's passwords: each ciphertext is
 * bound to its row and column (`oauth_grants:<account id>:refresh|access`), and `keys rotate`
 * re-seals both columns (KeyRotation.sealedColumns).
 *
 * `lockGrant` and `saveTokens` run inside the transaction the caller opened with UserScope
 * (OAuthTokens: one refresh per account across all workers, under the row lock).
 */
import { Context, Effect, Layer, Option, type Redacted, Schema } from "effect"
import { SqlClient, type SqlError } from "effect/sql"
import { type DatabaseError, decodeRows, fromSqlError } from "../platform/Database.ts"
import { Crypto, type SecretDecryptionFailed } from "../platform/Crypto.ts"
import { UserId } from "../contract/users/UserId.ts"
import { UserScope } from "../users/UserScope.ts"
import type { AccountId } from "../contract/accounts/Account.ts"

export const refreshAssociatedData = (accountId: string): string => `oauth_grants:${accountId}:refresh`
export const accessAssociatedData = (accountId: string): string => `oauth_grants:${accountId}:access`
const verifierAssociatedData = (stateHash: string): string => `oauth_states:${stateHash}:verifier`

const StateRow = Schema.Struct({
  state_hash: Schema.String,
  user_id: UserId,
  session_hash: Schema.String,
  provider: Schema.String,
  verifier_sealed: Schema.String,
  nonce: Schema.String,
  expires_at: Schema.Date
})

/** An authorisation in progress, as consumed (the row is gone once read). */
export interface OAuthState {
  readonly sessionHash: string
  readonly provider: string
  readonly codeVerifier: Redacted.Redacted<string>
  readonly nonce: string
  readonly expiresAt: Date
}

const GrantRow = Schema.Struct({
  id: Schema.String,
  subject: Schema.String,
  refresh_sealed: Schema.String,
  access_sealed: Schema.NullOr(Schema.String),
  access_expires_at: Schema.NullOr(Schema.Date),
  refreshed_at: Schema.NullOr(Schema.Date)
})

/** A grant as stored; the tokens still sealed (opened with `openRefresh` / `openAccess`). */
export interface OAuthGrant {
  readonly accountId: string
  readonly subject: string
  readonly refreshSealed: string
  readonly accessSealed: string | null
  readonly accessExpiresAt: Date | null
  readonly refreshedAt: Date | null
}

const toGrant = (row: typeof GrantRow.Type): OAuthGrant => ({
  accountId: row.id,
  subject: row.subject,
  refreshSealed: row.refresh_sealed,
  accessSealed: row.access_sealed,
  accessExpiresAt: row.access_expires_at,
  refreshedAt: row.refreshed_at
})

export interface GrantTokens {
  readonly refreshToken: Redacted.Redacted<string>
  readonly accessToken: Redacted.Redacted<string>
  readonly accessExpiresAt: Date
}

export interface OAuthStoreShape {
  readonly insertState: (
    owner: UserId,
    state: { readonly stateHash: string } & OAuthState
  ) => Effect.Effect<void, DatabaseError>
  /**
   * Takes the state (DELETE ... RETURNING: a second callback with it finds nothing) if it is the
   * user's; also drops the user's expired states.
   */
  readonly consumeState: (owner: UserId, stateHash: string) => Effect.Effect<Option.Option<OAuthState>, DatabaseError>
  /** Inserts or replaces the account's grant (a new consent). */
  readonly saveGrant: (
    owner: UserId,
    accountId: AccountId,
    subject: string,
    tokens: GrantTokens
  ) => Effect.Effect<void, DatabaseError>
  readonly findGrant: (owner: UserId, accountId: AccountId) => Effect.Effect<Option.Option<OAuthGrant>, DatabaseError>
  /** SELECT ... FOR UPDATE: only inside the caller's transaction (UserScope.run). */
  readonly lockGrant: (
    owner: UserId,
    accountId: AccountId
  ) => Effect.Effect<Option.Option<OAuthGrant>, SqlError.SqlError>
  /** Writes refreshed tokens (a rotated refresh token with them), inside the caller's transaction. */
  readonly saveTokens: (
    owner: UserId,
    accountId: AccountId,
    tokens: { readonly refreshToken: Redacted.Redacted<string> | undefined } & Omit<GrantTokens, "refreshToken">
  ) => Effect.Effect<void, SqlError.SqlError>
  /** Forgets the cached access token (the server refused it), only if it is still `sealed`. */
  readonly dropAccess: (owner: UserId, accountId: AccountId, sealed: string) => Effect.Effect<void, DatabaseError>
  readonly openRefresh: (grant: OAuthGrant) => Effect.Effect<Redacted.Redacted<string>, SecretDecryptionFailed>
  readonly openAccess: (
    grant: OAuthGrant
  ) => Effect.Effect<Option.Option<Redacted.Redacted<string>>, SecretDecryptionFailed>
}

export class OAuthStore extends Context.Service<OAuthStore, OAuthStoreShape>()("mail-helper/OAuthStore") {
  static readonly layer = Layer.effect(
    OAuthStore,
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const scope = yield* UserScope
      const crypto = yield* Crypto
      const decodeStates = decodeRows(StateRow)
      const decodeGrants = decodeRows(GrantRow)
      const firstGrant = (rows: ReadonlyArray<unknown>) =>
        Effect.map(decodeGrants(rows), (decoded) => Option.map(Option.fromNullishOr(decoded[0]), toGrant))

      const insertState = (owner: UserId, state: { readonly stateHash: string } & OAuthState) =>
        Effect.gen(function* () {
          const verifier = yield* crypto.encrypt(state.codeVerifier, verifierAssociatedData(state.stateHash))
          yield* scope.run(
            owner,
            sql`
              INSERT INTO oauth_states (state_hash, user_id, session_hash, provider, verifier_sealed, nonce, expires_at)
              VALUES (${state.stateHash}, ${owner}, ${state.sessionHash}, ${state.provider}, ${verifier}, ${state.nonce},
                ${state.expiresAt})`
          )
        }).pipe(Effect.mapError(fromSqlError), Effect.withSpan("OAuthStore.insertState"))

      const consumeState = (owner: UserId, stateHash: string) =>
        scope
          .run(
            owner,
            Effect.gen(function* () {
              const rows = yield* sql`
                DELETE FROM oauth_states WHERE state_hash = ${stateHash} AND user_id = ${owner} RETURNING *`
              yield* sql`DELETE FROM oauth_states WHERE user_id = ${owner} AND expires_at < now()`
              return rows
            })
          )
          .pipe(
            Effect.mapError(fromSqlError),
            Effect.flatMap(decodeStates),
            Effect.flatMap((rows) => {
              const row = rows[0]
              if (row === undefined) return Effect.succeed(Option.none<OAuthState>())
              return crypto.decrypt(row.verifier_sealed, verifierAssociatedData(row.state_hash)).pipe(
                Effect.map((codeVerifier) =>
                  Option.some<OAuthState>({
                    sessionHash: row.session_hash,
                    provider: row.provider,
                    codeVerifier,
                    nonce: row.nonce,
                    expiresAt: row.expires_at
                  })
                ),
                // a verifier that no longer opens (its key left the keyring): the state is useless
                Effect.orElseSucceed(() => Option.none<OAuthState>())
              )
            }),
            Effect.withSpan("OAuthStore.consumeState")
          )

      const saveGrant = (owner: UserId, accountId: AccountId, subject: string, tokens: GrantTokens) =>
        Effect.gen(function* () {
          const refresh = yield* crypto.encrypt(tokens.refreshToken, refreshAssociatedData(accountId))
          const access = yield* crypto.encrypt(tokens.accessToken, accessAssociatedData(accountId))
          yield* scope.run(
            owner,
            sql`
              INSERT INTO oauth_grants (id, user_id, subject, refresh_sealed, access_sealed, access_expires_at)
              VALUES (${accountId}, ${owner}, ${subject}, ${refresh}, ${access}, ${tokens.accessExpiresAt})
              ON CONFLICT (id) DO UPDATE SET subject = EXCLUDED.subject, refresh_sealed = EXCLUDED.refresh_sealed,
                access_sealed = EXCLUDED.access_sealed, access_expires_at = EXCLUDED.access_expires_at,
                refreshed_at = NULL, updated_at = now()`
          )
        }).pipe(Effect.mapError(fromSqlError), Effect.withSpan("OAuthStore.saveGrant"))

      const findGrant = (owner: UserId, accountId: AccountId) =>
        scope
          .run(owner, sql`SELECT * FROM oauth_grants WHERE id = ${accountId} AND user_id = ${owner}`)
          .pipe(Effect.flatMap(firstGrant), Effect.mapError(fromSqlError), Effect.withSpan("OAuthStore.findGrant"))

      const lockGrant = (owner: UserId, accountId: AccountId) =>
        sql`SELECT * FROM oauth_grants WHERE id = ${accountId} AND user_id = ${owner} FOR UPDATE`.pipe(
          Effect.flatMap(firstGrant),
          Effect.withSpan("OAuthStore.lockGrant")
        )

      const saveTokens = (
        owner: UserId,
        accountId: AccountId,
        tokens: { readonly refreshToken: Redacted.Redacted<string> | undefined } & Omit<GrantTokens, "refreshToken">
      ) =>
        Effect.gen(function* () {
          const access = yield* crypto.encrypt(tokens.accessToken, accessAssociatedData(accountId))
          if (tokens.refreshToken === undefined) {
            yield* sql`
              UPDATE oauth_grants SET access_sealed = ${access}, access_expires_at = ${tokens.accessExpiresAt},
                refreshed_at = now(), updated_at = now()
              WHERE id = ${accountId} AND user_id = ${owner}`
            return
          }
          const refresh = yield* crypto.encrypt(tokens.refreshToken, refreshAssociatedData(accountId))
          yield* sql`
            UPDATE oauth_grants SET refresh_sealed = ${refresh}, access_sealed = ${access},
              access_expires_at = ${tokens.accessExpiresAt}, refreshed_at = now(), updated_at = now()
            WHERE id = ${accountId} AND user_id = ${owner}`
        }).pipe(Effect.withSpan("OAuthStore.saveTokens"))

      const dropAccess = (owner: UserId, accountId: AccountId, sealed: string) =>
        scope
          .run(
            owner,
            sql`
              UPDATE oauth_grants SET access_sealed = NULL, access_expires_at = NULL, updated_at = now()
              WHERE id = ${accountId} AND user_id = ${owner} AND access_sealed = ${sealed}`
          )
          .pipe(Effect.asVoid, Effect.mapError(fromSqlError), Effect.withSpan("OAuthStore.dropAccess"))

      const openRefresh = (grant: OAuthGrant) =>
        crypto.decrypt(grant.refreshSealed, refreshAssociatedData(grant.accountId))
      const openAccess = (grant: OAuthGrant) =>
        grant.accessSealed === null
          ? Effect.succeed(Option.none())
          : Effect.map(crypto.decrypt(grant.accessSealed, accessAssociatedData(grant.accountId)), Option.some)

      return OAuthStore.of({
        insertState,
        consumeState,
        saveGrant,
        findGrant,
        lockGrant,
        saveTokens,
        dropAccess,
        openRefresh,
        openAccess
      })
    })
  )
}
