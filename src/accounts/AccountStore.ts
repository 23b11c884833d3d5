/**
 * The mail_accounts and mailboxes rows, always in the owner's row-level-security scope
 * (docs/security.md), except the few explicitly cross-user reads for schedulers and key
 * rotation. The IMAP password is sealed with the keyring (AES-256-GCM) and bound to its row:
 * the associated data names the table, the account id and the column, so a ciphertext copied to
 * another row does not decrypt.
 */
import { Context, Effect, Layer, Option, type Redacted, Schema } from "effect"
import { SqlClient, type SqlError, type Statement } from "effect/sql"
import { type DatabaseError, decodeRows, fromSqlError } from "../platform/Database.ts"
import { Crypto, SecretDecryptionFailed } from "../platform/Crypto.ts"
import { UserId } from "../contract/users/UserId.ts"
import { UserScope } from "../users/UserScope.ts"
import {
  type AccountServer,
  AccountExists,
  AccountId,
  AccountStatus,
  AccountView,
  AuthKind,
  MailboxId,
  MailboxView,
  Security,
  ServerProfile,
  SpecialUse
} from "../contract/accounts/Account.ts"

/** Associated data of an account's sealed password: the ciphertext only opens on its own row. */
export const passwordAssociatedData = (accountId: string): string => `mail_accounts:${accountId}:password`

const AccountRow = Schema.Struct({
  id: AccountId,
  user_id: UserId,
  label: Schema.String,
  host: Schema.String,
  port: Schema.Int,
  security: Security,
  username: Schema.String,
  password_sealed: Schema.NullOr(Schema.String),
  auth_kind: AuthKind,
  oauth_provider: Schema.NullOr(Schema.String),
  sync_interval_minutes: Schema.NullOr(Schema.Int),
  watch_folders: Schema.Array(Schema.String),
  status: AccountStatus,
  status_message: Schema.NullOr(Schema.String),
  last_synced_at: Schema.NullOr(Schema.Date),
  // decoded on its own (serverOf): a profile an older version wrote never fails the whole row
  server_profile: Schema.optional(Schema.Unknown),
  server_profile_at: Schema.optional(Schema.NullOr(Schema.Date)),
  created_at: Schema.Date,
  updated_at: Schema.Date
})
type AccountRow = typeof AccountRow.Type

/** An account as stored, the sealed password included (never leaves the server). */
export interface AccountRecord {
  readonly id: AccountId
  readonly userId: UserId
  readonly label: string
  readonly host: string
  readonly port: number
  readonly security: Security
  readonly username: string
  /** null for an OAuth2 account (its tokens are in oauth_grants). */
  readonly passwordSealed: string | null
  readonly authKind: AuthKind
  /** The configured provider of an OAuth2 account; null for a password account. */
  readonly oauthProvider: string | null
  readonly syncIntervalMinutes: number | null
  /** Folders IDLEd on besides INBOX without NOTIFY (migration 0067). */
  readonly watchFolders: ReadonlyArray<string>
  readonly status: AccountStatus
  readonly statusMessage: string | null
  readonly lastSyncedAt: Date | null
  /** What the last sync recorded about the server; null before the first login. */
  readonly server: AccountServer | null
  readonly createdAt: Date
  readonly updatedAt: Date
}

const decodeProfile = Schema.decodeUnknownOption(ServerProfile)

/**
 * The stored profile, or null: never recorded, or in a shape this version does not know (a
 * profile from another version); the next sync then writes it again.
 */
const serverOf = (row: AccountRow): AccountServer | null => {
  if (row.server_profile === undefined || row.server_profile === null) return null
  if (row.server_profile_at === undefined || row.server_profile_at === null) return null
  const decoded = decodeProfile(row.server_profile)
  return decoded._tag === "Some" ? { ...decoded.value, syncedWithAt: row.server_profile_at } : null
}

const encodeProfile = Schema.encodeSync(ServerProfile)

/** A profile as `recordServer` stores it: the value its statement compares (jsonb equality). */
const storedForm = (profile: ServerProfile) => JSON.stringify(encodeProfile(profile))

/**
 * Whether `profile` is the one already recorded (`stored`, as read with the account): then
 * `recordServer` would write nothing, and a caller that read the account just before may skip it.
 */
