/**
 * Writes a KI-Mail-Helper database the way the old system leaves it: its real table and column names,
 * types and NOT NULL columns for the tables the import reads (src/import/README.md, "The old schema";
 * upstream `src/02_models.py` and the Alembic baseline `55a17d1115b6`), a subset of the other columns.
 * Encrypted like the old system (upstream `src/08_encryption.py`, `src/07_auth.py`): `users.salt` is
 * base64 of 32 random bytes; the data key (32 random bytes) is wrapped with AES-256-GCM under
 * PBKDF2-HMAC-SHA256 (600,000 iterations) of the password, base64(iv 12 | ciphertext | tag 16); every
 * secret field has that form under the data key, an empty one is "". A user may instead carry the
 * pre-DEK `encrypted_master_key` (`salt:iv:ciphertext:tag`, 100,000 iterations). The sender is
 * stored as the old fetcher wrote it: `"Name" <address>`, or the bare address without a name.
 * SQLite through node:sqlite, PostgreSQL through psql as the test server's owner.
 */
import { spawnSync } from "node:child_process"
import { createCipheriv, pbkdf2Sync, randomBytes } from "node:crypto"
import { DatabaseSync } from "node:sqlite"

export interface OldAccountSpec {
  readonly id: number
  readonly name: string
  /** `imap` (the default) or `oauth`. */
  readonly authType?: string
  readonly host: string
  readonly port: number | null
  /** `SSL`, `STARTTLS` or `NONE` in the old system. */
  readonly encryption: string
  readonly username: string
  readonly password: string
  readonly enabled: boolean
  readonly includeFolders: ReadonlyArray<string> | null
  readonly excludeFolders: ReadonlyArray<string> | null
}

export interface OldRuleSpec {
  readonly id: number
  readonly name: string
  readonly active: boolean
  readonly priority: number
  readonly conditions: Record<string, unknown>
  readonly actions: Record<string, unknown>
}

export interface OldMailSpec {
  readonly id: number
  readonly accountId: number
  readonly messageId: string | null
  readonly folder: string
  readonly uid: number
  /** The display name ("" for none) and address of the sender. */
  readonly from?: { readonly name: string; readonly address: string }
  readonly subject: string
  readonly overrides: {
    readonly urgency: number | null
    readonly importance: number | null
    /** Old values: aktion_erforderlich, dringend, nur_information. */
    readonly category: string | null
    readonly spam?: boolean | null
    /** The correction form's comma-joined copy of the tags. */
    readonly tagList?: string | null
  } | null
  readonly tagIds: ReadonlyArray<number>
}

export interface OldUserSpec {
  readonly id: number
  readonly email: string
  readonly masterPassword: string
  /** `dek` (users.salt + encrypted_dek, the default) or the pre-DEK `encrypted_master_key`. */
  readonly keyFormat?: "dek" | "masterKey"
  readonly accounts: ReadonlyArray<OldAccountSpec>
  readonly rules: ReadonlyArray<OldRuleSpec>
  readonly mails: ReadonlyArray<OldMailSpec>
  readonly tags: ReadonlyArray<{ readonly id: number; readonly name: string }>
  readonly trustedSenders: ReadonlyArray<{ readonly id: number; readonly pattern: string; readonly type: string }>
}

export interface OldInstallation {
  /** The Alembic revision written to alembic_version; null: no alembic_version table (create_all only). */
  readonly schemaVersion: string | null
  /** An old SQLite file that never ran the one-off script adding processed_emails.user_override_*. */
  readonly withoutOverrideColumns?: boolean
  readonly users: ReadonlyArray<OldUserSpec>
}

const gcm = (key: Buffer, plaintext: Buffer): string => {
  const iv = randomBytes(12)
  const cipher = createCipheriv("aes-256-gcm", key, iv)
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()])
  return Buffer.concat([iv, ciphertext, cipher.getAuthTag()]).toString("base64")
}

