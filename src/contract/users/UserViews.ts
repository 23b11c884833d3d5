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
