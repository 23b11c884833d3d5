import { Config, Context, Effect, Layer } from "effect"

/** Settings of the watchers (docs/operations.md, "Watchers"). */
export interface WatchConfigShape {
  /** Run the watchers in this worker. */
  readonly enabled: boolean
  /**
   * Who decides which accounts this worker watches: `leases` (Redis leases spread over every
   * worker with it on, AccountLeases.ts) or `local` (every watchable account: one worker only).
   */
  readonly ownership: "leases" | "local"
  /** Watching connections to one IMAP host from this worker (many accounts on one provider). */
  readonly maxConnectionsPerHost: number
  /** Without NOTIFY: further folders (besides INBOX) IDLEd on per account, each its own connection. */
  readonly maxIdleFolders: number
  /** Changes of one account heard within this window become one targeted sync. */
  readonly coalesceMillis: number
  /** IDLE is restarted after this long (RFC 2177: servers may end it after 30 minutes). */
  readonly idleRestartMillis: number
  /** Reconnect backoff: first delay and the most it grows to (with jitter). */
  readonly reconnectInitialMillis: number
  readonly reconnectMaxMillis: number
  /** The local ownership re-reads the watchable accounts this often. */
  readonly refreshMillis: number
}

export const watchConfig = Config.all({
  enabled: Config.Boolean("WATCH_ENABLED").pipe(Config.withDefault(false)),
  ownership: Config.Literals(["leases", "local"], "WATCH_OWNERSHIP").pipe(Config.withDefault("leases" as const)),
  maxConnectionsPerHost: Config.Int("WATCH_MAX_CONNECTIONS_PER_HOST").pipe(Config.withDefault(50)),
  maxIdleFolders: Config.Int("WATCH_MAX_IDLE_FOLDERS").pipe(Config.withDefault(3)),
  coalesceMillis: Config.Int("WATCH_COALESCE_MILLIS").pipe(Config.withDefault(300)),
  idleRestartMinutes: Config.Int("WATCH_IDLE_RESTART_MINUTES").pipe(Config.withDefault(25)),
  reconnectMaxSeconds: Config.Int("WATCH_RECONNECT_MAX_SECONDS").pipe(Config.withDefault(300)),
  refreshSeconds: Config.Int("WATCH_REFRESH_SECONDS").pipe(Config.withDefault(30))
}).pipe(
  Config.map(
    (config): WatchConfigShape => ({
      enabled: config.enabled,
      ownership: config.ownership,
      maxConnectionsPerHost: Math.max(1, config.maxConnectionsPerHost),
      maxIdleFolders: Math.min(20, Math.max(0, config.maxIdleFolders)),
      coalesceMillis: Math.min(60_000, Math.max(0, config.coalesceMillis)),
      idleRestartMillis: Math.min(28, Math.max(1, config.idleRestartMinutes)) * 60_000,
      reconnectInitialMillis: 1_000,
      reconnectMaxMillis: Math.max(1, config.reconnectMaxSeconds) * 1_000,
      refreshMillis: Math.max(1, config.refreshSeconds) * 1_000
    })
  )
)

export class WatchConfig extends Context.Service<WatchConfig, WatchConfigShape>()("mail-helper/WatchConfig") {
  static readonly layer = Layer.effect(
    WatchConfig,
    Effect.gen(function* () {
      return yield* watchConfig
    })
  )
}
