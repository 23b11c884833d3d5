import { Context, Effect, Layer, Redacted, Schema, type Scope } from "effect"
import { Redis as IORedis } from "ioredis"
import { AppConfig } from "./Config.ts"

export class RedisError extends Schema.TaggedError<RedisError>()("RedisError", {
  message: Schema.String
}) {}

export type ConnectionRole =
  /** Commands issued on behalf of a request: fail fast while Redis is down instead of queueing. */
  | "command"
  /** Long-lived blocking or subscriber connections (BullMQ workers, pub/sub): retry for ever. */
  | "blocking"

export interface RedisShape {
  /** Shared connection for short commands (fails fast when Redis is unreachable). */
  readonly client: IORedis
  /** Namespaces a key under the installation's prefix. */
  readonly key: (...parts: ReadonlyArray<string>) => string
  readonly prefix: string
  /** Opens a new connection owned by the caller's scope (closed when the scope closes). */
  readonly connection: (name: string, role: ConnectionRole) => Effect.Effect<IORedis, never, Scope.Scope>
  /** Runs one command with a bounded wait, mapping failures to RedisError. */
  readonly use: <A>(name: string, f: (client: IORedis) => Promise<A>) => Effect.Effect<A, RedisError>
}

const optionsFor = (name: string, role: ConnectionRole) =>
  role === "command"
    ? // auto-pipelining sends the commands of one event-loop tick (publishes, queue adds) in one write
      {
        connectionName: name,
        maxRetriesPerRequest: 1,
        enableOfflineQueue: false,
        connectTimeout: 2_000,
        enableAutoPipelining: true
      }
    : { connectionName: name, maxRetriesPerRequest: null, enableOfflineQueue: true, connectTimeout: 5_000 }

export class Redis extends Context.Service<Redis, RedisShape>()("mail-helper/Redis") {
  static readonly layer = Layer.effect(
    Redis,
    Effect.gen(function* () {
      const config = yield* AppConfig
      const url = Redacted.value(config.redisUrl)
      const connection = (name: string, role: ConnectionRole) =>
        Effect.acquireRelease(
          Effect.sync(() => {
            const redis = new IORedis(url, optionsFor(`${config.serviceName}:${name}`, role))
            // ioredis emits 'error' on every failed reconnect; without a listener Node would crash the process.
            redis.on("error", () => {})
            return redis
          }),
          (redis) =>
            Effect.promise(() => redis.quit().catch(() => redis.disconnect())).pipe(
              Effect.timeout("2 seconds"),
              Effect.ignore
            )
        )
      const client = yield* connection("command", "command")
      // Commands fail fast while disconnected, so give the first connect a moment rather than failing the first request.
      yield* Effect.callback<void>((resume) => {
        const done = () => resume(Effect.void)
        const timer = setTimeout(done, 2_000)
        client.once("ready", () => {
          clearTimeout(timer)
          done()
        })
        return Effect.sync(() => clearTimeout(timer))
      })
      const use = <A>(name: string, f: (client: IORedis) => Promise<A>) =>
        Effect.tryPromise({
          try: () => f(client),
          catch: (cause) => new RedisError({ message: `redis ${name} failed: ${describe(cause)}` })
        }).pipe(
          Effect.timeoutOrElse({
            duration: "3 seconds",
            orElse: () => Effect.fail(new RedisError({ message: `redis ${name} timed out` }))
          })
        )
      return Redis.of({
        client,
        prefix: config.redisPrefix,
        key: (...parts) => [config.redisPrefix, ...parts].join(":"),
        connection,
        use
      })
    })
  )
}

const describe = (cause: unknown): string => (cause instanceof Error ? cause.message : String(cause))
