/**
 * Reading an old KI-Mail-Helper database: a SQLite file (`node:sqlite`, read-only) or a PostgreSQL
 * URL (a one-connection `@effect/sql-pg` client of its own, apart from ours). Only the tables and
 * columns listed in src/import/README.md are read, for one user, and only after the Alembic revision
 * was found among `KnownSchemaVersions`. What comes back is still encrypted (`OldSnapshot`): the
 * decryption is `OldCrypto.ts`'s, in memory.
 */
import { DatabaseSync } from "node:sqlite"
import { PgClient } from "@effect/sql-pg"
import { Config, Effect, Option, Redacted, Schema } from "effect"
import { ImportSourceUnreadable, ImportUserNotFound, UnknownSchemaVersion } from "./ImportErrors.ts"

/**
 * The Alembic revisions this reader handles, per kind of source (src/import/README.md, "The old
 * schema"). The old project has two migration chains: the SQLite one (ids such as
 * `ph18_trusted_senders`, archived upstream in `migrations/versions_sqlite_legacy/`) and, since its
 * move to PostgreSQL, a new chain starting at the baseline `55a17d1115b6`. The ranges start at the
 * first revision where every table read here exists (SQLite: `ph18_trusted_senders` created
 * `trusted_senders`) and end at the newest revision checked. The id `f1a2b3c4d5e6` exists in both
 * chains (an early SQLite revision, before the data key existed, and the current PostgreSQL head):
 * it is accepted for PostgreSQL only.
 */
export const SqliteSchemaVersions = [
  "ph18_trusted_senders",
  "ph19_trusted_senders_account_id",
  "ph20_trusted_senders_index",
  "ph21_account_urgency_booster",
  "ph_y_spacy_hybrid",
  "p1_002_remove_deleted_verm",
  "3b3c3e2a5279",
  "25405a1758ce",
  "ph22_sanitization_storage",
  "ph22b_add_entity_map"
] as const
export const PostgresSchemaVersions = [
  "55a17d1115b6",
  "0490296358e5",
  "df80ed2daa74",
  "07f565a456dd",
  "a1b2c3d4e5f6",
  "b2c3d4e5f6g7",
  "c3d4e5f6g7h8",
  "d0b8c96df420",
  "6b293d67c016",
  "7e6b745cb05c",
  "e8f7g8h9i0j1",
  "add_embedding_model_to_tags",
  "de3d584b6293",
  "003181942ae3",
  "46a0f5ab4550",
  "f1a2b3c4d5e6"
] as const
/** Every revision accepted from some source. */
export const KnownSchemaVersions: ReadonlyArray<string> = [...SqliteSchemaVersions, ...PostgresSchemaVersions]
export const knownSchemaVersionsFor = (kind: OldSource["_tag"]): ReadonlyArray<string> =>
  kind === "sqlite" ? SqliteSchemaVersions : PostgresSchemaVersions

const OldId = Schema.Union([Schema.Number, Schema.String, Schema.BigInt])
const OldFlag = Schema.Union([Schema.Boolean, Schema.Number, Schema.Null])
const OldText = Schema.NullOr(Schema.String)
const OldInt = Schema.NullOr(Schema.Union([Schema.Number, Schema.String, Schema.BigInt]))

const UserRow = Schema.Struct({
  id: OldId,
  email: Schema.String,
  salt: OldText,
  encrypted_dek: OldText,
  encrypted_master_key: OldText
})
const AccountRow = Schema.Struct({
  id: OldId,
  name: OldText,
  auth_type: OldText,
  encrypted_imap_server: OldText,
  imap_port: OldInt,
  imap_encryption: OldText,
  encrypted_imap_username: OldText,
  encrypted_imap_password: OldText,
  enabled: OldFlag,
  fetch_include_folders: OldText,
  fetch_exclude_folders: OldText
})
const RuleRow = Schema.Struct({
  id: OldId,
  name: OldText,
  is_active: OldFlag,
  priority: OldInt,
  conditions_json: OldText,
  actions_json: OldText
})
const CorrectionRow = Schema.Struct({
  id: OldId,
  mail_account_id: OldId,
  message_id: OldText,
  imap_folder: OldText,
  imap_uid: OldInt,
  user_override_dringlichkeit: OldInt,
  user_override_wichtigkeit: OldInt,
  user_override_kategorie: OldText,
  user_override_spam_flag: OldFlag,
  user_override_tags: OldText
})
const TagRow = Schema.Struct({ id: OldId, name: Schema.String })
const AssignmentRow = Schema.Struct({ processed_email_id: OldId, tag_id: OldId })
const TrustedRow = Schema.Struct({
  id: OldId,
  sender_pattern: Schema.String,
  pattern_type: OldText,
  label: OldText
})

