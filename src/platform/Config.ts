import { Config, Context, Effect, Layer, Option, Redacted, Schema } from "effect"

/**
 * Settings shared by every program. Each value comes from one environment
 * variable; defaults work against the local PostgreSQL and Redis of a
 * development machine. A malformed value stops start-up with a ConfigError
 * that names the variable.
 */
export interface AppConfigShape {
  readonly environment: "development" | "production" | "test"
  /** The runtime login of both pools: a member of the app and system roles only, owns nothing (docs/security.md). */
  readonly databaseUrl: Redacted.Redacted<string>
  /** The schema owner's login, for migrations only; unset outside production means DATABASE_URL. */
  readonly databaseOwnerUrl: Option.Option<Redacted.Redacted<string>>
  readonly databaseMaxConnections: number
  readonly redisUrl: Redacted.Redacted<string>
  /** Key prefix for every Redis key (BullMQ queues, sessions, pub/sub), so installations and test runs can share a server. */
  readonly redisPrefix: string
  readonly host: string
  readonly port: number
  readonly workerMetricsPort: number
  readonly otlpEndpoint: Option.Option<string>
  readonly serviceName: string
  readonly traceSampleRatio: number
  readonly logLevel: LogLevelName
  readonly logFormat: "json" | "pretty"
  readonly debugJobsEnabled: boolean
  readonly migrateOnStart: boolean
  readonly shutdownGraceSeconds: number
  /** How long a worker's lock on a job lives without renewal before BullMQ declares it stalled. */
  readonly jobLockMillis: number
  readonly jobStalledIntervalMillis: number
  /** Minimum spacing between two durable progress writes of one job. */
  readonly progressWriteIntervalMillis: number
  readonly jobRetentionDays: number
  /**
   * JOB_CONCURRENCY: a worker's slots per job kind where they differ from the kind's own
   * (`mail.sync=8,mail.analyze=4`); the worker refuses to start with a kind it does not run.
   */
  readonly jobConcurrency: ReadonlyMap<string, number>
}

const logLevels = ["Trace", "Debug", "Info", "Warn", "Error", "Fatal", "None"] as const
type LogLevelName = (typeof logLevels)[number]
// LOG_LEVEL is accepted in any of the usual spellings: info, Info
const normaliseLogLevel = (value: string): LogLevelName =>
  logLevels.find((level) => level.toLowerCase() === value.toLowerCase()) ?? "Info"

const environment = Config.Literals(["development", "production", "test"], "NODE_ENV").pipe(
  Config.withDefault("development" as const)
)

export const appConfig = Effect.gen(function* () {
  const env = yield* environment
  return yield* Config.all({
    environment: Config.succeed(env),
    databaseUrl: Config.Redacted("DATABASE_URL").pipe(
      Config.withDefault(redacted("postgres://root@127.0.0.1:5432/mail_helper"))
    ),
    databaseOwnerUrl: Config.option(Config.Redacted("DATABASE_OWNER_URL")),
    databaseMaxConnections: Config.Int("DATABASE_MAX_CONNECTIONS").pipe(Config.withDefault(10)),
    redisUrl: Config.Redacted("REDIS_URL").pipe(Config.withDefault(redacted("redis://127.0.0.1:6379/0"))),
    redisPrefix: Config.String("REDIS_PREFIX").pipe(Config.withDefault("mh")),
    host: Config.String("HOST").pipe(Config.withDefault("0.0.0.0")),
    port: Config.Port("PORT").pipe(Config.withDefault(3000)),
    workerMetricsPort: Config.Port("WORKER_METRICS_PORT").pipe(Config.withDefault(9464)),
    otlpEndpoint: Config.option(Config.URL("OTEL_EXPORTER_OTLP_ENDPOINT")).pipe(
      Config.map(Option.map((url) => url.toString().replace(/\/$/, "")))
    ),
    serviceName: Config.String("OTEL_SERVICE_NAME").pipe(Config.withDefault("mail-helper")),
    traceSampleRatio: Config.Finite("OTEL_TRACES_SAMPLER_ARG").pipe(Config.withDefault(1)),
    logLevel: Config.Literals([...logLevels, ...logLevels.map((level) => level.toLowerCase())], "LOG_LEVEL").pipe(
      Config.withDefault("Info"),
      Config.map(normaliseLogLevel)
    ),
    logFormat: Config.Literals(["json", "pretty"], "LOG_FORMAT").pipe(
      Config.withDefault(env === "production" ? ("json" as const) : ("pretty" as const))
    ),
    debugJobsEnabled: Config.Boolean("ENABLE_DEBUG_JOBS").pipe(Config.withDefault(env !== "production")),
    migrateOnStart: Config.Boolean("MIGRATE_ON_START").pipe(Config.withDefault(false)),
    shutdownGraceSeconds: Config.Int("SHUTDOWN_GRACE_SECONDS").pipe(Config.withDefault(30)),
    jobLockMillis: Config.Int("JOB_LOCK_MS").pipe(Config.withDefault(30_000)),
    jobStalledIntervalMillis: Config.Int("JOB_STALLED_INTERVAL_MS").pipe(Config.withDefault(30_000)),
    progressWriteIntervalMillis: Config.Int("JOB_PROGRESS_INTERVAL_MS").pipe(Config.withDefault(500)),
    jobRetentionDays: Config.Int("JOB_RETENTION_DAYS").pipe(Config.withDefault(30)),
    jobConcurrency: Config.schema(
      Schema.String.check(
        Schema.isPattern(concurrencyList, {
          message: "expected kind=slots pairs (slots 1-999), e.g. mail.sync=8,mail.analyze=4"
        })
      ),
      "JOB_CONCURRENCY"
    ).pipe(Config.withDefault(""), Config.map(parseConcurrencyList))
  })
})

/** `kind=slots` pairs (1-999 slots), separated by commas and/or spaces; empty: every kind's own. */
const concurrencyList = /^\s*([a-z][a-z0-9_.-]*=[1-9][0-9]{0,2}(\s*,\s*|\s+|\s*$))*$/

const parseConcurrencyList = (value: string): ReadonlyMap<string, number> =>
  new Map(
    value
      .split(/[\s,]+/)
      .filter((entry) => entry !== "")
      .map((entry): [string, number] => {
        const [kind = "", slots = ""] = entry.split("=")
        return [kind, Number(slots)]
      })
  )

const redacted = (value: string): Redacted.Redacted<string> => Redacted.make(value)

export class AppConfig extends Context.Service<AppConfig, AppConfigShape>()("mail-helper/AppConfig") {
  static readonly layer = Layer.effect(AppConfig, appConfig)
}

/**
 * A whole number from the environment variable `name` within [min, max], `fallback` when unset; a
 * value outside the range stops start-up with a ConfigError that names the variable.
 */
export const boundedInt = (name: string, min: number, max: number, fallback: number): Config.Config<number> =>
  Config.schema(Schema.Int.check(Schema.isBetween({ minimum: min, maximum: max })), name).pipe(
    Config.withDefault(fallback)
  )
