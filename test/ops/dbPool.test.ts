import { assert, layer } from "@effect/vitest"
import { Deferred, Effect, Fiber, Schedule, Stream } from "effect"
import { SqlClient } from "effect/sql"
import { SystemDatabase } from "../../src/platform/Database.ts"
import { apiTestLayer } from "../harness/apiLayer.ts"
import { baseUrl, call } from "../harness/http.ts"
import { parseExposition, samplesOf } from "./prometheus.ts"

/**
 * The database pools' metrics on the API's /metrics, under real contention: pools of two
 * connections (DATABASE_MAX_CONNECTIONS=2; the system pool takes max(2, half)), two
 * transactions holding both connections, three more statements queued behind them.
 */
const TestLayer = apiTestLayer({ DATABASE_MAX_CONNECTIONS: "2" })

const poolSample = (text: string, name: string, labels: Record<string, string>) =>
  samplesOf(parseExposition(text), name, labels)[0]?.value

const poolState = (base: string, pool: string) =>
  Effect.map(call(base, "GET", "/metrics"), (response) => ({
    inUse: poolSample(response.text, "db_pool_connections", { pool, state: "in_use" }),
    idle: poolSample(response.text, "db_pool_connections", { pool, state: "idle" }),
    waiting: poolSample(response.text, "db_pool_waiting", { pool }),
    acquired: poolSample(response.text, "db_pool_acquire_duration_seconds_count", { pool }) ?? 0
  }))

/** Polls /metrics until the pool shows `expected` (a state seen on a real scrape, not computed here). */
const awaitPool = (base: string, pool: string, expected: { inUse: number; idle?: number; waiting: number }) =>
  poolState(base, pool).pipe(
    Effect.flatMap((state) =>
      state.inUse === expected.inUse &&
      state.waiting === expected.waiting &&
      (expected.idle === undefined || state.idle === expected.idle)
        ? Effect.succeed(state)
        : Effect.fail(`${pool}: ${JSON.stringify(state)}, expected ${JSON.stringify(expected)}`)
    ),
    Effect.retry(Schedule.spaced("50 millis").pipe(Schedule.upTo({ times: 200 }))),
    Effect.orDie
  )

const contend = (base: string, pool: string, sql: SqlClient.SqlClient) =>
  Effect.gen(function* () {
    const before = yield* poolState(base, pool)
    const gate = yield* Deferred.make<void>()
    const holders = yield* Effect.forEach([1, 2], () =>
      Effect.forkChild(sql.withTransaction(Effect.andThen(sql`SELECT 1`, Deferred.await(gate))))
    )
    yield* awaitPool(base, pool, { inUse: 2, idle: 0, waiting: 0 })
    const queued = yield* Effect.forEach([1, 2, 3], (n) => Effect.forkChild(sql`SELECT ${n}::int AS n`))
    const exhausted = yield* awaitPool(base, pool, { inUse: 2, idle: 0, waiting: 3 })

    yield* Deferred.succeed(gate, undefined)
    yield* Fiber.joinAll([...holders, ...queued])
    const after = yield* awaitPool(base, pool, { inUse: 0, idle: 2, waiting: 0 })
    // every checkout was timed: two holders (plus their SELECT inside the transaction, which
    // reuses the transaction's connection) and three queued statements
    assert.isAtLeast(after.acquired - before.acquired, 5, `${pool}: ${JSON.stringify({ before, after })}`)
    return exhausted
  })

layer(TestLayer, { excludeTestServices: true, timeout: "120 seconds" })("database pool metrics", (it) => {
  it.effect("show connections in use, idle and waiting, and acquire time, for the app and the system pool", () =>
    Effect.gen(function* () {
      const base = yield* baseUrl
      const app = yield* contend(base, "app", yield* SqlClient.SqlClient)
      assert.strictEqual(app.waiting, 3)
      const system = yield* contend(base, "system", yield* SystemDatabase)
      assert.strictEqual(system.waiting, 3)

      // the waits are in the acquire histogram: some checkout took at least as long as the holders held
      const response = yield* call(base, "GET", "/metrics")
      const families = parseExposition(response.text)
      for (const pool of ["app", "system"]) {
        const fast = samplesOf(families, "db_pool_acquire_duration_seconds_bucket", { pool, le: "0.001" })[0]?.value
        const all = samplesOf(families, "db_pool_acquire_duration_seconds_count", { pool })[0]?.value
        assert.isDefined(all, `${pool}: no acquire histogram`)
        assert.isBelow(fast ?? 0, all ?? 0, `${pool}: no checkout waited at all`)
      }
    })
  )

  it.effect(
    "the instrumented client keeps PgClient's behaviour: COMMIT of an aborted transaction fails, streams, values",
    () =>
      Effect.gen(function* () {
        const base = yield* baseUrl
        const sql = yield* SqlClient.SqlClient
        const before = yield* poolState(base, "app")
        const aborted = yield* Effect.flip(sql.withTransaction(sql`SELECT 1 / 0`.pipe(Effect.ignore)))
        assert.include(aborted.message, "COMMIT rolled back an aborted transaction")
        const streamed = yield* Stream.runCollect(sql`SELECT generate_series(1, 3) AS n`.stream)
        assert.deepStrictEqual(Array.from(streamed), [{ n: 1 }, { n: 2 }, { n: 3 }])
        assert.deepStrictEqual(yield* sql`SELECT 1 AS a, 'x' AS b`.values, [[1, "x"]])
        // every lease went back: nothing in use, nothing waiting
        const after = yield* awaitPool(base, "app", { inUse: 0, waiting: 0 })
        assert.isAbove(after.acquired, before.acquired)
      })
  )
})
