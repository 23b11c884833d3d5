import { Effect } from "effect"
import { SqlClient } from "effect/sql"
import { userOwnedTable } from "../src/users/Rls.ts"

/**
 * OAuth2 accounts (issue 18, docs/accounts-and-sync.md "OAuth2 accounts"):
 *
 * - `mail_accounts.auth_kind`: `password` (the sealed IMAP password) or `oauth` (an `oauth_grants`
 *   row; `oauth_provider` names the configured provider); an OAuth account has no password, so
 *   `password_sealed` may be NULL for it only.
 * - `mail_accounts.status` gains `reauth_required`: the provider refused the grant (revoked or
 *   expired); only a new consent (reconnect) brings the account back.
 * - `oauth_grants`: one per OAuth account (`id` is the account's id, so `keys rotate` re-seals it by
 *   id like the passwords): the subject the provider authenticated, the refresh token and
 *   the cached access token, both sealed under the keyring with associated data
 *   `oauth_grants:<account id>:<column>`.
 * - `oauth_states`: the one-time `state` of an authorisation in progress, bound to the user and to
 *   the session (a hash of the session credential), with the PKCE verifier and the nonce sealed;
 *   consumed by DELETE ... RETURNING, useless after `expires_at`.
 */
export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient

  yield* sql`
    ALTER TABLE mail_accounts
      ADD COLUMN auth_kind text NOT NULL DEFAULT 'password' CHECK (auth_kind IN ('password', 'oauth')),
      ADD COLUMN oauth_provider text CHECK (length(oauth_provider) BETWEEN 1 AND 64),
      ALTER COLUMN password_sealed DROP NOT NULL,
      ADD CONSTRAINT mail_accounts_credential_kind CHECK (
        (auth_kind = 'password' AND password_sealed IS NOT NULL AND oauth_provider IS NULL)
        OR (auth_kind = 'oauth' AND oauth_provider IS NOT NULL)
      ),
      DROP CONSTRAINT mail_accounts_status_check,
      ADD CONSTRAINT mail_accounts_status_check
        CHECK (status IN ('active', 'auth_failed', 'unreachable', 'disabled', 'reauth_required'))`

  yield* sql`
    CREATE TABLE oauth_grants (
      id uuid PRIMARY KEY REFERENCES mail_accounts (id) ON DELETE CASCADE,
      user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
      subject text NOT NULL CHECK (length(subject) BETWEEN 1 AND 500),
      refresh_sealed text NOT NULL,
      access_sealed text,
      access_expires_at timestamptz,
      refreshed_at timestamptz,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now()
    )`
  yield* sql`CREATE INDEX oauth_grants_owner ON oauth_grants (user_id)`
  yield* userOwnedTable("oauth_grants")

  yield* sql`
    CREATE TABLE oauth_states (
      state_hash text PRIMARY KEY,
      user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
      session_hash text NOT NULL,
      provider text NOT NULL CHECK (length(provider) BETWEEN 1 AND 64),
      verifier_sealed text NOT NULL,
      nonce text NOT NULL,
      expires_at timestamptz NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now()
    )`
  yield* sql`CREATE INDEX oauth_states_owner ON oauth_states (user_id, expires_at)`
  yield* userOwnedTable("oauth_states")
})
