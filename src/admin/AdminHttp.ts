import { Effect, Layer, Option, Redacted } from "effect"
import { HttpApiBuilder } from "effect/http-api"
import { Api } from "../contract/Api.ts"
import { ServiceUnavailable } from "../contract/http/ApiErrors.ts"
import { unavailable } from "../http/errorMapping.ts"
import { Auth } from "../users/Auth.ts"
import { CurrentUser } from "../contract/users/CurrentUser.ts"
import { UserStore } from "../users/UserStore.ts"
import { UserLimitsStore, type UserLimits } from "../users/UserLimitsStore.ts"
import { TokenBudgetLive } from "../analysis/AnalysisLive.ts"
import { dailyTokenBudgetConfig, TokenBudget } from "../analysis/TokenBudget.ts"
import { imapSlotsConfig } from "../imap/ImapSlots.ts"
import type { UserId } from "../contract/users/UserId.ts"
import { UserNotFound } from "../contract/users/UserErrors.ts"

/** The limits store answers None for an unknown user: 404 for the admin. */
const knownUser =
  (userId: UserId) =>
  (limits: Option.Option<UserLimits>): Effect.Effect<UserLimits, UserNotFound> =>
    Option.match(limits, {
      onNone: () => Effect.fail(new UserNotFound({ message: `no user with id ${userId}` })),
      onSome: Effect.succeed
    })

const redisUnavailable = () => Effect.fail(new ServiceUnavailable({ message: "session store unavailable" }))

const AdminHandlers = HttpApiBuilder.group(
  Api,
  "admin",
  Effect.fn(function* (handlers) {
    const users = yield* UserStore
    const auth = yield* Auth
    const limits = yield* UserLimitsStore
    const budget = yield* TokenBudget
    const defaultBudget = Option.getOrNull(yield* dailyTokenBudgetConfig.pipe(Effect.orDie))
    const imapDefaults = yield* imapSlotsConfig.pipe(Effect.orDie)
    const tokenBudgetView = (id: UserId, overrides: UserLimits) =>
      budget.status(id).pipe(
        Effect.map((today) => ({
          userId: id,
          override: overrides.aiDailyTokenBudget,
          default: defaultBudget,
          budget: today
        }))
      )
    const imapView = (id: UserId, overrides: UserLimits) => ({
      userId: id,
      override: overrides.imapMaxConnectionsPerAccount,
      default: imapDefaults.maxPerAccount,
      maxPerAccount: overrides.imapMaxConnectionsPerAccount ?? imapDefaults.maxPerAccount
    })
    return handlers
      .handle("listUsers", ({ query }) =>
        users
          .list({ limit: query.limit ?? 50, after: query.cursor })
          .pipe(Effect.catchTag("DatabaseError", unavailable))
      )
      .handle("disableUser", ({ params }) =>
        CurrentUser.use((admin) => auth.disableUser(admin.id, params.id)).pipe(
          Effect.catchTag("DatabaseError", unavailable),
          Effect.catchTag("RedisError", redisUnavailable)
        )
      )
      .handle("enableUser", ({ params }) =>
        auth.enableUser(params.id).pipe(Effect.catchTag("DatabaseError", unavailable))
      )
      .handle("listInvites", () =>
        users.listInvites(200).pipe(
          Effect.map((items) => ({ items })),
          Effect.catchTag("DatabaseError", unavailable)
        )
      )
      .handle("revokeInvite", ({ params }) =>
        users.revokeInvite(params.id).pipe(Effect.catchTag("DatabaseError", unavailable))
      )
      .handle("createInvite", ({ payload }) =>
        CurrentUser.use((admin) =>
          auth.createInvite({ createdBy: admin.id, email: payload.email, days: payload.expiresInDays })
        ).pipe(
          Effect.map((invite) => ({ code: Redacted.value(invite.code), expiresAt: invite.expiresAt })),
          Effect.catchTag("DatabaseError", unavailable)
        )
      )
      .handle("getTokenBudget", ({ params }) =>
        limits.get(params.id).pipe(
          Effect.flatMap(knownUser(params.id)),
          Effect.flatMap((overrides) => tokenBudgetView(params.id, overrides)),
          Effect.catchTag(["DatabaseError", "RedisError"], unavailable)
        )
      )
      .handle("setTokenBudget", ({ params, payload }) =>
        CurrentUser.use((admin) =>
          limits.set(admin.id, params.id, { _tag: "aiDailyTokenBudget", value: payload.dailyTokens })
        ).pipe(
          Effect.flatMap(knownUser(params.id)),
          Effect.flatMap((overrides) => tokenBudgetView(params.id, overrides)),
          Effect.catchTag(["DatabaseError", "RedisError"], unavailable)
        )
      )
      .handle("getImapConnections", ({ params }) =>
        limits.get(params.id).pipe(
          Effect.flatMap(knownUser(params.id)),
          Effect.map((overrides) => imapView(params.id, overrides)),
          Effect.catchTag("DatabaseError", unavailable)
        )
      )
      .handle("setImapConnections", ({ params, payload }) =>
        CurrentUser.use((admin) =>
          limits.set(admin.id, params.id, { _tag: "imapMaxConnectionsPerAccount", value: payload.maxPerAccount })
        ).pipe(
          Effect.flatMap(knownUser(params.id)),
          Effect.map((overrides) => imapView(params.id, overrides)),
          Effect.catchTag("DatabaseError", unavailable)
        )
      )
  })
)

/** The admin group, with the token budget it shows (UserStore, Auth, UserLimitsStore from UsersLive). */
export const AdminHttpLive = AdminHandlers.pipe(Layer.provide(TokenBudgetLive))
