import { Effect, Layer } from "effect"
import { HttpApiBuilder } from "effect/http-api"
import { Api } from "../contract/Api.ts"
import { rateLimited, unavailable } from "../http/errorMapping.ts"
import { CurrentUser } from "../contract/users/CurrentUser.ts"
import { Accounts } from "./Accounts.ts"
import { AccountsLive } from "./AccountsLive.ts"
import { VerifyThrottle } from "./VerifyThrottle.ts"

const AccountsHandlers = HttpApiBuilder.group(
  Api,
  "accounts",
  Effect.fn(function* (handlers) {
    const accounts = yield* Accounts
    return handlers
      .handle("create", ({ payload }) =>
        CurrentUser.use((user) => accounts.create(user.id, payload)).pipe(
          Effect.catchTag(["DatabaseError", "RedisError"], unavailable)
        )
      )
      .handle("list", () =>
        CurrentUser.use((user) => accounts.list(user.id)).pipe(
          Effect.map((items) => ({ items })),
          Effect.catchTag("DatabaseError", unavailable)
        )
      )
      .handle("get", ({ params }) =>
        CurrentUser.use((user) => accounts.get(user.id, params.id)).pipe(Effect.catchTag("DatabaseError", unavailable))
      )
      .handle("update", ({ params, payload }) =>
        CurrentUser.use((user) => accounts.update(user.id, params.id, payload)).pipe(
          Effect.catchTag(["DatabaseError", "RedisError"], unavailable)
        )
      )
      .handle("remove", ({ params }) =>
        CurrentUser.use((user) => accounts.remove(user.id, params.id)).pipe(
          Effect.catchTag("DatabaseError", unavailable)
        )
      )
      .handle("mailboxes", ({ params }) =>
        CurrentUser.use((user) => accounts.mailboxes(user.id, params.id)).pipe(
          Effect.map((items) => ({ items })),
          Effect.catchTag("DatabaseError", unavailable)
        )
      )
      .handle("sync", ({ params }) =>
        CurrentUser.use((user) => accounts.requestSync(user.id, params.id)).pipe(
          Effect.catchTag(["DatabaseError", "QueueUnavailable"], unavailable),
          Effect.catchTag("SubmitRateLimited", rateLimited)
        )
      )
  })
)

/** The `accounts` API group with its use cases over AccountsLive (needs SqlClient, UserScope, Jobs, JobStore, Redis). */
export const AccountsHttpLive = AccountsHandlers.pipe(
  Layer.provide(Accounts.layer.pipe(Layer.provide(VerifyThrottle.layer), Layer.provideMerge(AccountsLive)))
)
