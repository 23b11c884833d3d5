import { Context, Schema } from "effect"
import { HttpApiMiddleware } from "effect/http-api"
import { Forbidden, ServiceUnavailable, Unauthorized } from "../http/ApiErrors.ts"
import type { UserId } from "./UserId.ts"

export const Role = Schema.Literals(["user", "admin"])
export type Role = typeof Role.Type

/**
 * What an API token may do. `read`: safe methods (GET, HEAD, OPTIONS); `write`: every other method;
 * `admin`: act with the owner's admin role (without it a token acts as a plain `user`). The
 * Authentication middleware enforces them for every endpoint; a session has all its role allows.
 */
export const TokenScope = Schema.Literals(["read", "write", "admin"])
export type TokenScope = typeof TokenScope.Type

/** Every scope a credential of this role may hold. */
export const scopesOfRole = (role: Role): ReadonlyArray<TokenScope> =>
  role === "admin" ? ["read", "write", "admin"] : ["read", "write"]

export interface CurrentUserShape {
  readonly id: UserId
  readonly email: string
  /** The role the request acts with: a token without the `admin` scope acts as `user`. */
  readonly role: Role
  /** Set when the request was authenticated by an API token (absent for a session). */
  readonly token?: { readonly id: string; readonly scopes: ReadonlyArray<TokenScope> }
}

/** The signed-in user of the current request. Handlers scope every read and write by its id. */
export class CurrentUser extends Context.Service<CurrentUser, CurrentUserShape>()("mail-helper/CurrentUser") {}

/**
 * Resolves the session cookie or bearer token to a CurrentUser. Unsafe
 * methods authenticated by cookie must come from our own origin (CSRF).
 */
export class Authentication extends HttpApiMiddleware.Service<Authentication, { provides: CurrentUser }>()(
  "mail-helper/Authentication",
  { error: [Unauthorized, Forbidden, ServiceUnavailable] }
) {}
