import { Effect } from "effect"
import { SqlClient } from "effect/sql"
import { userOwnedTable } from "../src/users/Rls.ts"

/**
 * The mirror of each user's IMAP accounts. Every table carries user_id and
 * row-level security; mailbox rows hold the sync checkpoint; an email is
 * unique per mailbox + UIDVALIDITY + UID, so a re-run of a sync upserts.
 */
export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient

  yield* sql`
    CREATE TABLE mail_accounts (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
      label text NOT NULL CHECK (length(label) BETWEEN 1 AND 100),
      host text NOT NULL CHECK (length(host) BETWEEN 1 AND 253),
      port integer NOT NULL CHECK (port BETWEEN 1 AND 65535),
      security text NOT NULL CHECK (security IN ('tls', 'starttls', 'none')),
      username text NOT NULL CHECK (length(username) BETWEEN 1 AND 320),
      -- AES-256-GCM under the keyring, associated data 'mail_accounts:<id>:password'
      password_sealed text NOT NULL,
      sync_interval_minutes integer CHECK (sync_interval_minutes IS NULL OR sync_interval_minutes BETWEEN 1 AND 1440),
      status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'auth_failed', 'unreachable', 'disabled')),
      status_message text,
      last_synced_at timestamptz,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now()
    )`
  yield* sql`CREATE UNIQUE INDEX mail_accounts_identity ON mail_accounts (user_id, lower(host), port, username)`
  yield* userOwnedTable("mail_accounts")

  yield* sql`
    CREATE TABLE mailboxes (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
      account_id uuid NOT NULL REFERENCES mail_accounts (id) ON DELETE CASCADE,
      path text NOT NULL,
      name text NOT NULL,
      delimiter text,
      special_use text CHECK (special_use IN ('inbox', 'sent', 'drafts', 'trash', 'junk', 'archive', 'all', 'flagged')),
      selectable boolean NOT NULL DEFAULT true,
      uid_validity bigint,
      uid_next bigint,
      highest_modseq text,
      -- checkpoint: every message with a UID up to here is stored (under uid_validity)
      last_uid bigint NOT NULL DEFAULT 0,
      message_count integer NOT NULL DEFAULT 0,
      unread_count integer NOT NULL DEFAULT 0,
      last_synced_at timestamptz,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now(),
      UNIQUE (account_id, path)
    )`
  yield* sql`CREATE INDEX mailboxes_owner ON mailboxes (user_id)`
  yield* userOwnedTable("mailboxes")

  // Full text over subject (weight A), sender (B) and body (C), stemmed in
  // English and German both: queries combine both configurations.
  yield* sql`
    CREATE TABLE emails (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
      account_id uuid NOT NULL REFERENCES mail_accounts (id) ON DELETE CASCADE,
      mailbox_id uuid NOT NULL REFERENCES mailboxes (id) ON DELETE CASCADE,
      uid_validity bigint NOT NULL,
      uid bigint NOT NULL,
      message_id text,
      in_reply_to text,
      references_ids text[] NOT NULL DEFAULT '{}',
      thread_id text NOT NULL,
      subject text,
      from_name text,
      from_address text,
      to_addresses jsonb NOT NULL DEFAULT '[]',
      cc_addresses jsonb NOT NULL DEFAULT '[]',
      bcc_addresses jsonb NOT NULL DEFAULT '[]',
      reply_to jsonb NOT NULL DEFAULT '[]',
      sent_at timestamptz,
      received_at timestamptz,
      flags text[] NOT NULL DEFAULT '{}',
      seen boolean NOT NULL DEFAULT false,
      flagged boolean NOT NULL DEFAULT false,
      size integer NOT NULL DEFAULT 0,
      text_body text,
      html_body text,
      headers jsonb NOT NULL DEFAULT '{}',
      has_attachments boolean NOT NULL DEFAULT false,
      parse_warnings text[] NOT NULL DEFAULT '{}',
      modseq text,
      analysis_state text NOT NULL DEFAULT 'pending' CHECK (analysis_state IN ('pending', 'analysed', 'failed')),
      analysis_attempts integer NOT NULL DEFAULT 0,
      analysis_error text,
      embedding_state text NOT NULL DEFAULT 'pending' CHECK (embedding_state IN ('pending', 'embedded', 'failed')),
      search_vector tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('simple', coalesce(subject, '')), 'A') ||
        setweight(to_tsvector('english', coalesce(subject, '')), 'A') ||
        setweight(to_tsvector('german', coalesce(subject, '')), 'A') ||
        setweight(to_tsvector('simple', coalesce(from_name, '') || ' ' || coalesce(from_address, '')), 'B') ||
        setweight(to_tsvector('english', left(coalesce(text_body, ''), 200000)), 'C') ||
        setweight(to_tsvector('german', left(coalesce(text_body, ''), 200000)), 'C')
      ) STORED,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now(),
      UNIQUE (mailbox_id, uid_validity, uid)
    )`
  yield* sql`CREATE INDEX emails_owner_date ON emails (user_id, sent_at DESC NULLS LAST, id DESC)`
  yield* sql`CREATE INDEX emails_thread ON emails (user_id, thread_id)`
  yield* sql`CREATE INDEX emails_message_id ON emails (account_id, message_id) WHERE message_id IS NOT NULL`
  yield* sql`CREATE INDEX emails_mailbox_uid ON emails (mailbox_id, uid)`
  yield* sql`CREATE INDEX emails_search ON emails USING gin (search_vector)`
  yield* sql`CREATE INDEX emails_analysis_pending ON emails (user_id, created_at) WHERE analysis_state = 'pending'`
  yield* sql`CREATE INDEX emails_embedding_pending ON emails (user_id, created_at) WHERE embedding_state = 'pending'`
  yield* userOwnedTable("emails")

  yield* sql`
    CREATE TABLE attachments (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
      email_id uuid NOT NULL REFERENCES emails (id) ON DELETE CASCADE,
      position integer NOT NULL,
      filename text,
      content_type text NOT NULL,
      size integer NOT NULL,
      content_id text,
      disposition text,
      sha256 text,
      UNIQUE (email_id, position)
    )`
  yield* userOwnedTable("attachments")
})