export const sameServerProfile = (stored: AccountServer | null, profile: ServerProfile): boolean => {
  if (stored === null) return false
  const { syncedWithAt: _at, ...recorded } = stored
  return storedForm(recorded) === storedForm(profile)
}

const toRecord = (row: AccountRow): AccountRecord => ({
  id: row.id,
  userId: row.user_id,
  label: row.label,
  host: row.host,
  port: row.port,
  security: row.security,
  username: row.username,
  passwordSealed: row.password_sealed,
  authKind: row.auth_kind,
  oauthProvider: row.oauth_provider,
  syncIntervalMinutes: row.sync_interval_minutes,
  watchFolders: row.watch_folders,
  status: row.status,
  statusMessage: row.status_message,
  lastSyncedAt: row.last_synced_at,
  server: serverOf(row),
  createdAt: row.created_at,
  updatedAt: row.updated_at
})

export const toAccountView = (record: AccountRecord): AccountView =>
  new AccountView({
    id: record.id,
    label: record.label,
    host: record.host,
    port: record.port,
    security: record.security,
    username: record.username,
    authKind: record.authKind,
    oauthProvider: record.oauthProvider,
    syncIntervalMinutes: record.syncIntervalMinutes,
    watchFolders: record.watchFolders,
    status: record.status,
    statusMessage: record.statusMessage,
    lastSyncedAt: record.lastSyncedAt,
    server: record.server,
    createdAt: record.createdAt,
    updatedAt: record.updatedAt
  })

const MailboxRow = Schema.Struct({
  id: MailboxId,
  path: Schema.String,
  name: Schema.String,
  delimiter: Schema.NullOr(Schema.String),
  special_use: Schema.NullOr(SpecialUse),
  selectable: Schema.Boolean,
  subscribed: Schema.Boolean,
  message_count: Schema.Int,
  unread_count: Schema.Int,
  last_synced_at: Schema.NullOr(Schema.Date)
})

/** What every new account names, whatever signs it in. */
interface NewAccountFields {
  readonly id: AccountId
  readonly label: string
  readonly host: string
  readonly port: number
  readonly security: Security
  readonly username: string
  readonly syncIntervalMinutes: number | null
}

export interface NewAccount extends NewAccountFields {
  readonly password: Redacted.Redacted<string>
}

/** An OAuth2 account: no password; its grant is stored next to it (OAuthStore). */
export interface NewOAuthAccount extends NewAccountFields {
  readonly provider: string
}

export interface AccountChanges {
  readonly label?: string
  readonly host?: string
  readonly port?: number
  readonly security?: Security
  readonly username?: string
  readonly password?: Redacted.Redacted<string>
  readonly syncIntervalMinutes?: number | null
  readonly watchFolders?: ReadonlyArray<string>
  /** New credentials were verified: back to active, message cleared. */
  readonly reactivate?: boolean
  /** The mailbox store changed (other host or user): drop mailboxes and mail. */
  readonly resetMail?: boolean
}

/** What the scheduler needs of every account (system scope). */
export interface ScheduleTarget {
  readonly id: AccountId
  readonly userId: UserId
  readonly status: AccountStatus
  readonly syncIntervalMinutes: number | null
}

