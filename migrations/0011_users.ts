import { Effect } from "effect"
import { SqlClient } from "effect/sql"
import { systemOnlyTable, userOwnedTable } from "../src/users/Rls.ts"

export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  // Emails are stored normalised (trimmed, lower case), so the unique index is the duplicate check.
  yield* sql`
    CREATE TABLE users (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      email text NOT NULL CHECK (email = lower(btrim(email)) AND length(email) BETWEEN 3 AND 254),
      password_hash text NOT NULL,
      role text NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin')),
      disabled_at timestamptz,
      last_login_at timestamptz,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now()
    )`
  yield* sql`CREATE UNIQUE INDEX users_email ON users (email)`
  // A user's own row is theirs: the app role sees only the row whose id is the scope's user.
  yield* userOwnedTable("users", { ownerColumn: "id" })

  // Single-use registration codes issued by admins; only their SHA-256 is stored.
  yield* sql`
    CREATE TABLE invites (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      code_hash text NOT NULL UNIQUE,
      email text CHECK (email IS NULL OR email = lower(btrim(email))),
      created_by uuid REFERENCES users (id) ON DELETE SET NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      expires_at timestamptz NOT NULL,
      used_at timestamptz,
      used_by uuid REFERENCES users (id) ON DELETE SET NULL
    )`
  yield* systemOnlyTable("invites")

  // Bearer tokens for scripts; only the SHA-256 of the secret is stored.
  yield* sql`
    CREATE TABLE api_tokens (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
      name text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
      token_hash text NOT NULL UNIQUE,
      token_prefix text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      expires_at timestamptz,
      last_used_at timestamptz,
      revoked_at timestamptz
    )`
  yield* sql`CREATE INDEX api_tokens_owner ON api_tokens (user_id, created_at DESC)`
  yield* userOwnedTable("api_tokens")
})
