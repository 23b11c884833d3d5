import { Effect, Layer } from "effect"
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
 * The worker's watchers until the leases land: with WATCH_ENABLED=true, every watchable account
 * of the database is watched by this worker (LocalOwnership.ts: no lease, so only one worker may
 * have it on); with WATCH_ENABLED=false (the default) nothing is watched and the scheduled syncs
 * alone keep the mail current.
 */
export const WatchLocalWorkerLive = Layer.unwrap(
  Effect.gen(function* () {
    const config = yield* WatchConfig
    if (!config.enabled) return Layer.empty
    return Layer.effectDiscard(Effect.void).pipe(
      Layer.provide(WatchersLive),
      Layer.provide(LocalOwnershipLive),
      Layer.provide(WatchStore.layer)
    )
  })
).pipe(Layer.provide(WatchConfig.layer))
