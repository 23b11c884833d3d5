import { Schema } from "effect"
import { Role, TokenScope } from "./CurrentUser.ts"
import { UserId } from "./UserId.ts"

/** A user as the API shows it (never the password hash). */
export class UserView extends Schema.Class<UserView>("User")({
  id: UserId,
  email: Schema.String,
  role: Role,
  disabled: Schema.Boolean,
  createdAt: Schema.Date,
  lastLoginAt: Schema.NullOr(Schema.Date)
}) {}

/** Longest password accepted: argon2 takes any length, but a bound keeps requests cheap to refuse. */
export const maxPasswordLength = 1024

export const TokenId = Schema.String.pipe(Schema.check(Schema.isUUID()), Schema.brand("ApiTokenId"))
export type TokenId = typeof TokenId.Type

/** Every token starts with this, so secret scanners and people can recognise one. */
export const tokenPrefix = "mh_"

/** Every token expires: at most this many days after it is made... */
export const maxTokenDays = 365
/** ...and this many when the request does not say. */
export const defaultTokenDays = 90

/** An API token as listed: never the secret, only its first characters to tell tokens apart. */
export class ApiTokenView extends Schema.Class<ApiTokenView>("ApiToken")({
  id: TokenId,
  name: Schema.String,
  /** The first characters of the token (`mh_` and four more). */
  prefix: Schema.String,
  /** What the token may do (see TokenScope). */
  scopes: Schema.Array(TokenScope),
  createdAt: Schema.Date,
  expiresAt: Schema.Date,
  lastUsedAt: Schema.NullOr(Schema.Date)
}) {}

/** A session as its owner sees it: `id` is the first characters of the SHA-256 Redis stores, never the cookie. */
export const SessionId = Schema.String.pipe(Schema.check(Schema.isPattern(/^[0-9a-f]{16}$/)), Schema.brand("SessionId"))
export type SessionId = typeof SessionId.Type

export class SessionView extends Schema.Class<SessionView>("Session")({
  id: SessionId,
  /** The browser's User-Agent at sign-in (at most 300 characters), null when it sent none. */
  userAgent: Schema.NullOr(Schema.String),
  signedInAt: Schema.Date,
  lastUsedAt: Schema.Date,
  /** When it ends unless used again (idle timeout), never past its absolute end. */
  expiresAt: Schema.Date,
  /** The session this request came with. */
  current: Schema.Boolean
}) {}

export const InviteId = Schema.String.pipe(Schema.check(Schema.isUUID()), Schema.brand("InviteId"))
export type InviteId = typeof InviteId.Type

export const InviteState = Schema.Literals(["pending", "used", "expired", "revoked"])
export type InviteState = typeof InviteState.Type

/** An invite as an admin lists it: never its code (only the hash is stored). */
export class InviteView extends Schema.Class<InviteView>("Invite")({
  id: InviteId,
  /** The one email it registers, or null for anyone holding the code. */
  email: Schema.NullOr(Schema.String),
  state: InviteState,
  createdAt: Schema.Date,
  expiresAt: Schema.Date,
  usedAt: Schema.NullOr(Schema.Date),
  revokedAt: Schema.NullOr(Schema.Date)
}) {}
