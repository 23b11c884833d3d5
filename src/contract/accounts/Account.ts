import { Schema } from "effect"

/** Identifier of a mail account (a UUID). */
export const AccountId = Schema.String.pipe(Schema.check(Schema.isUUID()), Schema.brand("AccountId"))
export type AccountId = typeof AccountId.Type

export const MailboxId = Schema.String.pipe(Schema.check(Schema.isUUID()), Schema.brand("MailboxId"))
export type MailboxId = typeof MailboxId.Type

/** `tls`: implicit TLS (usually 993); `starttls`: upgrade required (usually 143); `none`: cleartext. */
export const Security = Schema.Literals(["tls", "starttls", "none"])
export type Security = typeof Security.Type

/**
 * `active`: syncing normally. `auth_failed`: the server refused the credentials; no scheduled sync
 * runs until they are changed (PATCH). `unreachable`: the last sync could not reach the server after
 * every retry; scheduled syncs go on. `disabled`: kept, never synced. `reauth_required`: an OAuth2
 * account whose grant the provider refused (revoked or expired): nothing syncs it until the user
 * connects it again (POST /api/v1/oauth/:provider/start).
 */
export const AccountStatus = Schema.Literals(["active", "auth_failed", "unreachable", "disabled", "reauth_required"])
export type AccountStatus = typeof AccountStatus.Type

export const SpecialUse = Schema.Literals(["inbox", "sent", "drafts", "trash", "junk", "archive", "all", "flagged"])