export interface OldAccount {
  readonly id: string
  readonly name: string | null
  /** `imap` or `oauth` (older rows: `pop3`); only `imap` accounts can be imported. */
  readonly authType: string | null
  /** Encrypted under the data key; "" or null when not set (OAuth accounts). */
  readonly encryptedHost: string | null
  readonly port: number | null
  readonly encryption: string | null
  readonly encryptedUsername: string | null
  readonly encryptedPassword: string | null
  readonly enabled: boolean
  /** JSON lists of folder names the old fetch was limited to / left out. */
  readonly includeFoldersJson: string | null
  readonly excludeFoldersJson: string | null
}

export interface OldRule {
  readonly id: string
  readonly name: string | null
  readonly active: boolean
  readonly priority: number | null
  readonly conditionsJson: string | null
  readonly actionsJson: string | null
}

/** One processed mail with the user's overrides (null: not overridden) and its tags. */
export interface OldCorrection {
  readonly id: string
  readonly accountId: string
  readonly messageId: string | null
  readonly folder: string | null
  readonly uid: number | null
  readonly urgency: number | null
  readonly importance: number | null
  readonly category: string | null
  /** The user's spam verdict (null: not corrected); we have no spam override to carry it. */
  readonly spam: boolean | null
  readonly tags: ReadonlyArray<string>
}

export interface OldTrustedSender {
  readonly id: string
  readonly pattern: string
  readonly patternType: string | null
  readonly label: string | null
}

/** One user's rows of the old database, encrypted fields still encrypted. */
export interface OldSnapshot {
  readonly schemaVersion: string
  readonly user: {
    readonly id: string
    readonly email: string
    readonly salt: string | null
    readonly wrappedDek: string | null
    /** The key format from before the data key existed (`salt:iv:ciphertext:tag`), when no DEK is set. */
    readonly legacyMasterKey: string | null
  }
  readonly accounts: ReadonlyArray<OldAccount>
  readonly rules: ReadonlyArray<OldRule>
  readonly corrections: ReadonlyArray<OldCorrection>
  readonly tags: ReadonlyArray<{ readonly id: string; readonly name: string; readonly assigned: number }>
  readonly trustedSenders: ReadonlyArray<OldTrustedSender>
}

/** Where the old data is: a SQLite file path, or a postgres:// URL (a secret: it may hold a password). */
export type OldSource =
  | { readonly _tag: "sqlite"; readonly path: string }
  | { readonly _tag: "postgres"; readonly url: Redacted.Redacted<string> }

export const parseSource = (from: string): OldSource =>
  /^postgres(ql)?:\/\//i.test(from) ? { _tag: "postgres", url: Redacted.make(from) } : { _tag: "sqlite", path: from }

export const describeSource = (source: OldSource): string => {
  if (source._tag === "sqlite") return source.path
  // never the password of the URL
  try {
    const url = new URL(Redacted.value(source.url))
    return `postgresql://${url.host}${url.pathname}`
  } catch {
    return "postgresql (invalid URL)"
  }
}

/** `?` placeholders, rows as plain objects; one implementation per driver. */
interface Query {
  readonly all: (
    query: string,
    params: ReadonlyArray<string>
  ) => Effect.Effect<ReadonlyArray<unknown>, ImportSourceUnreadable>
  /** The column names of a table (none: no such table). */
  readonly columns: (table: string) => Effect.Effect<ReadonlySet<string>, ImportSourceUnreadable>
}

const toStr = (id: string | number | bigint): string => String(id)
const toInt = (value: string | number | bigint | null): number | null => {
  if (value === null) return null
  const n = Number(value)
  return Number.isFinite(n) ? n : null
}
const toBool = (value: boolean | number | null): boolean => value === true || value === 1
const toFlag = (value: boolean | number | null): boolean | null => (value === null ? null : toBool(value))

const unreadable = (source: OldSource, error: unknown): ImportSourceUnreadable => {
  // the driver's message names the problem (file is not a database, database disk image is
  // malformed, no such table); it never carries row contents. The URL is described without password.
  const detail = error instanceof Error ? error.message : String(error)
  const safe = source._tag === "postgres" ? detail.replaceAll(Redacted.value(source.url), "<url>") : detail
  return new ImportSourceUnreadable({ message: `cannot read ${describeSource(source)}: ${safe}` })
}

