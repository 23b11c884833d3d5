import { Effect, Redacted } from "effect"
import { HttpApiBuilder } from "effect/http-api"
import { Api } from "../contract/Api.ts"
import { ServiceUnavailable } from "../contract/http/ApiErrors.ts"
import { unavailable } from "../http/errorMapping.ts"
import { Auth } from "../users/Auth.ts"
import { CurrentUser } from "../contract/users/CurrentUser.ts"
import { UserStore } from "../users/UserStore.ts"

const redisUnavailable = () => Effect.fail(new ServiceUnavailable({ message: "session store unavailable" }))

export const AdminHttpLive = HttpApiBuilder.group(
  Api,
  "admin",
  Effect.fn(function* (handlers) {
    const users = yield* UserStore
    const auth = yield* Auth
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
  })
)