// A DNS name or an IP literal, without scheme, port or path; IPv6 without brackets.
const hostPattern =
  /^(?:(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?|[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*)$/

export const Host = Schema.String.pipe(
  Schema.check(Schema.isMinLength(1), Schema.isMaxLength(253), Schema.isPattern(hostPattern))
).annotate({ description: "DNS name or IP address of the IMAP server (no scheme, no port)" })
export const Port = Schema.Int.pipe(Schema.check(Schema.isBetween({ minimum: 1, maximum: 65_535 })))
export const Label = Schema.String.pipe(Schema.check(Schema.isMinLength(1), Schema.isMaxLength(100)))
export const Username = Schema.String.pipe(Schema.check(Schema.isMinLength(1), Schema.isMaxLength(320)))
/** Write-only: stored encrypted, never returned. */
export const Password = Schema.String.pipe(Schema.check(Schema.isMinLength(1), Schema.isMaxLength(1024)))
export const SyncInterval = Schema.Int.pipe(Schema.check(Schema.isBetween({ minimum: 1, maximum: 1440 })))

/** Minutes between scheduled syncs when the request does not say. */
export const defaultSyncIntervalMinutes = 15

export const CreateAccountRequest = Schema.Struct({
  label: Label,
  host: Host,
  port: Port,
  security: Security,
  username: Username,
  password: Password,
  /** Minutes between scheduled syncs; null: only on request. Default 15. */
  syncIntervalMinutes: Schema.optionalKey(Schema.NullOr(SyncInterval))
})
export type CreateAccountRequest = typeof CreateAccountRequest.Type

/**
 * Every field optional; a change of host, port, security, username or password is verified first.
 * A change of a credential-bound field must carry the credential too (see `credentialBoundFields`).
 */
/**
 * Folders (besides INBOX) watched by IDLE when the server offers no NOTIFY; the worker uses at most
 * WATCH_MAX_IDLE_FOLDERS of them. With NOTIFY every folder is watched anyway.
 */
export const WatchFolders = Schema.Array(
  Schema.String.pipe(Schema.check(Schema.isMinLength(1), Schema.isMaxLength(1_000)))
).pipe(Schema.check(Schema.isMaxLength(20)))

export const UpdateAccountRequest = Schema.Struct({
  label: Schema.optionalKey(Label),
  host: Schema.optionalKey(Host),
  port: Schema.optionalKey(Port),
  security: Schema.optionalKey(Security),
  username: Schema.optionalKey(Username),
  password: Schema.optionalKey(Password),
  syncIntervalMinutes: Schema.optionalKey(Schema.NullOr(SyncInterval)),
  watchFolders: Schema.optionalKey(WatchFolders)
})
export type UpdateAccountRequest = typeof UpdateAccountRequest.Type

/**
 * The credential fields: write-only secrets the server sends to the IMAP server on the user's
 * behalf. A future credential kind (an OAuth token, a client certificate) is added here.
 */
export const credentialFields = ["password"] as const satisfies ReadonlyArray<keyof UpdateAccountRequest>
export type CredentialField = (typeof credentialFields)[number]

/**
 * The credential-bound fields: they decide where and how the stored credential is sent (the
 * destination, the transport security, the login name). Changing any of them would send the
 * stored secret somewhere the owner of the secret never chose, so one rule applies to all of
 * them: a change must carry every credential field again in the same request. A session or API
 * token alone can therefore never move the stored secret (docs/security.md).
 */
export const credentialBoundFields = ["host", "port", "security", "username"] as const satisfies ReadonlyArray<
  keyof UpdateAccountRequest
>
export type CredentialBoundField = (typeof credentialBoundFields)[number]

/** The credential-bound fields whose value in `patch` differs from `current` (hosts compared normalised). */
export const changedCredentialBoundFields = (
  current: { readonly [K in CredentialBoundField]: CreateAccountRequest[K] },
  patch: { readonly [K in CredentialBoundField]?: CreateAccountRequest[K] }
): ReadonlyArray<CredentialBoundField> =>
  credentialBoundFields.filter((name) => patch[name] !== undefined && patch[name] !== current[name])

/** The credential fields a patch leaves out. */
export const missingCredentialFields = (patch: UpdateAccountRequest): ReadonlyArray<CredentialField> =>
  credentialFields.filter((name) => patch[name] === undefined)

/**
 * How the sync talks to the account's server, decided from the capabilities after login
 * (src/sync/SyncStrategy.ts; docs/accounts-and-sync.md explains each choice).
 */
export const SyncStrategy = Schema.Struct({
  /** Mailbox counters: one LIST with RFC 5819 STATUS, or LIST then one STATUS per mailbox. */
  listing: Schema.Literals(["LIST-STATUS", "LIST+STATUS"]),
  /** Flags of stored messages: CONDSTORE CHANGEDSINCE, or every flag of every message on each sync. */
  flags: Schema.Literals(["CONDSTORE", "full flag scan"]),
  /** Expunges: QRESYNC VANISHED, UID SEARCH ALL compared with the stored UIDs, or the flag scan's UIDs compared. */
  expunges: Schema.Literals(["QRESYNC", "UID SEARCH comparison", "flag scan comparison"]),
  /** Mailbox names on the wire. */
  names: Schema.Literals(["UTF-8", "modified UTF-7"]),
  /** Roles of Sent, Drafts, Trash, Junk, Archive: the server's attributes, or well-known names. */
  specialUse: Schema.Literals(["SPECIAL-USE", "names"]),
  /** How a rule's move or delete reaches the server. */
  ruleMoves: Schema.Literals(["MOVE", "COPY+EXPUNGE", "COPY+EXPUNGE without UIDPLUS (guarded)"])
})
export type SyncStrategy = typeof SyncStrategy.Type

/** One human sentence per choice of `SyncStrategy`. */
export const SyncStrategyExplanation = Schema.Struct({
  listing: Schema.String,
  flags: Schema.String,
  expunges: Schema.String,
  names: Schema.String,
  specialUse: Schema.String,
  ruleMoves: Schema.String
})
export type SyncStrategyExplanation = typeof SyncStrategyExplanation.Type

/** The personal namespace: where the user's mailboxes live and the hierarchy separator (null: flat). */
export const ServerNamespace = Schema.Struct({ prefix: Schema.String, separator: Schema.NullOr(Schema.String) })

/** What a sync recorded about the server (stored as it is, without the time). */
export const ServerProfile = Schema.Struct({
  /** Capabilities after login, as announced (at most 200, each at most 100 characters). */
  capabilities: Schema.Array(Schema.String),
  /** Extensions the sync's session ENABLEd (CONDSTORE, QRESYNC, UTF8=ACCEPT, IMAP4REV2). */
  enabled: Schema.Array(Schema.String),
  /** The server's own name and version from its ID answer; null when it offers no ID or names nothing. */
  product: Schema.NullOr(Schema.String),
  /** null when the server reported no namespace and none could be derived. */
  namespace: Schema.NullOr(ServerNamespace),
  strategy: SyncStrategy,
  explanation: SyncStrategyExplanation
})
export type ServerProfile = typeof ServerProfile.Type

/** `server` on an account: null until a sync has logged in. */
export const AccountServer = Schema.Struct({
  ...ServerProfile.fields,
  /** When a sync first saw the server like this (rewritten only when something in it changes). */
  syncedWithAt: Schema.Date
})
export type AccountServer = typeof AccountServer.Type

/** How the account logs in: the stored IMAP password, or an OAuth2 grant (XOAUTH2 / OAUTHBEARER). */
export const AuthKind = Schema.Literals(["password", "oauth"])
export type AuthKind = typeof AuthKind.Type

/** A mail account as the API shows it: never the password, never a token. */
export class AccountView extends Schema.Class<AccountView>("MailAccount")({
  id: AccountId,
  label: Schema.String,
  host: Schema.String,
  port: Schema.Int,
  security: Security,
  username: Schema.String,
  authKind: AuthKind,
  /** The OAuth2 provider's configured name (`google`, `microsoft`, ...); null for a password account. */
  oauthProvider: Schema.NullOr(Schema.String),
  syncIntervalMinutes: Schema.NullOr(Schema.Int),
  /** Folders IDLEd on besides INBOX when the server has no NOTIFY (PATCH `watchFolders`). */
  watchFolders: Schema.Array(Schema.String),
  status: AccountStatus,
  /** Why the status is not `active` (the server's words for `auth_failed`). */
  statusMessage: Schema.NullOr(Schema.String),
  lastSyncedAt: Schema.NullOr(Schema.Date),
  /** The server's capabilities and the sync strategy chosen for it; null before the first sync's login. */
  server: Schema.NullOr(AccountServer),
  createdAt: Schema.Date,
  updatedAt: Schema.Date
}) {}

export const AccountList = Schema.Struct({ items: Schema.Array(AccountView) })

export class MailboxView extends Schema.Class<MailboxView>("Mailbox")({
  id: MailboxId,
  path: Schema.String,
  name: Schema.String,
  delimiter: Schema.NullOr(Schema.String),
  specialUse: Schema.NullOr(SpecialUse),
  selectable: Schema.Boolean,
  subscribed: Schema.Boolean,
  messageCount: Schema.Int,
  unreadCount: Schema.Int,
  lastSyncedAt: Schema.NullOr(Schema.Date)
}) {}

export const MailboxList = Schema.Struct({ items: Schema.Array(MailboxView) })

// ---------------------------------------------------------------------------------------------
// errors

/** No such account among the current user's (another user's account is not found either). */
export class AccountNotFound extends Schema.TaggedError<AccountNotFound>()(
  "AccountNotFound",
  { message: Schema.String },
  { httpApiStatus: 404 }
) {
  static forId(id: string): AccountNotFound {
    return new AccountNotFound({ message: `no mail account with id ${id}` })
  }
}

/** The user already has an account for this server and username. */
export class AccountExists extends Schema.TaggedError<AccountExists>()(
  "AccountExists",
  { message: Schema.String },
  { httpApiStatus: 409 }
) {}

/** Why a login check failed; `authentication` carries the server's own words in `message`. */
export const VerificationFailure = Schema.Literals([
  "authentication",
  "tls",
  "dns",
  "timeout",
  "refused",
  "connection",
  "protocol",
  "host_not_allowed"
])
export type VerificationFailure = typeof VerificationFailure.Type

/**
 * A credential-bound field (host, port, security, username) was changed without the credential:
 * the request must carry the password again. `fields` names the changed fields, `required` the
 * credential fields to send. Nothing was contacted and nothing was saved.
 */
export class CredentialRequired extends Schema.TaggedError<CredentialRequired>()(
  "CredentialRequired",
  {
    message: Schema.String,
    fields: Schema.Array(Schema.String),
    required: Schema.Array(Schema.String)
  },
  { httpApiStatus: 400 }
) {
  static of(fields: ReadonlyArray<string>, required: ReadonlyArray<string>): CredentialRequired {
    return new CredentialRequired({
      fields,
      required,
      message: `changing ${fields.join(", ")} decides where the stored ${required.join(", ")} is sent: send the ${required.join(", ")} again in the same request`
    })
  }
}

/** The IMAP server did not accept the login (or could not be reached): nothing was saved. */
export class AccountVerificationFailed extends Schema.TaggedError<AccountVerificationFailed>()(
  "AccountVerificationFailed",
  { message: Schema.String, reason: VerificationFailure },
  { httpApiStatus: 422 }
) {}
