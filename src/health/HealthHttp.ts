import { Effect } from "effect"
import { HttpApiBuilder } from "effect/http-api"
import { SqlClient } from "effect/sql"
import { Api } from "../contract/Api.ts"
import { Redis } from "../platform/Redis.ts"
import { NotReady } from "../contract/health/HealthApi.ts"

const probe = <E, R>(check: Effect.Effect<unknown, E, R>) =>
  check.pipe(
    Effect.timeoutOption("1 second"),
    Effect.map((result) => (result._tag === "Some" ? ("up" as const) : ("down" as const))),
    Effect.orElseSucceed(() => "down" as const)
  )

export const HealthHttpLive = HttpApiBuilder.group(
  Api,
  "health",
  Effect.fn(function* (handlers) {
    const sql = yield* SqlClient.SqlClient
    const redis = yield* Redis
    return handlers
      .handle("live", () => Effect.succeed({ status: "ok" as const }))
      .handle("ready", () =>
        Effect.gen(function* () {
          const [postgres, redisStatus] = yield* Effect.all(
            [probe(sql`SELECT 1`), probe(redis.use("ping", (client) => client.ping()))],
            { concurrency: 2 }
          )
          const checks = { postgres, redis: redisStatus }
          if (postgres === "down" || redisStatus === "down") {
            const down = Object.entries(checks)
              .filter(([, status]) => status === "down")
              .map(([name]) => name)
            return yield* new NotReady({ message: `unavailable: ${down.join(", ")}`, checks })
          }
          return { status: "ready" as const, checks }
        })
      )
  })
)
