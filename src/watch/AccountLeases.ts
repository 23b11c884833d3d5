import {
  Context,
  Duration,
  Effect,
  Layer,
  Metric,
  Ref,
  Schedule,
  Semaphore,
  type Stream,
  SubscriptionRef
} from "effect"
import { performance } from "node:perf_hooks"
import { AccountStore } from "../accounts/AccountStore.ts"
import type { AccountId } from "../contract/accounts/Account.ts"
import { watchLeasedAccounts, watchLeaseEvents } from "../platform/Metrics.ts"
import { Redis } from "../platform/Redis.ts"
import { AccountOwnership, type OwnedAccounts } from "./AccountOwnership.ts"
import { LeaseRegistry } from "./LeaseRegistry.ts"
import { LeaseSettings } from "./LeaseSettings.ts"
import { ownerOf } from "./rendezvous.ts"

/**
 * One Redis lease per account, spread over the live workers (LeaseRegistry) by rendezvous hashing.
 *
 * Keys (docs/operations.md, "Account leases"):
 * - `<prefix>:watch:lease:<accountId>`: hash { holder: worker id, fence }, expiring WATCH_LEASE_TTL_MS
 *   after its last renewal;
 * - `<prefix>:watch:fences`: hash accountId -> the last fence handed out (HINCRBY, never reset, never
 *   expires), so a fence only grows for an account across all processes and restarts.
 *
 * A worker acquires the active accounts that hash to it, renews what it holds every
 * WATCH_LEASE_RENEW_MS and releases what no longer hashes to it (the new owner acquires it at its
 * next renewal). Safety does not rest on Redis's expiry alone: each lease has a local deadline on the
 * monotonic clock, `sent + TTL - margin` where `sent` is when its last successful renewal was sent
 * (Redis started the TTL later than that), and a watchdog drops an account from `owned` when the
 * deadline passes without a renewal. A worker cut off from Redis therefore stops watching at least
 * `margin` before another worker can acquire the account.
 */
export type LeaseEvent = "acquired" | "released" | "lost"

export interface AccountLeasesShape {
  readonly workerId: string
  /** The held accounts with their fences, now and on every change. */
  readonly owned: Stream.Stream<OwnedAccounts>
  /** Held, and its local deadline not passed. */
  readonly holds: (accountId: AccountId) => Effect.Effect<boolean>
  /** Stops acquiring and releases every lease at once (graceful shutdown; also run when the scope closes). */
  readonly drain: Effect.Effect<void>
}

/** Takes the lease when it is free or already this worker's; answers the new fence, or 0 when someone else holds it. */
const acquireScript = `
local holder = redis.call('HGET', KEYS[1], 'holder')
if holder and holder ~= ARGV[1] then return 0 end
local fence = redis.call('HINCRBY', KEYS[2], ARGV[3], 1)
redis.call('HSET', KEYS[1], 'holder', ARGV[1], 'fence', fence)
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return fence
`
/**
 * Extends each lease only while it is still this worker's under the same fence, many at once: KEYS the leases, ARGV[1] worker, ARGV[2] TTL, ARGV[2 + i]
 * the fence of KEYS[i]; answers 1 or 0 per key, in order. Each key is judged on its own.
 */
const renewManyScript = `
local renewed = {}
for i, key in ipairs(KEYS) do
  if redis.call('HGET', key, 'holder') == ARGV[1] and redis.call('HGET', key, 'fence') == ARGV[2 + i] then
    redis.call('PEXPIRE', key, ARGV[2])
    renewed[i] = 1
  else
    renewed[i] = 0
  end
end
return renewed
`
/** Leases renewed by one script call (the call blocks Redis for its length: a few ms at this size). */
export const RENEW_BATCH = 500
/** Deletes the lease only while it is still this worker's under the same fence; 1 when it did. */
const releaseScript = `
if redis.call('HGET', KEYS[1], 'holder') == ARGV[1] and redis.call('HGET', KEYS[1], 'fence') == ARGV[2] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
`

/** Statuses whose accounts are watched: not disabled by the user, credentials not known to fail. */
const watchable = new Set(["active", "unreachable"])

interface Held {
  readonly fence: number
  /** Monotonic milliseconds (performance.now) after which this worker no longer claims the account. */
  deadline: number
}

const monotonicNow = Effect.sync(() => performance.now())

const chunksOf = <A>(items: ReadonlyArray<A>, size: number): ReadonlyArray<ReadonlyArray<A>> => {
  const chunks: Array<ReadonlyArray<A>> = []
  for (let start = 0; start < items.length; start += size) chunks.push(items.slice(start, start + size))
  return chunks
}

