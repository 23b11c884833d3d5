import { Context, Schema } from "effect"
import { HttpApiMiddleware } from "effect/http-api"
import { Forbidden, ServiceUnavailable, Unauthorized } from "../http/ApiErrors.ts"
import type { UserId } from "./UserId.ts"

export const Role = Schema.Literals(["user", "admin"])
export type Role = typeof Role.Type

/** The signed-in user of the current request. Handlers scope every read and write by its id. */
export class CurrentUser extends Context.Service<
  CurrentUser,
  { readonly id: UserId; readonly email: string; readonly role: Role }
>()("mail-helper/CurrentUser") {}

/**
 * Resolves the session cookie or bearer token to a CurrentUser. Unsafe
 * methods authenticated by cookie must come from our own origin (CSRF).
 */
export class Authentication extends HttpApiMiddleware.Service<Authentication, { provides: CurrentUser }>()(
  "mail-helper/Authentication",
  { error: [Unauthorized, Forbidden, ServiceUnavailable] }
) {}
