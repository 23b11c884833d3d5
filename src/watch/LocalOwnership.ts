import { Effect, Layer, Schedule, Stream } from "effect"
import type { AccountId } from "../contract/accounts/Account.ts"
import { AccountOwnership, type OwnedAccounts } from "./AccountOwnership.ts"
import { WatchConfig } from "./WatchConfig.ts"
import { WatchStore } from "./WatchStore.ts"

/**
 * AccountOwnership for one worker alone (and tests): this process owns every watchable account of
 * the database, re-read every WATCH_REFRESH_SECONDS. No lease, so two workers with it would both
 * watch every account: the worker wires it only with WATCH_ENABLED=true (docs/operations.md). The
 * fence is always 0 (there is no other owner to tell apart). A failed read keeps the last set.
 */
export const LocalOwnershipLive = Layer.effect(
  AccountOwnership,
  Effect.gen(function* () {
    const store = yield* WatchStore
    const config = yield* WatchConfig
    let current: ReadonlyMap<AccountId, { readonly fence: number }> = new Map()

    const read = store.watchable.pipe(
      Effect.map((targets): OwnedAccounts => {
        current = new Map(targets.map((target) => [target.id, { fence: 0 }]))
        return { accounts: current }
      }),
      Effect.catch((error) =>
        Effect.as(Effect.logWarning("watchable accounts not read", { error: error.message }), {
          accounts: current
        })
      )
    )
    const sameSet = (a: OwnedAccounts, b: OwnedAccounts) =>
      a.accounts.size === b.accounts.size && [...a.accounts.keys()].every((id) => b.accounts.has(id))

    return AccountOwnership.of({
      owned: Stream.fromEffectSchedule(read, Schedule.spaced(config.refreshMillis)).pipe(Stream.changesWith(sameSet)),
      holds: (accountId) => Effect.sync(() => current.has(accountId))
    })
  })
)
