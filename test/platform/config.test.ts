import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Effect, Option, Redacted, Result } from "effect"
import { appConfig, boundedInt } from "../../src/platform/Config.ts"

const load = (env: Record<string, string>) =>
  Effect.result(appConfig).pipe(Effect.provide(ConfigProvider.layer(ConfigProvider.fromUnknown(env))))

const loadBounded = (env: Record<string, string>) =>
  Effect.result(
    Effect.gen(function* () {
      return yield* boundedInt("SOME_COUNT", 1, 10, 4)
    })
  ).pipe(Effect.provide(ConfigProvider.layer(ConfigProvider.fromUnknown(env))))

describe("configuration", () => {
  it.effect("works on this machine with no environment at all", () =>
    Effect.gen(function* () {
      const result = yield* load({})
      assert.isTrue(Result.isSuccess(result))
      if (Result.isFailure(result)) return
      const config = result.success
      assert.strictEqual(config.port, 3000)
      assert.strictEqual(Redacted.value(config.databaseUrl), "postgres://root@127.0.0.1:5432/mail_helper")
      assert.isTrue(Option.isNone(config.otlpEndpoint))
      assert.isTrue(config.debugJobsEnabled)
    })
  )

  it.effect("stops on a malformed value with a message that names the variable", () =>
    Effect.gen(function* () {
      for (const [name, value] of [
        ["PORT", "eighty"],
        ["LOG_LEVEL", "loud"],
        ["OTEL_EXPORTER_OTLP_ENDPOINT", "not a url"],
        ["SHUTDOWN_GRACE_SECONDS", "1.5"]
      ] as const) {
        const result = yield* load({ [name]: value })
        assert.isTrue(Result.isFailure(result), `${name}=${value} was accepted`)
        if (Result.isFailure(result)) assert.include(String(result.failure), name)
      }
    })
  )

  it.effect("accepts the usual spellings of a log level and turns debug jobs off in production", () =>
    Effect.gen(function* () {
      const result = yield* load({ LOG_LEVEL: "debug", NODE_ENV: "production" })
      assert.isTrue(Result.isSuccess(result))
      if (Result.isFailure(result)) return
      assert.strictEqual(result.success.logLevel, "Debug")
      assert.isFalse(result.success.debugJobsEnabled)
      assert.strictEqual(result.success.logFormat, "json")
    })
  )

  it.effect("never shows the database password when printed", () =>
    Effect.gen(function* () {
      const result = yield* load({ DATABASE_URL: "postgres://app:s3cret-pw@db:5432/mail" })
      assert.isTrue(Result.isSuccess(result))
      if (Result.isSuccess(result)) assert.notInclude(JSON.stringify(result.success), "s3cret-pw")
    })
  )

  it.effect("a bounded whole number: the fallback when unset, the value within the range, a named error outside", () =>
    Effect.gen(function* () {
      assert.deepStrictEqual(yield* loadBounded({}), Result.succeed(4))
      assert.deepStrictEqual(yield* loadBounded({ SOME_COUNT: "10" }), Result.succeed(10))
      for (const value of ["0", "11", "2.5", "many"]) {
        const result = yield* loadBounded({ SOME_COUNT: value })
        assert.isTrue(Result.isFailure(result), `SOME_COUNT=${value} was accepted`)
        if (Result.isFailure(result)) assert.include(String(result.failure), "SOME_COUNT")
      }
    })
  )
})
