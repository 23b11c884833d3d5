import { PgClient, type PgConnection, PgPool } from "@effect/sql-pg"
import { Array as Arr, Context, Effect, Layer, Metric, type Scope, Stream } from "effect"
import * as Reactivity from "effect/reactivity/Reactivity"
import { SqlClient } from "effect/sql"
import type * as SqlConnection from "effect/sql/SqlConnection"
import { SqlError, UnknownError } from "effect/sql/SqlError"
import { dbPoolAcquireDuration, dbPoolConnections, dbPoolWaiting } from "./Metrics.ts"

/**
 * A PostgreSQL client over a connection pool that reports how the pool is used, per pool name
 * (`app`, `system`): `db_pool_connections{pool,state="in_use"|"idle"}`, `db_pool_waiting{pool}`
 * (checkouts waiting for a connection) and `db_pool_acquire_duration_seconds{pool}` (how long a
 * checkout took, waiting and opening a connection included).
 *
 * @effect/sql-pg's `PgClient.layer` keeps its pool to itself (no counts, no hooks), so this builds
 * the same client as `PgClient.make` (same compiler, transaction statements and COMMIT check) over
 * a `PgPool` whose checkouts are counted here. One counter update per checkout and per release;
 * no statement is wrapped.
 */

/** An open connection: `closed` is set when the pool closes it, `deadWith` when it failed. */
const isOpen = (connection: PgConnection.PgConnection): boolean =>
  Reflect.get(connection, "closed") !== true && Reflect.get(connection, "deadWith") === undefined

const instrument = (pool: PgPool.PgPool, name: string) => {
  const attributes = { pool: name }
  const inUseGauge = Metric.withAttributes(dbPoolConnections, { pool: name, state: "in_use" })
  const idleGauge = Metric.withAttributes(dbPoolConnections, { pool: name, state: "idle" })
  const waitingGauge = Metric.withAttributes(dbPoolWaiting, attributes)
  const acquireHistogram = Metric.withAttributes(dbPoolAcquireDuration, attributes)
  let waiting = 0
  let inUse = 0
  // every connection this pool handed out; a closed one is dropped when the gauges are published
  const connections = new Set<PgConnection.PgConnection>()

  const publish = Effect.suspend(() => {
    for (const connection of connections) if (!isOpen(connection)) connections.delete(connection)
    return Effect.all(
      [
        Metric.update(waitingGauge, waiting),
        Metric.update(inUseGauge, inUse),
        Metric.update(idleGauge, Math.max(0, connections.size - inUse))
      ],
      { discard: true }
    )
  })
  const queued = Effect.sync(() => {
    waiting++
    return performance.now()
  }).pipe(Effect.tap(publish))
  const acquired = (connection: PgConnection.PgConnection, startedAt: number) =>
    Effect.suspend(() => {
      waiting--
      inUse++
      connections.add(connection)
      return Metric.update(acquireHistogram, (performance.now() - startedAt) / 1000)
    }).pipe(Effect.andThen(publish))
  const notAcquired = Effect.suspend(() => {
    waiting--
    return publish
  })
  const released = Effect.suspend(() => {
    inUse--
    return publish
  })

  /** A checkout into the scope (statements of a stream, a transaction's connection). */
  const get: Effect.Effect<PgConnection.PgConnection, SqlError, Scope.Scope> = Effect.uninterruptibleMask((restore) =>
    Effect.flatMap(queued, (startedAt) =>
      restore(pool.get).pipe(
        Effect.onError(() => notAcquired),
        Effect.tap((connection) => acquired(connection, startedAt)),
        Effect.tap(() => Effect.addFinalizer(() => released))
      )
    )
  )
  const use = <A, E, R>(f: (connection: PgConnection.PgConnection) => Effect.Effect<A, E, R>) =>
    Effect.flatMap(queued, (startedAt) => {
      let lent = false
      return pool
        .use((connection) =>
          Effect.uninterruptibleMask((restore) =>
            Effect.sync(() => {
              lent = true
            }).pipe(
              Effect.andThen(acquired(connection, startedAt)),
              Effect.andThen(restore(f(connection))),
              Effect.ensuring(released)
            )
          )
        )
        .pipe(Effect.onExit(() => (lent ? Effect.void : notAcquired)))
    })
  return {
    get,
    use,
    /** As PgPool's: an exclusive checkout (the pool is not multiplexed, so `get` already is one). */
    reserve: Effect.flatMap(get, (connection) => connection.pin),
    publish
  }
}