/** The pre-DEK `encrypted_master_key` of the old `encrypt_master_key`, readable by its reader (100,000 rounds). */
const legacyMasterKey = (password: string, key: Buffer): string => {
  const salt = randomBytes(16)
  const iv = randomBytes(12)
  const kek = pbkdf2Sync(Buffer.from(password, "utf8"), salt, 100_000, 32, "sha256")
  const cipher = createCipheriv("aes-256-gcm", kek, iv)
  const ciphertext = Buffer.concat([cipher.update(Buffer.from(key.toString("base64"), "utf8")), cipher.final()])
  return [salt, iv, ciphertext, cipher.getAuthTag()].map((part) => part.toString("base64")).join(":")
}

const ddl = (dialect: "sqlite" | "postgres", installation: OldInstallation): ReadonlyArray<string> => {
  const serial = dialect === "sqlite" ? "INTEGER PRIMARY KEY" : "SERIAL PRIMARY KEY"
  const bool = "BOOLEAN"
  const time = dialect === "sqlite" ? "DATETIME" : "TIMESTAMP WITHOUT TIME ZONE"
  const overrides = installation.withoutOverrideColumns
    ? ""
    : `, user_override_dringlichkeit INTEGER, user_override_wichtigkeit INTEGER,
       user_override_kategorie VARCHAR(50), user_override_spam_flag ${bool}, user_override_tags VARCHAR(500),
       correction_timestamp ${time}`
  return [
    ...(installation.schemaVersion === null
      ? []
      : ["CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY)"]),
    `CREATE TABLE users (id ${serial}, username VARCHAR(80) NOT NULL UNIQUE, email VARCHAR(255) NOT NULL UNIQUE,
       password_hash VARCHAR(255) NOT NULL, salt TEXT, encrypted_dek TEXT, encrypted_master_key TEXT,
       totp_enabled ${bool}, enable_auto_fetch ${bool}, created_at ${time})`,
    `CREATE TABLE mail_accounts (id ${serial}, user_id INTEGER NOT NULL REFERENCES users(id), name VARCHAR(100) NOT NULL,
       auth_type VARCHAR(20) NOT NULL, encrypted_imap_server TEXT, imap_server_hash VARCHAR(64), imap_port INTEGER,
       encrypted_imap_username TEXT, imap_username_hash VARCHAR(64), encrypted_imap_password TEXT,
       imap_encryption VARCHAR(50), encrypted_smtp_server TEXT, smtp_port INTEGER, oauth_provider VARCHAR(20),
       encrypted_oauth_token TEXT, enabled ${bool}, last_fetch_at ${time}, initial_sync_done ${bool} NOT NULL,
       fetch_since_date DATE, fetch_unseen_only ${bool}, fetch_include_folders TEXT, fetch_exclude_folders TEXT,
       folder_uidvalidity TEXT)`,
    `CREATE TABLE auto_rules (id ${serial}, user_id INTEGER NOT NULL REFERENCES users(id), name VARCHAR(100) NOT NULL,
       description TEXT, is_active ${bool} NOT NULL, priority INTEGER NOT NULL, conditions_json TEXT NOT NULL,
       actions_json TEXT NOT NULL, enable_learning ${bool} NOT NULL DEFAULT FALSE, times_triggered INTEGER NOT NULL,
       last_triggered_at ${time}, created_at ${time} NOT NULL, updated_at ${time} NOT NULL)`,
    `CREATE TABLE raw_emails (id ${serial}, user_id INTEGER NOT NULL REFERENCES users(id),
       mail_account_id INTEGER NOT NULL REFERENCES mail_accounts(id), encrypted_sender TEXT NOT NULL,
       encrypted_subject TEXT, encrypted_body TEXT, received_at ${time} NOT NULL, deleted_at ${time},
       imap_uid INTEGER, imap_folder VARCHAR(200) NOT NULL, imap_uidvalidity INTEGER, message_id VARCHAR(512),
       has_attachments ${bool}, auto_rules_processed ${bool} NOT NULL DEFAULT FALSE)`,
    `CREATE TABLE processed_emails (id ${serial}, raw_email_id INTEGER NOT NULL UNIQUE REFERENCES raw_emails(id),
       dringlichkeit INTEGER, wichtigkeit INTEGER, kategorie_aktion VARCHAR(50), spam_flag ${bool},
       encrypted_summary_de TEXT, score INTEGER, farbe VARCHAR(10), done ${bool}, processed_at ${time},
       deleted_at ${time}${overrides})`,
    `CREATE TABLE email_tags (id ${serial}, name VARCHAR(50) NOT NULL, color VARCHAR(20) NOT NULL,
       user_id INTEGER NOT NULL REFERENCES users(id), created_at ${time}, description TEXT,
       CONSTRAINT uq_user_tag_name UNIQUE (user_id, name))`,
    `CREATE TABLE email_tag_assignments (id ${serial}, email_id INTEGER NOT NULL REFERENCES processed_emails(id),
       tag_id INTEGER NOT NULL REFERENCES email_tags(id), assigned_at ${time}, auto_assigned ${bool} NOT NULL,
       CONSTRAINT uq_email_tag UNIQUE (email_id, tag_id))`,
    `CREATE TABLE trusted_senders (id ${serial}, user_id INTEGER NOT NULL REFERENCES users(id),
       account_id INTEGER REFERENCES mail_accounts(id), sender_pattern VARCHAR(255) NOT NULL,
       pattern_type VARCHAR(20) NOT NULL, label VARCHAR(100), use_urgency_booster ${bool} NOT NULL,
       added_at ${time} NOT NULL, last_seen_at ${time}, email_count INTEGER NOT NULL,
       CONSTRAINT uq_user_sender UNIQUE (user_id, sender_pattern))`
  ]
}

