import { Config, Context, Effect, Layer, Schema } from "effect"

/**
 * Timing of the account leases (docs/operations.md, "Account leases"). A lease lives `leaseTtlMillis`
 * in Redis from its last renewal; its holder renews it every `renewIntervalMillis` and stops watching
 * `safetyMarginMillis` before it could expire, counted from when the renewal was sent on the
 * monotonic clock. A worker is live while its heartbeat (every `heartbeatIntervalMillis`) is younger
 * than `workerTtlMillis`. A SIGKILLed worker's accounts are taken over after at most
 * `leaseTtlMillis` + `renewIntervalMillis` (10 s with the defaults).
 */
export interface LeaseSettingsShape {
  readonly leaseTtlMillis: number
  readonly renewIntervalMillis: number
  readonly safetyMarginMillis: number
  readonly heartbeatIntervalMillis: number
  readonly workerTtlMillis: number
  /** How often the active accounts are re-read from PostgreSQL. */
  readonly accountsRefreshMillis: number
}

/** The lease timings contradict each other: start-up stops naming the variables. */
export class LeaseSettingsInvalid extends Schema.TaggedError<LeaseSettingsInvalid>()("LeaseSettingsInvalid", {
  message: Schema.String
}) {}

export const leaseSettingsConfig = Config.all({
  leaseTtlMillis: Config.Int("WATCH_LEASE_TTL_MS").pipe(Config.withDefault(8_000)),
  renewIntervalMillis: Config.Int("WATCH_LEASE_RENEW_MS").pipe(Config.withDefault(2_000)),
  safetyMarginMillis: Config.Int("WATCH_LEASE_MARGIN_MS").pipe(Config.withDefault(2_000)),
  heartbeatIntervalMillis: Config.Int("WATCH_HEARTBEAT_MS").pipe(Config.withDefault(2_000)),
  workerTtlMillis: Config.Int("WATCH_WORKER_TTL_MS").pipe(Config.withDefault(6_000)),
  accountsRefreshMillis: Config.Int("WATCH_ACCOUNTS_REFRESH_MS").pipe(Config.withDefault(10_000))
})

/** Renewals must fit inside the local deadline with room for one failed attempt, or leases flap. */
export const checkLeaseSettings = (
  settings: LeaseSettingsShape
): Effect.Effect<LeaseSettingsShape, LeaseSettingsInvalid> =>
  settings.safetyMarginMillis < 200 ||
  settings.renewIntervalMillis * 2 > settings.leaseTtlMillis - settings.safetyMarginMillis ||
  settings.heartbeatIntervalMillis * 2 > settings.workerTtlMillis ||
  settings.accountsRefreshMillis < 100
    ? Effect.fail(
        new LeaseSettingsInvalid({
          message:
            "WATCH_LEASE_*: need WATCH_LEASE_MARGIN_MS >= 200, 2 x WATCH_LEASE_RENEW_MS <= WATCH_LEASE_TTL_MS - WATCH_LEASE_MARGIN_MS, 2 x WATCH_HEARTBEAT_MS <= WATCH_WORKER_TTL_MS and WATCH_ACCOUNTS_REFRESH_MS >= 100"
        })
      )
    : Effect.succeed(settings)

export class LeaseSettings extends Context.Service<LeaseSettings, LeaseSettingsShape>()("mail-helper/LeaseSettings") {
  static readonly layer = Layer.effect(
    LeaseSettings,
    Effect.gen(function* () {
      return yield* checkLeaseSettings(yield* leaseSettingsConfig)
    })
  )
}