const decodeAll =
  <S extends Schema.Top & { readonly DecodingServices: never }>(schema: S, source: OldSource, table: string) =>
  (rows: ReadonlyArray<unknown>) =>
    Schema.decodeUnknownEffect(Schema.Array(schema))(rows).pipe(
      Effect.mapError(
        (error) =>
          new ImportSourceUnreadable({
            message: `${describeSource(source)}: table ${table} is not in the expected shape: ${error.message}`
          })
      )
    )

/**
 * Columns a file at an accepted revision may lack: the old SQLite installations got the
 * `user_override_*` columns from a one-off script (`src/16_migrate_user_corrections.py` upstream),
 * not from an Alembic revision, so their presence does not follow from `alembic_version`.
 */
const optionalColumns: Readonly<Record<string, ReadonlyArray<string>>> = {
  processed_emails: [
    "user_override_dringlichkeit",
    "user_override_wichtigkeit",
    "user_override_kategorie",
    "user_override_spam_flag",
    "user_override_tags"
  ],
  users: ["encrypted_master_key"]
}

/** `alias.column`, or `NULL AS column` when an optional column is missing. */
const optional = (present: ReadonlySet<string>, table: string, alias: string, column: string): string =>
  present.has(column) || !(optionalColumns[table] ?? []).includes(column) ? `${alias}.${column}` : `NULL AS ${column}`

/** The old correction form stores the tags as one comma-joined text (next to the tag assignments). */
const splitTagList = (text: string | null): ReadonlyArray<string> =>
  text === null
    ? []
    : text
        .split(",")
        .map((tag) => tag.trim())
        .filter((tag) => tag.length > 0)