type Value = string | number | boolean | null

const now = "2025-03-01 09:00:00"

const rowsOf = (installation: OldInstallation): ReadonlyArray<{ table: string; row: Record<string, Value> }> => {
  const rows: Array<{ table: string; row: Record<string, Value> }> = []
  if (installation.schemaVersion !== null) {
    rows.push({ table: "alembic_version", row: { version_num: installation.schemaVersion } })
  }
  let assignment = 1
  for (const user of installation.users) {
    const salt = randomBytes(32)
    const dek = randomBytes(32)
    const seal = (text: string) => (text === "" ? "" : gcm(dek, Buffer.from(text, "utf8")))
    const keys =
      user.keyFormat === "masterKey"
        ? { salt: null, encrypted_dek: null, encrypted_master_key: legacyMasterKey(user.masterPassword, dek) }
        : {
            salt: salt.toString("base64"),
            encrypted_dek: gcm(pbkdf2Sync(Buffer.from(user.masterPassword, "utf8"), salt, 600_000, 32, "sha256"), dek),
            encrypted_master_key: null
          }
    rows.push({
      table: "users",
      row: {
        id: user.id,
        username: `user${user.id}`,
        email: user.email,
        password_hash: "scrypt:32768:8:1$not-a-real-hash",
        ...keys,
        totp_enabled: false,
        enable_auto_fetch: false,
        created_at: now
      }
    })
    for (const a of user.accounts) {
      const oauth = (a.authType ?? "imap") !== "imap"
      rows.push({
        table: "mail_accounts",
        row: {
          id: a.id,
          user_id: user.id,
          name: a.name,
          auth_type: a.authType ?? "imap",
          encrypted_imap_server: oauth ? null : seal(a.host),
          imap_port: a.port,
          encrypted_imap_username: oauth ? null : seal(a.username),
          encrypted_imap_password: oauth ? null : seal(a.password),
          imap_encryption: a.encryption,
          oauth_provider: oauth ? "google" : null,
          encrypted_oauth_token: oauth ? seal(a.password) : null,
          enabled: a.enabled,
          initial_sync_done: true,
          fetch_include_folders: a.includeFolders === null ? null : JSON.stringify(a.includeFolders),
          fetch_exclude_folders: a.excludeFolders === null ? null : JSON.stringify(a.excludeFolders)
        }
      })
    }
    for (const r of user.rules) {
      rows.push({
        table: "auto_rules",
        row: {
          id: r.id,
          user_id: user.id,
          name: r.name,
          is_active: r.active,
          priority: r.priority,
          conditions_json: JSON.stringify(r.conditions),
          actions_json: JSON.stringify(r.actions),
          enable_learning: false,
          times_triggered: 0,
          created_at: now,
          updated_at: now
        }
      })
    }
    for (const t of user.tags) {
      rows.push({ table: "email_tags", row: { id: t.id, user_id: user.id, name: t.name, color: "#3B82F6" } })
    }
    for (const m of user.mails) {
      const from = m.from ?? { name: "", address: "someone@example.org" }
      rows.push({
        table: "raw_emails",
        row: {
          id: m.id,
          user_id: user.id,
          mail_account_id: m.accountId,
          encrypted_sender: seal(from.name === "" ? from.address : `"${from.name}" <${from.address}>`),
          encrypted_subject: seal(m.subject),
          encrypted_body: seal(""),
          received_at: now,
          imap_uid: m.uid,
          imap_folder: m.folder,
          message_id: m.messageId,
          has_attachments: false
        }
      })
      const o = m.overrides
      rows.push({
        table: "processed_emails",
        row: {
          id: m.id,
          raw_email_id: m.id,
          dringlichkeit: 2,
          wichtigkeit: 2,
          kategorie_aktion: "nur_information",
          spam_flag: false,
          ...(installation.withoutOverrideColumns
            ? {}
            : {
                user_override_dringlichkeit: o?.urgency ?? null,
                user_override_wichtigkeit: o?.importance ?? null,
                user_override_kategorie: o?.category ?? null,
                user_override_spam_flag: o?.spam ?? null,
                user_override_tags: o?.tagList ?? null
              })
        }
      })
      for (const tagId of m.tagIds) {
        rows.push({
          table: "email_tag_assignments",
          row: { id: assignment++, email_id: m.id, tag_id: tagId, auto_assigned: false }
        })
      }
    }
    for (const s of user.trustedSenders) {
      rows.push({
        table: "trusted_senders",
        row: {
          id: s.id,
          user_id: user.id,
          account_id: null,
          sender_pattern: s.pattern,
          pattern_type: s.type,
          label: null,
          use_urgency_booster: true,
          added_at: now,
          email_count: 0
        }
      })
    }
  }
  return rows
}

