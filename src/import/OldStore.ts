/**
 * Reading an old KI-Mail-Helper database: a SQLite file (`node:sqlite`, read-only) or a PostgreSQL
 * URL (a one-connection `@effect/sql-pg` client of its own, apart from ours). Only the tables and
 * columns listed in src/import/README.md are read, for one user, and only after the Alembic revision
 * was found among `KnownSchemaVersions`. What comes back is still encrypted (`OldSnapshot`): the
 * decryption is `OldCrypto.ts`'s, in memory.
 */
import { DatabaseSync } from "node:sqlite"
import { PgClient } from "@effect/sql-pg"
import { Effect, Redacted, Schema } from "effect"
import { ImportSourceUnreadable, ImportUserNotFound, UnknownSchemaVersion } from "./ImportErrors.ts"

/**
 * The Alembic revisions whose tables have every column this reader reads (the old project's
 * revision ids; the newest last). A file at another revision is refused with this list.
 */
export const KnownSchemaVersions = ["ph18_trusted_senders", "ph19_trusted_senders_account_id", "phG2_auto_rules"]

const OldId = Schema.Union([Schema.Number, Schema.String, Schema.BigInt])
const OldFlag = Schema.Union([Schema.Boolean, Schema.Number, Schema.Null])
const OldText = Schema.NullOr(Schema.String)
const OldInt = Schema.NullOr(Schema.Union([Schema.Number, Schema.String, Schema.BigInt]))

const UserRow = Schema.Struct({ id: OldId, email: Schema.String, salt: Schema.String, encrypted_dek: Schema.String })
const AccountRow = Schema.Struct({
  id: OldId,
  name: OldText,
  encrypted_imap_server: Schema.String,
  imap_port: OldInt,
  imap_encryption: OldText,
  encrypted_imap_username: Schema.String,
  encrypted_imap_password: Schema.String,
  enabled: OldFlag,
  fetch_interval_minutes: OldInt,
  folders_json: OldText
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
  user_override_urgency: OldInt,
  user_override_importance: OldInt,
  user_override_category: OldText
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
  readonly encryptedHost: string
  readonly port: number | null
  readonly encryption: string | null
  readonly encryptedUsername: string
  readonly encryptedPassword: string
  readonly enabled: boolean
  readonly fetchIntervalMinutes: number | null
  readonly foldersJson: string | null
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
  readonly user: { readonly id: string; readonly email: string; readonly salt: string; readonly wrappedDek: string }
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
}

const toStr = (id: string | number | bigint): string => String(id)
const toInt = (value: string | number | bigint | null): number | null => {
  if (value === null) return null
  const n = Number(value)
  return Number.isFinite(n) ? n : null
}
const toBool = (value: boolean | number | null): boolean => value === true || value === 1

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

const readSnapshot = (source: OldSource, db: Query, email: string) =>
  Effect.gen(function* () {
    const versions = yield* db.all("SELECT version_num FROM alembic_version", [])
    const version = yield* Schema.decodeUnknownEffect(Schema.Array(Schema.Struct({ version_num: Schema.String })))(
      versions
    ).pipe(Effect.mapError((error) => unreadable(source, error)))
    const found = version.map((row) => row.version_num)
    const current = found[0]
    if (found.length !== 1 || current === undefined || !KnownSchemaVersions.includes(current)) {
      const foundText = found.length === 0 ? "none" : found.join(", ")
      return yield* new UnknownSchemaVersion({
        message:
          `${describeSource(source)} is at schema version ${foundText}, which this import does not know; ` +
          `known versions: ${KnownSchemaVersions.join(", ")}`,
        found: foundText,
        known: KnownSchemaVersions
      })
    }

    const users = yield* db
      .all("SELECT id, email, salt, encrypted_dek FROM users WHERE lower(email) = lower(?)", [email])
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
        `SELECT id, name, encrypted_imap_server, imap_port, imap_encryption, encrypted_imap_username,
           encrypted_imap_password, enabled, fetch_interval_minutes, folders_json
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
    const corrections = yield* db
      .all(
        `SELECT p.id, r.mail_account_id, r.message_id, r.imap_folder, r.imap_uid,
           p.user_override_urgency, p.user_override_importance, p.user_override_category
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
      user: { id: userId, email: user.email, salt: user.salt, wrappedDek: user.encrypted_dek },
      accounts: accounts.map((row) => ({
        id: toStr(row.id),
        name: row.name,
        encryptedHost: row.encrypted_imap_server,
        port: toInt(row.imap_port),
        encryption: row.imap_encryption,
        encryptedUsername: row.encrypted_imap_username,
        encryptedPassword: row.encrypted_imap_password,
        enabled: toBool(row.enabled),
        fetchIntervalMinutes: toInt(row.fetch_interval_minutes),
        foldersJson: row.folders_json
      })),
      rules: rules.map((row) => ({
        id: toStr(row.id),
        name: row.name,
        active: toBool(row.is_active),
        priority: toInt(row.priority),
        conditionsJson: row.conditions_json,
        actionsJson: row.actions_json
      })),
      corrections: corrections.map((row) => ({
        id: toStr(row.id),
        accountId: toStr(row.mail_account_id),
        messageId: row.message_id,
        folder: row.imap_folder,
        uid: toInt(row.imap_uid),
        urgency: toInt(row.user_override_urgency),
        importance: toInt(row.user_override_importance),
        category: row.user_override_category,
        tags: tagsOf.get(toStr(row.id)) ?? []
      })),
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

const sqliteQuery = (source: OldSource, db: DatabaseSync): Query => ({
  all: (query, params) =>
    Effect.try({
      try: () => db.prepare(query).all(...params),
      catch: (error) => unreadable(source, error)
    })
})

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

const withPostgres = (source: OldSource & { readonly _tag: "postgres" }, email: string) =>
  Effect.gen(function* () {
    const client = yield* PgClient.PgClient
    const query: Query = {
      all: (text, params) => {
        let n = 0
        const numbered = text.replace(/\?/g, () => `$${++n}`)
        return client.unsafe(numbered, params).pipe(Effect.mapError((error) => unreadable(source, error)))
      }
    }
    // one read-only transaction: a consistent view, and nothing can be written to the old database
    return yield* client.withTransaction(
      client.unsafe("SET TRANSACTION READ ONLY").pipe(
        Effect.mapError((error) => unreadable(source, error)),
        Effect.andThen(readSnapshot(source, query, email))
      )
    )
  }).pipe(
    Effect.provide(PgClient.layer({ url: source.url, maxConnections: 1, applicationName: "mail-helper-import" })),
    Effect.catchTag("SqlError", (error) => Effect.fail(unreadable(source, error)))
  )

/** Reads the user's rows from the old database; the source is closed before this returns. */
export const readOldSnapshot = (source: OldSource, email: string) =>
  (source._tag === "sqlite" ? withSqlite(source, email) : withPostgres(source, email)).pipe(
    Effect.withSpan("import.readOldSnapshot", { attributes: { "import.source": source._tag } })
  )
