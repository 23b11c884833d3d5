import { Schema } from "effect"
import { HttpApiEndpoint, HttpApiGroup, HttpApiSchema } from "effect/http-api"
import { Conflict, ServiceUnavailable, ValidationError } from "../http/ApiErrors.ts"
import { Authentication } from "../users/CurrentUser.ts"
import { InviteNotFound, UserNotFound } from "../users/UserErrors.ts"
import { UserId } from "../users/UserId.ts"
import { InviteId, InviteView, UserView } from "../users/UserViews.ts"
import { TokenBudgetView } from "../analysis/AnalysisApi.ts"
import { AdminOnly } from "./AdminOnly.ts"

export const UserListQuery = {
  limit: Schema.optionalKey(
    Schema.FiniteFromString.pipe(Schema.check(Schema.isInt(), Schema.isBetween({ minimum: 1, maximum: 200 })))
  ),
  /** `nextCursor` of the previous page. */
  cursor: Schema.optionalKey(Schema.String.pipe(Schema.check(Schema.isMaxLength(320))))
}

export const UserPage = Schema.Struct({
  items: Schema.Array(UserView),
  nextCursor: Schema.NullOr(Schema.String)
})

export const CreateInviteRequest = Schema.Struct({
  /** Bind the invite to one email; omit for an invite anyone holding the code may use. */
  email: Schema.optionalKey(Schema.String.pipe(Schema.check(Schema.isMaxLength(320)))),
  expiresInDays: Schema.optionalKey(Schema.Int.pipe(Schema.check(Schema.isBetween({ minimum: 1, maximum: 365 }))))
})

/** Shown once: only the code's hash is stored. */
export const CreatedInvite = Schema.Struct({ code: Schema.String, expiresAt: Schema.Date })

/** Every invite, newest first (at most the 200 newest). */
export const InviteList = Schema.Struct({ items: Schema.Array(InviteView) })

const UserIdParams = { id: UserId }

/** A user's daily AI token budget as the admin sees it: the override (null = the default) and today's figures. */
export const AdminTokenBudget = Schema.Struct({
  userId: UserId,
  override: Schema.NullOr(Schema.Int),
  default: Schema.NullOr(Schema.Int),
  budget: TokenBudgetView
})

/** `dailyTokens` null: back to AI_DAILY_TOKEN_BUDGET. */
export const SetTokenBudgetRequest = Schema.Struct({
  dailyTokens: Schema.NullOr(
    Schema.Int.pipe(Schema.check(Schema.isBetween({ minimum: 0, maximum: 1_000_000_000_000 })))
  )
})

/** The cap of simultaneous IMAP connections for each of a user's accounts. */
export const AdminImapConnections = Schema.Struct({
  userId: UserId,
  override: Schema.NullOr(Schema.Int),
  default: Schema.Int,
  maxPerAccount: Schema.Int
})

/** `maxPerAccount` null: back to IMAP_MAX_CONNECTIONS_PER_ACCOUNT. */
export const SetImapConnectionsRequest = Schema.Struct({
  maxPerAccount: Schema.NullOr(Schema.Int.pipe(Schema.check(Schema.isBetween({ minimum: 1, maximum: 100 }))))
})

/** User administration; every endpoint needs an admin (403 for other users). */
export class AdminApi extends HttpApiGroup.make("admin")
  .add(
    HttpApiEndpoint.get("listUsers", "/admin/users", {
      query: UserListQuery,
      success: UserPage,
      error: ServiceUnavailable
    })
  )
  .add(
    HttpApiEndpoint.post("disableUser", "/admin/users/:id/disable", {
      params: UserIdParams,
      success: UserView,
      error: [UserNotFound, Conflict, ServiceUnavailable]
    })
  )
  .add(
    HttpApiEndpoint.post("enableUser", "/admin/users/:id/enable", {
      params: UserIdParams,
      success: UserView,
      error: [UserNotFound, ServiceUnavailable]
    })
  )
  .add(
    HttpApiEndpoint.post("createInvite", "/admin/invites", {
      payload: CreateInviteRequest,
      success: CreatedInvite.pipe(HttpApiSchema.status(201)),
      error: [ValidationError, ServiceUnavailable]
    })
  )
  .add(
    HttpApiEndpoint.get("getTokenBudget", "/admin/users/:id/token-budget", {
      params: UserIdParams,
      success: AdminTokenBudget,
      error: [UserNotFound, ServiceUnavailable]
    })
  )
  .add(
    HttpApiEndpoint.put("setTokenBudget", "/admin/users/:id/token-budget", {
      params: UserIdParams,
      payload: SetTokenBudgetRequest,
      success: AdminTokenBudget,
      error: [UserNotFound, ServiceUnavailable]
    })
  )
  .add(
    HttpApiEndpoint.get("getImapConnections", "/admin/users/:id/imap-connections", {
      params: UserIdParams,
      success: AdminImapConnections,
      error: [UserNotFound, ServiceUnavailable]
    })
  )
  .add(
    HttpApiEndpoint.put("setImapConnections", "/admin/users/:id/imap-connections", {
      params: UserIdParams,
      payload: SetImapConnectionsRequest,
      success: AdminImapConnections,
      error: [UserNotFound, ServiceUnavailable]
    })
  )
  .add(
    HttpApiEndpoint.get("listInvites", "/admin/invites", {
      success: InviteList,
      error: ServiceUnavailable
    })
  )
  .add(
    HttpApiEndpoint.delete("revokeInvite", "/admin/invites/:id", {
      params: { id: InviteId },
      success: InviteView,
      // 409: the invite was used already (revoking cannot undo a registration)
      error: [InviteNotFound, Conflict, ServiceUnavailable]
    })
  )
  .middleware(AdminOnly)
  .middleware(Authentication)
  .prefix("/api/v1") {}