const readSnapshot = (source: OldSource, db: Query, email: string) =>
  Effect.gen(function* () {
    const known = knownSchemaVersionsFor(source._tag)
    // an installation whose tables were made by create_all alone has no alembic_version table
    const hasVersionTable = (yield* db.columns("alembic_version")).has("version_num")
    const versions = hasVersionTable ? yield* db.all("SELECT version_num FROM alembic_version", []) : []
    const version = yield* Schema.decodeUnknownEffect(Schema.Array(Schema.Struct({ version_num: Schema.String })))(
      versions
    ).pipe(Effect.mapError((error) => unreadable(source, error)))
    const found = version.map((row) => row.version_num)
    const current = found[0]
    if (found.length !== 1 || current === undefined || !known.includes(current)) {
      const foundText = found.length === 0 ? "none (no alembic_version)" : found.join(", ")
      return yield* new UnknownSchemaVersion({
        message:
          `${describeSource(source)} is at schema version ${foundText}, which this import does not know; ` +
          `known versions (${source._tag}): ${known.join(", ")}`,
        found: foundText,
        known
      })
    }

    const userColumns = yield* db.columns("users")
    const users = yield* db
      .all(
        `SELECT u.id, u.email, u.salt, u.encrypted_dek, ${optional(userColumns, "users", "u", "encrypted_master_key")}
         FROM users u WHERE lower(u.email) = lower(?)`,
        [email]
      )
      .pipe(Effect.flatMap(decodeAll(UserRow, source, "users")))
    const user = users[0]
    if (user === undefined) {
      return yield* new ImportUserNotFound({
        message: `${describeSource(source)} has no user with email ${email}`
      })
    }
    const userId = toStr(user.id)

    const accounts = yield* db
      .all(
        `SELECT id, name, auth_type, encrypted_imap_server, imap_port, imap_encryption, encrypted_imap_username,
           encrypted_imap_password, enabled, fetch_include_folders, fetch_exclude_folders
         FROM mail_accounts WHERE user_id = ? ORDER BY id`,
        [userId]
      )
      .pipe(Effect.flatMap(decodeAll(AccountRow, source, "mail_accounts")))
    const rules = yield* db
      .all(
        `SELECT id, name, is_active, priority, conditions_json, actions_json
         FROM auto_rules WHERE user_id = ? ORDER BY priority, id`,
        [userId]
      )
      .pipe(Effect.flatMap(decodeAll(RuleRow, source, "auto_rules")))
    const processedColumns = yield* db.columns("processed_emails")
    const override = (column: string) => optional(processedColumns, "processed_emails", "p", column)
    const corrections = yield* db
      .all(
        `SELECT p.id, r.mail_account_id, r.message_id, r.imap_folder, r.imap_uid,
           ${override("user_override_dringlichkeit")}, ${override("user_override_wichtigkeit")},
           ${override("user_override_kategorie")}, ${override("user_override_spam_flag")},
           ${override("user_override_tags")}
         FROM processed_emails p JOIN raw_emails r ON r.id = p.raw_email_id
         WHERE r.user_id = ? ORDER BY p.id`,
        [userId]
      )
      .pipe(Effect.flatMap(decodeAll(CorrectionRow, source, "processed_emails")))
    const tags = yield* db
      .all("SELECT id, name FROM email_tags WHERE user_id = ? ORDER BY id", [userId])
      .pipe(Effect.flatMap(decodeAll(TagRow, source, "email_tags")))
    const assignments = yield* db
      .all(
        `SELECT a.email_id AS processed_email_id, a.tag_id FROM email_tag_assignments a
         JOIN email_tags t ON t.id = a.tag_id WHERE t.user_id = ? ORDER BY a.id`,
        [userId]
      )
      .pipe(Effect.flatMap(decodeAll(AssignmentRow, source, "email_tag_assignments")))
    const trusted = yield* db
      .all("SELECT id, sender_pattern, pattern_type, label FROM trusted_senders WHERE user_id = ? ORDER BY id", [
        userId
      ])
      .pipe(Effect.flatMap(decodeAll(TrustedRow, source, "trusted_senders")))

    const tagName = new Map(tags.map((tag) => [toStr(tag.id), tag.name]))
    const tagsOf = new Map<string, Array<string>>()
    const assignedCount = new Map<string, number>()
    for (const assignment of assignments) {
      const tagId = toStr(assignment.tag_id)
      const name = tagName.get(tagId)
      if (name === undefined) continue
      const key = toStr(assignment.processed_email_id)
      tagsOf.set(key, [...(tagsOf.get(key) ?? []), name])
      assignedCount.set(tagId, (assignedCount.get(tagId) ?? 0) + 1)
    }

    const snapshot: OldSnapshot = {
      schemaVersion: current,
      user: {
        id: userId,
        email: user.email,
        salt: user.salt,
        wrappedDek: user.encrypted_dek,
        legacyMasterKey: user.encrypted_master_key
      },
      accounts: accounts.map((row) => ({
        id: toStr(row.id),
        name: row.name,
        authType: row.auth_type,
        encryptedHost: row.encrypted_imap_server,
        port: toInt(row.imap_port),
        encryption: row.imap_encryption,
        encryptedUsername: row.encrypted_imap_username,
        encryptedPassword: row.encrypted_imap_password,
        enabled: toBool(row.enabled),
        includeFoldersJson: row.fetch_include_folders,
        excludeFoldersJson: row.fetch_exclude_folders
      })),
      rules: rules.map((row) => ({
        id: toStr(row.id),
        name: row.name,
        active: toBool(row.is_active),
        priority: toInt(row.priority),
        conditionsJson: row.conditions_json,
        actionsJson: row.actions_json
      })),
      corrections: corrections.map((row) => {
        // the assignments are the tags; the comma list is the correction form's copy of them
        const assigned = tagsOf.get(toStr(row.id)) ?? []
        const listed = splitTagList(row.user_override_tags).filter((tag) => !assigned.includes(tag))
        return {
          id: toStr(row.id),
          accountId: toStr(row.mail_account_id),
          messageId: row.message_id,
          folder: row.imap_folder,
          uid: toInt(row.imap_uid),
          urgency: toInt(row.user_override_dringlichkeit),
          importance: toInt(row.user_override_wichtigkeit),
          category: row.user_override_kategorie,
          spam: toFlag(row.user_override_spam_flag),
          tags: [...assigned, ...listed]
        }
      }),
      tags: tags.map((row) => ({
        id: toStr(row.id),
        name: row.name,
        assigned: assignedCount.get(toStr(row.id)) ?? 0
      })),
      trustedSenders: trusted.map((row) => ({
        id: toStr(row.id),
        pattern: row.sender_pattern,
        patternType: row.pattern_type,
        label: row.label
      }))
    }
    return snapshot
  })

const columnNames = (rows: ReadonlyArray<unknown>, key: string): ReadonlySet<string> =>
  new Set(
    rows.flatMap((row) => {
      const value = typeof row === "object" && row !== null ? Object.entries(row).find(([k]) => k === key)?.[1] : null
      return typeof value === "string" ? [value] : []
    })
  )