/** The SqlConnection the client runs statements on, as @effect/sql-pg's own. */
const sqlConnection = (connection: PgConnection.PgConnection): SqlConnection.Connection => {
  const run = (sql: string, params: ReadonlyArray<unknown>, prepare = true) =>
    Effect.map(connection.query(sql, params, prepare), (result) => result.rows)
  return {
    execute: (sql, params, transformRows) =>
      transformRows === undefined ? run(sql, params) : Effect.map(run(sql, params), transformRows),
    executeRaw: (sql, params) => connection.query(sql, params),
    executeStream: (sql, params, transformRows) => {
      const stream = connection.stream(sql, params)
      // a transform maps row for row, so a non-empty chunk stays non-empty
      return transformRows === undefined
        ? stream
        : Stream.mapArray(stream, (rows) => {
            const transformed = transformRows(rows)
            return Arr.isReadonlyArrayNonEmpty(transformed) ? transformed : rows
          })
    },
    executeValues: (sql, params) => connection.queryValues(sql, params),
    executeValuesUnprepared: (sql, params) => connection.queryValues(sql, params, false),
    executeUnprepared: (sql, params, transformRows) =>
      transformRows === undefined ? run(sql, params, false) : Effect.map(run(sql, params, false), transformRows)
  }
}

/** PostgreSQL answers COMMIT with ROLLBACK when the transaction had failed. */
const commit = (connection: SqlConnection.Connection) =>
  Effect.flatMap(connection.executeRaw("COMMIT", []), (result) =>
    typeof result === "object" && result !== null && Reflect.get(result, "command") === "ROLLBACK"
      ? Effect.fail(
          new SqlError({
            reason: new UnknownError({
              cause: new Error("COMMIT rolled back an aborted transaction"),
              message: "PgClient: COMMIT rolled back an aborted transaction",
              operation: "commit"
            })
          })
        )
      : Effect.void
  )

/**
 * A SqlClient over an instrumented pool named `name` (see above); options as PgClient.layer's,
 * without multiplexing (a checkout is one connection) or result-name transforms (unused here).
 */
export const instrumentedPgClientLayer = (
  name: string,
  options: Omit<PgClient.PgPoolConfig, "multiplex" | "multiplexConcurrency" | "transformResultNames">
) =>
  Layer.effectContext(
    Effect.gen(function* () {
      const pool = instrument(yield* PgPool.make(options), name)
      yield* pool.publish
      const client = yield* SqlClient.make({
        acquirer: Effect.map(pool.get, sqlConnection),
        borrower: (f) => pool.use((connection) => f(sqlConnection(connection))),
        transactionAcquirer: Effect.map(pool.reserve, sqlConnection),
        prepareTransactionControls: true,
        commit,
        releaseSavepoint: (savepoint) => `RELEASE SAVEPOINT ${savepoint}`,
        compiler: PgClient.makeCompiler(options.transformQueryNames, options.transformJson),
        driver: "pg",
        spanAttributes: [
          ...Object.entries(options.spanAttributes ?? {}),
          ["db.system.name", "postgresql"],
          ["db.namespace", options.database ?? options.username ?? "postgres"],
          ["server.address", options.host ?? "localhost"],
          ["server.port", options.port ?? 5432],
          ["db.pool.name", name]
        ]
      })
      return Context.make(SqlClient.SqlClient, client)
    })
  ).pipe(Layer.provide(Reactivity.layer))
