import { Config, Context, Effect, Layer, Option } from "effect"
import * as fs from "node:fs"

/**
 * How the application reaches users' IMAP servers. Every value comes from one environment
 * variable (README: configuration; docs/accounts-and-sync.md).
 */
export interface AccountsConfigShape {
  /** Bound on TCP + TLS + greeting + LOGIN when an account is created or its credentials change. */
  readonly verifyTimeoutMs: number
  /** Bound on connecting and logging in at the start of a sync. */
  readonly connectTimeoutMs: number
  /** An established sync connection silent for this long is dropped (and the attempt retried). */
  readonly socketTimeoutMs: number
  /** Login checks (account create, credential change) one user may start per window (VerifyThrottle). */
  readonly verifyMaxPerWindow: number
  readonly verifyWindowSeconds: number
  /** Extra CA certificates (PEM) trusted for IMAP TLS, e.g. a company CA; null: the system store only. */
  readonly tlsCa: string | null
  /**
   * A sync or rule-action session is kept logged in this long after its job ended, for the
   * account's next job to reuse (ImapAccess.connect); 0: every job logs in and out.
   */
  readonly sessionIdleMs: number
}

export const accountsConfig = Effect.gen(function* () {
  const config = yield* Config.all({
    verifyTimeoutMs: Config.Int("IMAP_VERIFY_TIMEOUT_MS").pipe(Config.withDefault(15_000)),
    connectTimeoutMs: Config.Int("IMAP_CONNECT_TIMEOUT_MS").pipe(Config.withDefault(30_000)),
    socketTimeoutMs: Config.Int("IMAP_SOCKET_TIMEOUT_MS").pipe(Config.withDefault(5 * 60_000)),
    verifyMaxPerWindow: Config.Int("IMAP_VERIFY_MAX_PER_WINDOW").pipe(Config.withDefault(10)),
    verifyWindowSeconds: Config.Int("IMAP_VERIFY_WINDOW_SECONDS").pipe(Config.withDefault(600)),
    tlsCaFile: Config.option(Config.String("IMAP_TLS_CA_FILE")),
    // a job's session is kept this long for the account's next job, its mailbox left with UNSELECT (docs/accounts-and-sync.md)
    sessionIdleMs: Config.Int("IMAP_SESSION_IDLE_MS").pipe(Config.withDefault(10_000))
  })
  const tlsCa = yield* Option.match(config.tlsCaFile, {
    onNone: () => Effect.succeed(null),
    onSome: (file) =>
      Effect.try({
        try: () => fs.readFileSync(file, "utf8"),
        catch: () => new Error(`IMAP_TLS_CA_FILE ${file} cannot be read`)
      }).pipe(Effect.orDie)
  })
  return {
    verifyTimeoutMs: Math.max(1_000, config.verifyTimeoutMs),
    connectTimeoutMs: Math.max(1_000, config.connectTimeoutMs),
    socketTimeoutMs: Math.max(10_000, config.socketTimeoutMs),
    verifyMaxPerWindow: Math.max(1, config.verifyMaxPerWindow),
    verifyWindowSeconds: Math.max(1, config.verifyWindowSeconds),
    tlsCa,
    sessionIdleMs: Math.min(600_000, Math.max(0, config.sessionIdleMs))
  } satisfies AccountsConfigShape
})

export class AccountsConfig extends Context.Service<AccountsConfig, AccountsConfigShape>()(
  "mail-helper/AccountsConfig"
) {
  static readonly layer = Layer.effect(AccountsConfig, accountsConfig)
}
