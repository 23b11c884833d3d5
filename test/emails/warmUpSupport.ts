import { Effect } from "effect"
import { baseUrl, call } from "../harness/http.ts"
import { parseExposition, samplesOf } from "../ops/prometheus.ts"

/** Checkouts of the API's app pool so far, on its /metrics (the pool metrics are the process's). */
export const appPoolCheckouts = Effect.gen(function* () {
  const response = yield* call(yield* baseUrl, "GET", "/metrics")
  return (
    samplesOf(parseExposition(response.text), "db_pool_acquire_duration_seconds_count", { pool: "app" })[0]?.value ?? 0
  )
})
