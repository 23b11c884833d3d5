import { Effect, Layer } from "effect"
import { AccountLeasesLive } from "./AccountLeases.ts"
import { LocalOwnershipLive } from "./LocalOwnership.ts"
import { WatchConfig } from "./WatchConfig.ts"
import { WatchStore } from "./WatchStore.ts"
import { WatchersLive } from "./Watchers.ts"

/**
 * The watchers for any ownership provider: Watchers, with ImapWatch and WatchStore. Needs
 * AccountOwnership, WatchConfig and what the sync's layer gives (AccountStore, ImapAccess,
 * AccountSchedules, Jobs, SqlClient, UserScope).
 */
export const WatchLive = WatchersLive

/**
 * The worker's watchers. With WATCH_ENABLED=false (the default) nothing is watched and the
 * scheduled syncs alone keep the mail current. With it on, the accounts are leased
 * (WATCH_OWNERSHIP=leases, the default: every worker with it on shares them, each watched by one) or,
 * with WATCH_OWNERSHIP=local, every watchable account is watched by this worker (one worker only).
 * The watchers are built above the ownership, so on shutdown they stop before the leases are
 * released (no moment where this worker watches an account it no longer holds).
 * Needs WorkerIdentity (the job runtime's, so a worker has one id in the logs and in Redis).
 */
export const WatchWorkerLive = Layer.unwrap(
  Effect.gen(function* () {
    const config = yield* WatchConfig
    if (!config.enabled) return Layer.empty
    const watchers = Layer.effectDiscard(Effect.void).pipe(Layer.provide(WatchersLive))
    return config.ownership === "local"
      ? watchers.pipe(Layer.provide(LocalOwnershipLive), Layer.provide(WatchStore.layer))
      : watchers.pipe(Layer.provide(AccountLeasesLive), Layer.provide(WatchStore.layer))
  })
).pipe(Layer.provide(WatchConfig.layer))
