import { ConfigProvider, Effect, Layer } from "effect"
import { Redis as IORedis } from "ioredis"
import { inject } from "vitest"
import { adminSql, runtimeUrl, serverUrl } from "./postgres.ts"

export interface TestEnv {
  readonly databaseName: string
  /** The owner (superuser root) of the test database: migrations, and an independent view of what was stored. */
  readonly databaseUrl: string
  /** DATABASE_URL of the programs: the runtime login, bound by row-level security as in production. */
  readonly runtimeDatabaseUrl: string
  readonly redisUrl: string
  readonly redisPrefix: string
  /** The environment a child process (a real worker) needs to join this test's database and queues. */
  readonly env: Record<string, string>
}

const redisUrl = process.env["TEST_REDIS_URL"] ?? "redis://127.0.0.1:6379/0"

/**
 * A database cloned from the run's migrated template, and a Redis key prefix
 * of its own: test files never see each other's rows, queues or sessions.
 * The programs log in as the runtime login (DATABASE_URL) and migrate as the
 * owner (DATABASE_OWNER_URL), the production way, so every test also proves
 * the application works with the restricted login.
 */
export const makeTestEnv = (overrides: Record<string, string> = {}) =>
  Effect.acquireRelease(
    Effect.promise(async (): Promise<TestEnv> => {
      const suffix = `${process.pid}_${Math.random().toString(36).slice(2, 8)}`
      const databaseName = `mh_t_${suffix}`
      await adminSql(`CREATE DATABASE ${databaseName} TEMPLATE ${inject("templateDatabase")}`)
      const redisPrefix = `mht_${suffix}`
      const env: Record<string, string> = {
        NODE_ENV: "test",
        DATABASE_URL: runtimeUrl(databaseName),
        DATABASE_OWNER_URL: serverUrl(databaseName),
        REDIS_URL: redisUrl,
        REDIS_PREFIX: redisPrefix,
        LOG_LEVEL: "Warn",
        LOG_FORMAT: "json",
        JOB_LOCK_MS: "2000",
        JOB_STALLED_INTERVAL_MS: "1000",
        JOB_PROGRESS_INTERVAL_MS: "50",
        SHUTDOWN_GRACE_SECONDS: "10",
        // test files create and patch many accounts per user; the throttle's own test sets it low
        IMAP_VERIFY_MAX_PER_WINDOW: "10000",
        // the API's start-up warm-up (EmailsHttp.ts) checks out pool connections in the background,
        // which tests of the pool would count (test/ops/dbPool.test.ts); a test may set it again
        EMAILS_WARM_UP_CONNECTIONS: "0",
        // the tests' config is this object, not process.env: a run with IMAP_SESSION_IDLE_MS set
        // (`IMAP_SESSION_IDLE_MS=0 npx vitest run test/compat`, sessions not kept) passes it on
        ...(process.env["IMAP_SESSION_IDLE_MS"] === undefined
          ? {}
          : { IMAP_SESSION_IDLE_MS: process.env["IMAP_SESSION_IDLE_MS"] }),
        ...overrides
      }
      return {
        databaseName,
        databaseUrl: serverUrl(databaseName),
        runtimeDatabaseUrl: env["DATABASE_URL"] ?? "",
        redisUrl,
        redisPrefix,
        env
      }
    }),
    (testEnv) =>
      Effect.promise(async () => {
        await adminSql(`DROP DATABASE IF EXISTS ${testEnv.databaseName} WITH (FORCE)`)
        await deleteRedisKeys(testEnv.redisPrefix)
      })
  )

/** The test environment as the programs' configuration. */
export const configLayer = (testEnv: TestEnv) => ConfigProvider.layer(ConfigProvider.fromUnknown(testEnv.env))

const deleteRedisKeys = async (prefix: string) => {
  const redis = new IORedis(redisUrl, { maxRetriesPerRequest: 1 })
  try {
    let cursor = "0"
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 1000)
      cursor = next
      if (keys.length > 0) await redis.unlink(...keys)
    } while (cursor !== "0")
  } finally {
    redis.disconnect()
  }
}

/** Builds a layer that needs a TestEnv into one that creates its own. */
export const withTestEnv = <A, E, R>(
  build: (testEnv: TestEnv) => Layer.Layer<A, E, R>,
  overrides: Record<string, string> = {}
) => Layer.unwrap(Effect.map(makeTestEnv(overrides), build))