export interface AccountStoreShape {
  readonly insert: (owner: UserId, account: NewAccount) => Effect.Effect<AccountRecord, AccountExists | DatabaseError>
  readonly insertOAuth: (
    owner: UserId,
    account: NewOAuthAccount
  ) => Effect.Effect<AccountRecord, AccountExists | DatabaseError>
  /** The user's account for this server and login name (the identity the unique index keeps). */
  readonly findByIdentity: (
    owner: UserId,
    identity: { readonly host: string; readonly port: number; readonly username: string }
  ) => Effect.Effect<Option.Option<AccountRecord>, DatabaseError>
  /**
   * Makes the account an OAuth2 account of `provider` (a reconnect after `reauth_required`, or a
   * password account switched to OAuth2): the password is dropped, the status back to active.
   */
  readonly reconnectOAuth: (
    owner: UserId,
    id: AccountId,
    provider: string
  ) => Effect.Effect<Option.Option<AccountRecord>, DatabaseError>
  readonly list: (owner: UserId) => Effect.Effect<ReadonlyArray<AccountRecord>, DatabaseError>
  readonly find: (owner: UserId, id: string) => Effect.Effect<Option.Option<AccountRecord>, DatabaseError>
  readonly update: (
    owner: UserId,
    id: AccountId,
    changes: AccountChanges
  ) => Effect.Effect<Option.Option<AccountRecord>, AccountExists | DatabaseError>
  /** Deletes the account and (by cascade) its mailboxes, mail, attachments and analysis; false when absent. */
  readonly remove: (owner: UserId, id: string) => Effect.Effect<boolean, DatabaseError>
  readonly setStatus: (
    owner: UserId,
    id: AccountId,
    status: AccountStatus,
    message: string | null
  ) => Effect.Effect<Option.Option<AccountRecord>, DatabaseError>
  /** After a successful sync: active, message cleared, last_synced_at now. */
  readonly markSynced: (owner: UserId, id: AccountId) => Effect.Effect<Option.Option<AccountRecord>, DatabaseError>
  /**
   * Records what a sync saw of the server; writes only when it differs from the stored profile
   * (jsonb equality). True when it was written.
   */
  readonly recordServer: (owner: UserId, id: AccountId, profile: ServerProfile) => Effect.Effect<boolean, DatabaseError>
  readonly mailboxes: (owner: UserId, id: AccountId) => Effect.Effect<ReadonlyArray<MailboxView>, DatabaseError>
  /** The plaintext password, for a login. */
  readonly password: (record: AccountRecord) => Effect.Effect<Redacted.Redacted<string>, SecretDecryptionFailed>
  /** Every account's schedule inputs, across users (system scope: schedulers only). */
  readonly scheduleTargets: Effect.Effect<ReadonlyArray<ScheduleTarget>, DatabaseError>
  /** One account's schedule inputs by id alone (system scope: the scheduler's tick). */
  readonly scheduleTarget: (id: string) => Effect.Effect<Option.Option<ScheduleTarget>, DatabaseError>
}

