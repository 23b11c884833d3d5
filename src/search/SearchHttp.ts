import { Effect } from "effect"
import { HttpApiBuilder } from "effect/http-api"
import { Api } from "../contract/Api.ts"
import { ValidationError } from "../contract/http/ApiErrors.ts"
import { unavailable } from "../http/errorMapping.ts"
import { CurrentUser } from "../contract/users/CurrentUser.ts"
import { Search } from "./Search.ts"

export const SearchHttpLive = HttpApiBuilder.group(
  Api,
  "search",
  Effect.fn(function* (handlers) {
    const search = yield* Search
    return handlers.handle("search", ({ query }) =>
      Effect.gen(function* () {
        const user = yield* CurrentUser
        const q = query.q.trim()
        if (q.length === 0) {
          return yield* new ValidationError({
            message: "invalid request query: query.q",
            issues: [{ path: "query.q", message: "must contain something to search for" }]
          })
        }
        return yield* search.search(user.id, q, query.mode ?? "hybrid", query.limit ?? 20)
      }).pipe(Effect.catchTag("DatabaseError", unavailable))
    )
  })
)
