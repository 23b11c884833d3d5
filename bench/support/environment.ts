import { ConfigProvider, Effect, type Layer } from "effect"
import { spawnSync } from "node:child_process"
import { Redis as IORedis } from "ioredis"
import { AppConfig } from "../../src/platform/Config.ts"
import { migrateAsOwner } from "../../src/platform/Database.ts"

/**
 * A throw-away database (migrated) and Redis key prefix for one benchmark
 * run, removed afterwards, so benchmarks never touch real data.
 */
export interface BenchEnvironment {
  readonly env: Record<string, string>
  readonly databaseUrl: string
  readonly redisUrl: string
  readonly redisPrefix: string
  readonly config: Layer.Layer<never>
  readonly psql: (query: string) => string
}

const serverUrl = process.env["BENCH_POSTGRES_URL"] ?? "postgres://root@127.0.0.1:5432"
const redisUrl = process.env["BENCH_REDIS_URL"] ?? "redis://127.0.0.1:6379/0"

const run = (url: string, query: string): string => {
  const result = spawnSync("psql", [url, "-v", "ON_ERROR_STOP=1", "-qAtc", query], { encoding: "utf8" })
  if (result.status !== 0) throw new Error(`psql failed: ${result.stderr}`)
  return result.stdout.trim()
}

export const benchEnvironment = (name: string, overrides: Record<string, string> = {}) =>
  Effect.acquireRelease(
    Effect.gen(function* () {
      const database = `mh_bench_${name}_${process.pid}`
      run(`${serverUrl}/postgres`, `CREATE DATABASE ${database}`)
      const env: Record<string, string> = {
        NODE_ENV: "test",
        DATABASE_URL: `${serverUrl}/${database}`,
        REDIS_URL: redisUrl,
        REDIS_PREFIX: `mhbench_${name}_${process.pid}`,
        LOG_LEVEL: "Warn",
        ...overrides
      }
      const config = ConfigProvider.layer(ConfigProvider.fromUnknown(env))
      yield* migrateAsOwner.pipe(Effect.provide(AppConfig.layer), Effect.provide(config))
      return {
        env,
        databaseUrl: `${serverUrl}/${database}`,
        redisUrl,
        redisPrefix: env["REDIS_PREFIX"] ?? "",
        config,
        psql: (query: string) => run(`${serverUrl}/${database}`, query)
      } satisfies BenchEnvironment
    }),
    (bench) =>
      Effect.promise(async () => {
        run(`${serverUrl}/postgres`, `DROP DATABASE IF EXISTS ${bench.databaseUrl.split("/").at(-1)} WITH (FORCE)`)
        const redis = new IORedis(redisUrl, { maxRetriesPerRequest: 1 })
        let cursor = "0"
        do {
          const [next, keys] = await redis.scan(cursor, "MATCH", `${bench.redisPrefix}:*`, "COUNT", 1000)
          cursor = next
          if (keys.length > 0) await redis.unlink(...keys)
        } while (cursor !== "0")
        redis.disconnect()
      })
  )

export const rate = (count: number, millis: number): number => Math.round((count / millis) * 1000)