export class AccountStore extends Context.Service<AccountStore, AccountStoreShape>()("mail-helper/AccountStore") {
  static readonly layer = Layer.effect(
    AccountStore,
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const scope = yield* UserScope
      const crypto = yield* Crypto
      const decode = decodeRows(AccountRow)
      const decodeMailboxes = decodeRows(MailboxRow)
      const first = (rows: ReadonlyArray<unknown>) =>
        Effect.map(decode(rows), (decoded) => Option.map(Option.fromNullishOr(decoded[0]), toRecord))
      /** The row an INSERT ... RETURNING gave back; none is a bug. */
      const inserted = (rows: ReadonlyArray<unknown>) =>
        first(rows).pipe(
          Effect.flatMap(
            Option.match({
              onNone: () => Effect.die(new Error("INSERT ... RETURNING gave no row")),
              onSome: Effect.succeed
            })
          )
        )
      const dbError = <A, R>(effect: Effect.Effect<A, SqlError.SqlError, R>) => Effect.mapError(effect, fromSqlError)
      const uniqueToExists = <A, R>(effect: Effect.Effect<A, SqlError.SqlError, R>) =>
        effect.pipe(
          Effect.catchReason(
            "SqlError",
            "UniqueViolation",
            () =>
              Effect.fail(new AccountExists({ message: "you already have an account for this server and username" })),
            (_, error) => Effect.fail(fromSqlError(error))
          )
        )

      const insert = (owner: UserId, account: NewAccount) =>
        Effect.gen(function* () {
          const sealed = yield* crypto.encrypt(account.password, passwordAssociatedData(account.id))
          const rows = yield* scope.run(
            owner,
            sql`
              INSERT INTO mail_accounts (id, user_id, label, host, port, security, username, password_sealed, sync_interval_minutes)
              VALUES (${account.id}, ${owner}, ${account.label}, ${account.host}, ${account.port}, ${account.security},
                ${account.username}, ${sealed}, ${account.syncIntervalMinutes})
              RETURNING *`
          )
          return yield* inserted(rows)
        }).pipe(uniqueToExists, Effect.withSpan("AccountStore.insert"))

      const insertOAuth = (owner: UserId, account: NewOAuthAccount) =>
        Effect.gen(function* () {
          const rows = yield* scope.run(
            owner,
            sql`
              INSERT INTO mail_accounts (id, user_id, label, host, port, security, username, password_sealed, auth_kind,
                oauth_provider, sync_interval_minutes)
              VALUES (${account.id}, ${owner}, ${account.label}, ${account.host}, ${account.port}, ${account.security},
                ${account.username}, NULL, 'oauth', ${account.provider}, ${account.syncIntervalMinutes})
              RETURNING *`
          )
          return yield* inserted(rows)
        }).pipe(uniqueToExists, Effect.withSpan("AccountStore.insertOAuth"))

      const findByIdentity = (
        owner: UserId,
        identity: { readonly host: string; readonly port: number; readonly username: string }
      ) =>
        scope
          .run(
            owner,
            sql`
              SELECT * FROM mail_accounts
              WHERE user_id = ${owner} AND lower(host) = lower(${identity.host}) AND port = ${identity.port}
                AND username = ${identity.username}`
          )
          .pipe(Effect.flatMap(first), dbError, Effect.withSpan("AccountStore.findByIdentity"))

      const reconnectOAuth = (owner: UserId, id: AccountId, provider: string) =>
        scope
          .run(
            owner,
            sql`
              UPDATE mail_accounts SET auth_kind = 'oauth', oauth_provider = ${provider}, password_sealed = NULL,
                status = 'active', status_message = NULL, updated_at = now()
              WHERE id = ${id} AND user_id = ${owner}
              RETURNING *`
          )
          .pipe(Effect.flatMap(first), dbError, Effect.withSpan("AccountStore.reconnectOAuth"))

      const list = (owner: UserId) =>
        scope.run(owner, sql`SELECT * FROM mail_accounts WHERE user_id = ${owner} ORDER BY created_at, id`).pipe(
          Effect.flatMap(decode),
          Effect.map((rows) => rows.map(toRecord)),
          dbError,
          Effect.withSpan("AccountStore.list")
        )

      const find = (owner: UserId, id: string) =>
        scope
          .run(owner, sql`SELECT * FROM mail_accounts WHERE id = ${id} AND user_id = ${owner}`)
          .pipe(Effect.flatMap(first), dbError, Effect.withSpan("AccountStore.find"))

      const update = (owner: UserId, id: AccountId, changes: AccountChanges) =>
        Effect.gen(function* () {
          const sets: Array<Statement.Fragment> = []
          if (changes.label !== undefined) sets.push(sql`label = ${changes.label}`)
          if (changes.host !== undefined) sets.push(sql`host = ${changes.host}`)
          if (changes.port !== undefined) sets.push(sql`port = ${changes.port}`)
          if (changes.security !== undefined) sets.push(sql`security = ${changes.security}`)
          if (changes.username !== undefined) sets.push(sql`username = ${changes.username}`)
          if (changes.password !== undefined) {
            const sealed = yield* crypto.encrypt(changes.password, passwordAssociatedData(id))
            // a password replaces an OAuth2 grant: the account logs in with the password from now on
            sets.push(sql`password_sealed = ${sealed}, auth_kind = 'password', oauth_provider = NULL`)
          }
          if (changes.syncIntervalMinutes !== undefined) {
            sets.push(sql`sync_interval_minutes = ${changes.syncIntervalMinutes}`)
          }
          if (changes.watchFolders !== undefined) {
            sets.push(sql`watch_folders = ${[...changes.watchFolders]}::text[]`)
          }
          if (changes.reactivate === true) sets.push(sql`status = 'active', status_message = NULL`)
          sets.push(sql`updated_at = now()`)
          return yield* scope.run(
            owner,
            Effect.gen(function* () {
              if (changes.password !== undefined) {
                yield* sql`DELETE FROM oauth_grants WHERE id = ${id} AND user_id = ${owner}`
              }
              if (changes.resetMail === true) {
                yield* sql`DELETE FROM mailboxes WHERE account_id = ${id} AND user_id = ${owner}`
              }
              const rows = yield* sql`
                UPDATE mail_accounts SET ${sql.csv(sets)}
                WHERE id = ${id} AND user_id = ${owner}
                RETURNING *`
              return yield* first(rows)
            })
          )
        }).pipe(uniqueToExists, Effect.withSpan("AccountStore.update"))

      const remove = (owner: UserId, id: string) =>
        scope.run(owner, sql`DELETE FROM mail_accounts WHERE id = ${id} AND user_id = ${owner} RETURNING id`).pipe(
          Effect.map((rows) => rows.length > 0),
          dbError,
          Effect.withSpan("AccountStore.remove")
        )

      const setStatus = (owner: UserId, id: AccountId, status: AccountStatus, message: string | null) =>
        scope
          .run(
            owner,
            sql`
              UPDATE mail_accounts SET status = ${status}, status_message = ${message?.slice(0, 1_000) ?? null},
                updated_at = now()
              WHERE id = ${id} AND user_id = ${owner}
              RETURNING *`
          )
          .pipe(Effect.flatMap(first), dbError, Effect.withSpan("AccountStore.setStatus"))

      const markSynced = (owner: UserId, id: AccountId) =>
        scope
          .run(
            owner,
            sql`
              UPDATE mail_accounts SET status = 'active', status_message = NULL, last_synced_at = now(), updated_at = now()
              WHERE id = ${id} AND user_id = ${owner} AND status <> 'disabled'
              RETURNING *`
          )
          .pipe(Effect.flatMap(first), dbError)

      const recordServer = (owner: UserId, id: AccountId, profile: ServerProfile) =>
        Effect.suspend(() => {
          const json = storedForm(profile)
          return scope.run(
            owner,
            sql`
              UPDATE mail_accounts SET server_profile = ${json}::jsonb, server_profile_at = now()
              WHERE id = ${id} AND user_id = ${owner} AND server_profile IS DISTINCT FROM ${json}::jsonb
              RETURNING id`
          )
        }).pipe(
          Effect.map((rows) => rows.length > 0),
          dbError,
          Effect.withSpan("AccountStore.recordServer")
        )

      const mailboxes = (owner: UserId, id: AccountId) =>
        scope
          .run(
            owner,
            sql`
              SELECT id, path, name, delimiter, special_use, selectable, subscribed, message_count, unread_count, last_synced_at
              FROM mailboxes WHERE account_id = ${id} AND user_id = ${owner}
              ORDER BY (special_use = 'inbox') DESC NULLS LAST, path`
          )
          .pipe(
            Effect.flatMap(decodeMailboxes),
            Effect.map((rows) =>
              rows.map(
                (row) =>
                  new MailboxView({
                    id: row.id,
                    path: row.path,
                    name: row.name,
                    delimiter: row.delimiter,
                    specialUse: row.special_use,
                    selectable: row.selectable,
                    subscribed: row.subscribed,
                    messageCount: row.message_count,
                    unreadCount: row.unread_count,
                    lastSyncedAt: row.last_synced_at
                  })
              )
            ),
            dbError,
            Effect.withSpan("AccountStore.mailboxes")
          )

      const password = (record: AccountRecord) =>
        record.passwordSealed === null
          ? Effect.fail(new SecretDecryptionFailed({ message: "the account has no password: it signs in with OAuth2" }))
          : crypto.decrypt(record.passwordSealed, passwordAssociatedData(record.id))

      const TargetRow = Schema.Struct({
        id: AccountId,
        user_id: UserId,
        status: AccountStatus,
        sync_interval_minutes: Schema.NullOr(Schema.Int)
      })
      const decodeTargets = decodeRows(TargetRow)
      const toTarget = (row: typeof TargetRow.Type): ScheduleTarget => ({
        id: row.id,
        userId: row.user_id,
        status: row.status,
        syncIntervalMinutes: row.sync_interval_minutes
      })

      const scheduleTargets = scope
        .system(
          "AccountStore.scheduleTargets",
          sql`SELECT id, user_id, status, sync_interval_minutes FROM mail_accounts ORDER BY id`
        )
        .pipe(
          Effect.flatMap(decodeTargets),
          Effect.map((rows) => rows.map(toTarget)),
          dbError
        )

      const scheduleTarget = (id: string) =>
        scope
          .system(
            "AccountStore.scheduleTarget",
            sql`SELECT id, user_id, status, sync_interval_minutes FROM mail_accounts WHERE id = ${id}`
          )
          .pipe(
            Effect.flatMap(decodeTargets),
            Effect.map((rows) => Option.map(Option.fromNullishOr(rows[0]), toTarget)),
            dbError
          )

      return AccountStore.of({
        insert,
        insertOAuth,
        findByIdentity,
        reconnectOAuth,
        list,
        find,
        update,
        remove,
        setStatus,
        markSynced,
        recordServer,
        mailboxes,
        password,
        scheduleTargets,
        scheduleTarget
      })
    })
  )
}