export class AccountLeases extends Context.Service<AccountLeases, AccountLeasesShape>()("mail-helper/AccountLeases") {
  /** Runs the lease loop and its watchdog from build to scope close; drains on close. */
  static readonly layer = Layer.effect(
    AccountLeases,
    Effect.gen(function* () {
      const redis = yield* Redis
      const registry = yield* LeaseRegistry
      const settings = yield* LeaseSettings
      const accountStore = yield* AccountStore
      const workerId = registry.workerId
      const leaseKey = (accountId: string) => redis.key("watch", "lease", accountId)
      const fencesKey = redis.key("watch", "fences")
      const ttl = String(settings.leaseTtlMillis)
      const deadlineAfter = (sentAt: number) => sentAt + settings.leaseTtlMillis - settings.safetyMarginMillis

      const held = new Map<AccountId, Held>()
      const published = yield* SubscriptionRef.make<OwnedAccounts>({ accounts: new Map() })
      const candidates = yield* Ref.make<ReadonlyArray<AccountId> | undefined>(undefined)
      const draining = yield* Ref.make(false)
      // one tick or drain at a time: a drain never races an acquisition
      const mutex = yield* Semaphore.make(1)

      const publish = Effect.gen(function* () {
        const accounts = new Map<AccountId, { readonly fence: number }>()
        for (const [id, entry] of held) accounts.set(id, { fence: entry.fence })
        yield* SubscriptionRef.set(published, { accounts })
        yield* Metric.update(watchLeasedAccounts, accounts.size)
      })
      const event = (kind: LeaseEvent, accountId: AccountId, fence: number, reason: string) =>
        Metric.update(Metric.withAttributes(watchLeaseEvents, { event: kind }), 1).pipe(
          Effect.andThen(Effect.logDebug(`account lease ${kind}`, { accountId, fence, reason }))
        )

      /** Forgets the account locally (stops claiming it) before anything else. */
      const forget = (accountId: AccountId, fence: number) =>
        Effect.sync(() => {
          const entry = held.get(accountId)
          if (entry === undefined || entry.fence !== fence) return false
          held.delete(accountId)
          return true
        })

      const acquire = (accountId: AccountId) =>
        Effect.gen(function* () {
          const sentAt = yield* monotonicNow
          const reply = yield* redis.use("watch lease acquire", (client) =>
            client.eval(acquireScript, 2, leaseKey(accountId), fencesKey, workerId, ttl, accountId)
          )
          const fence = typeof reply === "number" ? reply : 0
          if (fence <= 0) return false
          // an answer that came back after its own deadline proves nothing any more
          if (deadlineAfter(sentAt) <= (yield* monotonicNow)) return false
          held.set(accountId, { fence, deadline: deadlineAfter(sentAt) })
          yield* event("acquired", accountId, fence, "hashes to this worker")
          return true
        })

      /**
       * Renews held leases, RENEW_BATCH per script call (one call per tick up to that many accounts,
       * not one per account). A renewal refused for one key loses only that lease; a failed call
       * extends nothing (the watchdog drops what is not renewed in time). True when a lease was lost.
       */
      const renewAll = (leases: ReadonlyArray<{ readonly id: AccountId; readonly fence: number }>) =>
        Effect.forEach(
          chunksOf(leases, RENEW_BATCH),
          (batch) =>
            Effect.gen(function* () {
              const sentAt = yield* monotonicNow
              const reply = yield* redis.use("watch lease renew", (client) =>
                client.eval(
                  renewManyScript,
                  batch.length,
                  ...batch.map(({ id }) => leaseKey(id)),
                  workerId,
                  ttl,
                  ...batch.map(({ fence }) => String(fence))
                )
              )
              const renewed = Array.isArray(reply) ? reply : []
              let lost = false
              for (const [index, { id, fence }] of batch.entries()) {
                const entry = held.get(id)
                if (entry === undefined || entry.fence !== fence) continue
                if (renewed[index] === 1) {
                  entry.deadline = Math.max(entry.deadline, deadlineAfter(sentAt))
                } else if (yield* forget(id, fence)) {
                  // expired and taken (or deleted) in Redis: stop claiming it now
                  yield* event("lost", id, fence, "renewal refused")
                  lost = true
                }
              }
              return lost
            }).pipe(
              Effect.catchTag("RedisError", (error) =>
                Effect.as(
                  Effect.logWarning("account lease renewal failed", { accounts: batch.length, error: error.message }),
                  false
                )
              )
            ),
          { concurrency: 4 }
        ).pipe(Effect.map((lost) => lost.some(Boolean)))

      const release = (accountId: AccountId, fence: number, reason: string) =>
        Effect.gen(function* () {
          if (!(yield* forget(accountId, fence))) return false
          yield* event("released", accountId, fence, reason)
          yield* redis
            .use("watch lease release", (client) =>
              client.eval(releaseScript, 1, leaseKey(accountId), workerId, String(fence))
            )
            .pipe(
              Effect.catchTag("RedisError", (error) =>
                // the lease then lapses by its TTL; this worker claims nothing meanwhile
                Effect.logWarning("account lease release failed", { accountId, error: error.message })
              )
            )
          return true
        })

      // the accounts that hash to this worker, recomputed only when the live set or the accounts change
      let memo: { readonly key: string; readonly accounts: ReadonlyArray<AccountId> } = { key: "", accounts: [] }
      const desired = (workers: ReadonlyArray<string>, accounts: ReadonlyArray<AccountId>) => {
        const key = `${workers.join(",")}|${accounts.length}|${accounts.join(",")}`
        if (memo.key !== key) {
          memo = { key, accounts: accounts.filter((id) => ownerOf(id, workers) === workerId) }
        }
        return memo.accounts
      }

      const tick = Effect.gen(function* () {
        if (yield* Ref.get(draining)) return
        const accounts = yield* Ref.get(candidates)
        const workers = yield* registry.liveWorkers
        // before the first read of the accounts, only keep what is held (nothing, at start)
        const mine = new Set(accounts === undefined ? held.keys() : desired(workers, accounts))
        const current = [...held.entries()].map(([id, entry]) => ({ id, fence: entry.fence }))
        const lost = yield* renewAll(current.filter(({ id }) => mine.has(id)))
        const results = yield* Effect.forEach(
          [
            ...current
              .filter(({ id }) => !mine.has(id))
              .map(({ id, fence }) => release(id, fence, "hashes to another worker")),
            ...[...mine].filter((id) => !held.has(id)).map(acquire)
          ],
          (step) =>
            Effect.result(step).pipe(Effect.map((result) => (result._tag === "Success" ? result.success : false))),
          { concurrency: 64 }
        )
        if (lost || results.some((changed) => changed)) yield* publish
      })

      /** Drops every account whose local deadline passed; runs on its own fiber, whatever Redis does. */
      const expire = Effect.gen(function* () {
        const now = yield* monotonicNow
        const expired = [...held.entries()].filter(([, entry]) => entry.deadline <= now)
        for (const [id, entry] of expired) {
          held.delete(id)
          yield* event("lost", id, entry.fence, "local deadline passed without a renewal")
        }
        if (expired.length > 0) {
          yield* publish
          yield* Effect.logWarning("account leases dropped: no renewal before their local deadline", {
            accounts: expired.length
          })
        }
        let next = now + 100
        for (const entry of held.values()) next = Math.min(next, entry.deadline)
        return Math.max(1, next - now)
      })

      const refreshCandidates = accountStore.scheduleTargets.pipe(
        Effect.flatMap((targets) =>
          Ref.set(
            candidates,
            targets.filter((target) => watchable.has(target.status)).map((target) => target.id)
          )
        ),
        Effect.catchTag("DatabaseError", (error) =>
          // keep the last list: leases do not depend on PostgreSQL being reachable
          Effect.logWarning("reading the accounts to watch failed", { error: error.message })
        )
      )

      const drain = mutex.withPermits(1)(
        Effect.gen(function* () {
          yield* Ref.set(draining, true)
          const current = [...held.entries()].map(([id, entry]) => ({ id, fence: entry.fence }))
          held.clear()
          yield* publish
          yield* Effect.forEach(
            current,
            ({ id, fence }) =>
              event("released", id, fence, "drain").pipe(
                Effect.andThen(
                  redis
                    .use("watch lease release", (client) =>
                      client.eval(releaseScript, 1, leaseKey(id), workerId, String(fence))
                    )
                    .pipe(
                      Effect.catchTag("RedisError", (error) =>
                        Effect.logWarning("account lease release failed", { accountId: id, error: error.message })
                      )
                    )
                )
              ),
            { concurrency: 256, discard: true }
          )
          if (current.length > 0) yield* Effect.logInfo("account leases released (drain)", { accounts: current.length })
        })
      )

      yield* refreshCandidates.pipe(
        Effect.repeat(Schedule.spaced(Duration.millis(settings.accountsRefreshMillis))),
        Effect.forkScoped
      )
      yield* mutex
        .withPermits(1)(tick)
        .pipe(Effect.repeat(Schedule.spaced(Duration.millis(settings.renewIntervalMillis))), Effect.forkScoped)
      yield* Effect.gen(function* () {
        while (true) {
          const wait = yield* expire
          yield* Effect.sleep(Duration.millis(wait))
        }
      }).pipe(Effect.forkScoped)
      // added last, so it runs first on close: watchers (built above this layer) are gone already
      yield* Effect.addFinalizer(() => drain)

      return AccountLeases.of({
        workerId,
        owned: SubscriptionRef.changes(published),
        holds: (accountId) =>
          Effect.map(monotonicNow, (now) => {
            const entry = held.get(accountId)
            return entry !== undefined && entry.deadline > now
          }),
        drain
      })
    })
  )

  /** AccountOwnership from the leases (and AccountLeases itself, for drain). */
  static readonly ownershipLayer = Layer.effect(
    AccountOwnership,
    Effect.gen(function* () {
      const leases = yield* AccountLeases
      return AccountOwnership.of({ owned: leases.owned, holds: leases.holds })
    })
  ).pipe(Layer.provideMerge(AccountLeases.layer))
}

/**
 * The leases with their registry and settings over Redis, AccountStore and WorkerIdentity: what the
 * worker program provides to the watchers (AccountOwnership).
 */
export const AccountLeasesLive = AccountLeases.ownershipLayer.pipe(
  Layer.provide(LeaseRegistry.layer),
  Layer.provide(LeaseSettings.layer)
)