const literal = (value: Value, dialect: "sqlite" | "postgres"): string => {
  if (value === null) return "NULL"
  if (typeof value === "boolean") return dialect === "sqlite" ? (value ? "1" : "0") : value ? "TRUE" : "FALSE"
  if (typeof value === "number") return String(value)
  return `'${value.replaceAll("'", "''")}'`
}

const script = (installation: OldInstallation, dialect: "sqlite" | "postgres"): string =>
  [
    ...ddl(dialect, installation),
    ...rowsOf(installation).map(
      ({ table, row }) =>
        `INSERT INTO ${table} (${Object.keys(row).join(", ")}) VALUES (${Object.values(row)
          .map((v) => literal(v, dialect))
          .join(", ")})`
    )
  ].join(";\n")

/** Writes the installation into a new SQLite file. */
export const writeSqlite = (file: string, installation: OldInstallation): void => {
  const db = new DatabaseSync(file)
  try {
    db.exec(`BEGIN;\n${script(installation, "sqlite")};\nCOMMIT;`)
  } finally {
    db.close()
  }
}

/** Writes the installation into an (empty) PostgreSQL database as its owner. */
export const writePostgres = (databaseUrl: string, installation: OldInstallation): void => {
  const result = spawnSync("psql", [databaseUrl, "-v", "ON_ERROR_STOP=1", "-q", "-1"], {
    input: `${script(installation, "postgres")};\n`,
    encoding: "utf8"
  })
  if (result.status !== 0) throw new Error(`psql failed: ${result.stderr}`)
}