const sqliteQuery = (source: OldSource, db: DatabaseSync): Query => {
  const all: Query["all"] = (query, params) =>
    Effect.try({
      try: () => db.prepare(query).all(...params),
      catch: (error) => unreadable(source, error)
    })
  return {
    all,
    // table_info takes no bound parameter; the table names are this file's constants
    columns: (table) => all(`PRAGMA table_info(${table})`, []).pipe(Effect.map((rows) => columnNames(rows, "name")))
  }
}

const withSqlite = (source: OldSource & { readonly _tag: "sqlite" }, email: string) =>
  Effect.acquireUseRelease(
    Effect.try({
      // read-only: the import never changes the old file
      try: () => new DatabaseSync(source.path, { readOnly: true }),
      catch: (error) => unreadable(source, error)
    }),
    (db) =>
      Effect.gen(function* () {
        // a truncated or damaged file fails here rather than halfway through the tables
        const check = yield* sqliteQuery(source, db).all("PRAGMA quick_check", [])
        const verdict = check.map((row) => (typeof row === "object" && row !== null ? Object.values(row)[0] : row))
        if (verdict.length !== 1 || verdict[0] !== "ok") {
          return yield* new ImportSourceUnreadable({
            message: `cannot read ${source.path}: the file is damaged or truncated (integrity check: ${verdict.slice(0, 3).join("; ")})`
          })
        }
        return yield* readSnapshot(source, sqliteQuery(source, db), email)
      }),
    (db) => Effect.sync(() => db.close())
  )

/**
 * The password for a PostgreSQL URL written without one: `PGPASSWORD`, as psql reads it. Our driver
 * (@effect/sql-pg) takes the password from the URL or its `password` option only, it reads neither
 * `PGPASSWORD` nor `~/.pgpass`, so the import passes it on itself and the URL never has to carry it.
 */
export const postgresPassword = (source: OldSource & { readonly _tag: "postgres" }) =>
  Effect.gen(function* () {
    const fromEnv = yield* Config.option(Config.Redacted("PGPASSWORD")).pipe(
      Effect.mapError(() => new ImportSourceUnreadable({ message: "PGPASSWORD cannot be read" }))
    )
    let urlHasPassword = false
    try {
      urlHasPassword = new URL(Redacted.value(source.url)).password !== ""
    } catch {
      // an invalid URL fails at connect time with the driver's message
    }
    return urlHasPassword ? Option.none() : fromEnv
  })

const withPostgres = (source: OldSource & { readonly _tag: "postgres" }, email: string) =>
  Effect.flatMap(postgresPassword(source), (password) => withPostgresPassword(source, email, password))

const withPostgresPassword = (
  source: OldSource & { readonly _tag: "postgres" },
  email: string,
  password: Option.Option<Redacted.Redacted<string>>
) =>
  Effect.gen(function* () {
    const client = yield* PgClient.PgClient
    const all: Query["all"] = (text, params) => {
      let n = 0
      const numbered = text.replace(/\?/g, () => `$${++n}`)
      return client.unsafe(numbered, params).pipe(Effect.mapError((error) => unreadable(source, error)))
    }
    const query: Query = {
      all,
      columns: (table) =>
        all(
          `SELECT column_name FROM information_schema.columns
           WHERE table_schema = current_schema() AND table_name = ?`,
          [table]
        ).pipe(Effect.map((rows) => columnNames(rows, "column_name")))
    }
    // one read-only transaction: a consistent view, and nothing can be written to the old database
    return yield* client.withTransaction(
      client.unsafe("SET TRANSACTION READ ONLY").pipe(
        Effect.mapError((error) => unreadable(source, error)),
        Effect.andThen(readSnapshot(source, query, email))
      )
    )
  }).pipe(
    Effect.provide(
      PgClient.layer({
        url: source.url,
        ...(Option.isSome(password) ? { password: password.value } : {}),
        maxConnections: 1,
        applicationName: "mail-helper-import"
      })
    ),
    Effect.catchTag("SqlError", (error) => Effect.fail(unreadable(source, error)))
  )

/** Reads the user's rows from the old database; the source is closed before this returns. */
export const readOldSnapshot = (source: OldSource, email: string) =>
  (source._tag === "sqlite" ? withSqlite(source, email) : withPostgres(source, email)).pipe(
    Effect.withSpan("import.readOldSnapshot", { attributes: { "import.source": source._tag } })
  )
