/**
 * Writes a KI-Mail-Helper database the way the old system leaves it (the tables and columns
 * src/import/README.md lists), encrypted like the old system: the user's data key (32 random bytes)
 * wrapped with AES-256-GCM under PBKDF2-HMAC-SHA256 (600,000 iterations) of the master password, and
 * every secret field base64(iv | ciphertext | tag) under the data key. SQLite through node:sqlite,
 * PostgreSQL through psql as the test server's owner.
 */
import { spawnSync } from "node:child_process"
import { createCipheriv, pbkdf2Sync, randomBytes } from "node:crypto"
import { DatabaseSync } from "node:sqlite"

export interface OldAccountSpec {
  readonly id: number
  readonly name: string
  readonly host: string
  readonly port: number | null
  readonly encryption: string
  readonly username: string
  readonly password: string
  readonly enabled: boolean
  readonly fetchIntervalMinutes: number | null
  readonly folders: ReadonlyArray<string> | null
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
  readonly subject: string
  readonly overrides: {
    readonly urgency: number | null
    readonly importance: number | null
    readonly category: string | null
  } | null
  readonly tagIds: ReadonlyArray<number>
}

export interface OldUserSpec {
  readonly id: number
  readonly email: string
  readonly masterPassword: string
  readonly accounts: ReadonlyArray<OldAccountSpec>
  readonly rules: ReadonlyArray<OldRuleSpec>
  readonly mails: ReadonlyArray<OldMailSpec>
  readonly tags: ReadonlyArray<{ readonly id: number; readonly name: string }>
  readonly trustedSenders: ReadonlyArray<{ readonly id: number; readonly pattern: string; readonly type: string }>
}

export interface OldInstallation {
  readonly schemaVersion: string
  readonly users: ReadonlyArray<OldUserSpec>
}

const gcm = (key: Buffer, plaintext: Buffer): string => {
  const iv = randomBytes(12)
  const cipher = createCipheriv("aes-256-gcm", key, iv)
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()])
  return Buffer.concat([iv, ciphertext, cipher.getAuthTag()]).toString("base64")
}

const ddl = (dialect: "sqlite" | "postgres"): ReadonlyArray<string> => {
  const bool = dialect === "sqlite" ? "INTEGER" : "BOOLEAN"
  return [
    "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY)",
    "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL, salt TEXT NOT NULL, encrypted_dek TEXT NOT NULL)",
    `CREATE TABLE mail_accounts (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL, name TEXT,
       encrypted_imap_server TEXT NOT NULL, imap_port INTEGER, imap_encryption TEXT,
       encrypted_imap_username TEXT NOT NULL, encrypted_imap_password TEXT NOT NULL, enabled ${bool},
       fetch_interval_minutes INTEGER, folders_json TEXT)`,
    `CREATE TABLE auto_rules (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL, name TEXT, is_active ${bool},
       priority INTEGER, conditions_json TEXT, actions_json TEXT)`,
    `CREATE TABLE raw_emails (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL, mail_account_id INTEGER NOT NULL,
       message_id TEXT, imap_folder TEXT, imap_uid INTEGER, encrypted_subject TEXT)`,
    `CREATE TABLE processed_emails (id INTEGER PRIMARY KEY, raw_email_id INTEGER NOT NULL, urgency INTEGER,
       importance INTEGER, category TEXT, user_override_urgency INTEGER, user_override_importance INTEGER,
       user_override_category TEXT)`,
    "CREATE TABLE email_tags (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL, name TEXT NOT NULL, color TEXT)",
    "CREATE TABLE email_tag_assignments (id INTEGER PRIMARY KEY, email_id INTEGER NOT NULL, tag_id INTEGER NOT NULL)",
    `CREATE TABLE trusted_senders (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL, sender_pattern TEXT NOT NULL,
       pattern_type TEXT, label TEXT, account_id INTEGER)`
  ]
}

type Value = string | number | boolean | null

const rowsOf = (installation: OldInstallation): ReadonlyArray<{ table: string; row: Record<string, Value> }> => {
  const rows: Array<{ table: string; row: Record<string, Value> }> = []
  rows.push({ table: "alembic_version", row: { version_num: installation.schemaVersion } })
  let assignment = 1
  for (const user of installation.users) {
    const salt = randomBytes(32)
    const dek = randomBytes(32)
    const kek = pbkdf2Sync(Buffer.from(user.masterPassword, "utf8"), salt, 600_000, 32, "sha256")
    const seal = (text: string) => (text === "" ? "" : gcm(dek, Buffer.from(text, "utf8")))
    rows.push({
      table: "users",
      row: { id: user.id, email: user.email, salt: salt.toString("base64"), encrypted_dek: gcm(kek, dek) }
    })
    for (const a of user.accounts) {
      rows.push({
        table: "mail_accounts",
        row: {
          id: a.id,
          user_id: user.id,
          name: a.name,
          encrypted_imap_server: seal(a.host),
          imap_port: a.port,
          imap_encryption: a.encryption,
          encrypted_imap_username: seal(a.username),
          encrypted_imap_password: seal(a.password),
          enabled: a.enabled,
          fetch_interval_minutes: a.fetchIntervalMinutes,
          folders_json: a.folders === null ? null : JSON.stringify(a.folders)
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
          actions_json: JSON.stringify(r.actions)
        }
      })
    }
    for (const t of user.tags) {
      rows.push({ table: "email_tags", row: { id: t.id, user_id: user.id, name: t.name, color: "#ff0000" } })
    }
    for (const m of user.mails) {
      rows.push({
        table: "raw_emails",
        row: {
          id: m.id,
          user_id: user.id,
          mail_account_id: m.accountId,
          message_id: m.messageId,
          imap_folder: m.folder,
          imap_uid: m.uid,
          encrypted_subject: seal(m.subject)
        }
      })
      rows.push({
        table: "processed_emails",
        row: {
          id: m.id,
          raw_email_id: m.id,
          urgency: 2,
          importance: 2,
          category: "nur_information",
          user_override_urgency: m.overrides?.urgency ?? null,
          user_override_importance: m.overrides?.importance ?? null,
          user_override_category: m.overrides?.category ?? null
        }
      })
      for (const tagId of m.tagIds) {
        rows.push({ table: "email_tag_assignments", row: { id: assignment++, email_id: m.id, tag_id: tagId } })
      }
    }
    for (const s of user.trustedSenders) {
      rows.push({
        table: "trusted_senders",
        row: {
          id: s.id,
          user_id: user.id,
          sender_pattern: s.pattern,
          pattern_type: s.type,
          label: null,
          account_id: null
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
    ...ddl(dialect),
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
