import { randomUUID } from "node:crypto"
import { Config, Context, Deferred, Duration, Effect, Layer, Metric, Schema, type Scope } from "effect"
import { imapSlotLeasesLost, imapSlotWaitDuration, imapSlotWaits } from "../platform/Metrics.ts"
import { Redis } from "../platform/Redis.ts"

/**
 * Concurrent IMAP connections per account (issue 15, item 3): a counting semaphore in Redis shared
 * by every process that opens an IMAP connection for an account (sync, rule actions, undo, the login
 * check of an existing account, and the long-lived watchers).
 *
 * Layout: one sorted set per account, `<prefix>:imap-slots:<accountId>`, member = a lease id, score
 * = the lease's expiry in Redis server time (ms). Acquiring (one Lua script, atomic) drops expired
 * leases, then adds the new one if fewer than the limit remain. The process refreshes all the leases it holds
 * every third of the TTL, in one script call per 500 leases; a holder that dies without releasing (SIGKILL, a lost network)
 * stops refreshing, and its slot is free again at most one TTL later. Redis' own clock is used, so
 * the processes' clocks do not matter.
 *
 * A caller that finds no free slot polls (backoff 100 ms .. 2 s, jittered) for at most the wait
 * bound (IMAP_SLOT_WAIT_MS), then fails with ImapSlotUnavailable (`busy`); jobs turn it into a
 * TransientJobError `imap_busy`, which the worker treats as contention: the job goes back to
 * waiting (`waiting: imap slot`) without spending an attempt (src/jobs/WorkerRuntime.ts).
 *
 * A lost lease: a holder stalled longer than the TTL (a blocked event loop, a paused VM) finds at its
 * next refresh that its lease expired, and another caller may hold the slot by then, so the account
 * may have one connection more than its cap. The holder then tries at once to take a slot again
 * under the same lease: `reacquired` when one is free (the cap held after all). When none is free
 * the lease is `lost`: an error log names the account, imap_connection_slot_leases_lost_total counts
 * it, the lease's `lost` effect fails with ImapSlotUnavailable (`lost`), and `withSlot` interrupts
 * the work it runs with that error, so the holder stops using the connection (a job then waits for
 * a slot again, as on `busy`). A holder using `acquire` directly races `lease.lost` against its work
 * to do the same. Meanwhile every refresh keeps trying to re-take a slot, so the excess lasts at
 * most until one frees.
 */

export class ImapSlotUnavailable extends Schema.TaggedError<ImapSlotUnavailable>()("ImapSlotUnavailable", {
  accountId: Schema.String,
  /**
   * busy: every slot stayed taken for the wait bound; unavailable: Redis or the limit lookup failed;
   * lost: a held slot's lease expired under a stalled holder and no slot was free to take again.
   */
  reason: Schema.Literals(["busy", "unavailable", "lost"]),
  message: Schema.String
}) {}

/** What the admin can override per user (migration 0065); provided by src/accounts, which knows the owner. */
export class ImapSlotLimits extends Context.Service<
  ImapSlotLimits,
  {
    /** The override for the account's owner, or null for the configured default. */
    readonly overrideFor: (accountId: string) => Effect.Effect<number | null, { readonly message: string }>
  }
>()("mail-helper/ImapSlotLimits") {
  /** No overrides: every account gets IMAP_MAX_CONNECTIONS_PER_ACCOUNT. */
  static readonly layerDefaults = Layer.succeed(ImapSlotLimits, { overrideFor: () => Effect.succeed(null) })
}

export const imapSlotsConfig = Config.all({
  /** Default cap of simultaneous IMAP connections per account. */
  maxPerAccount: Config.schema(
    Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 100 })),
    "IMAP_MAX_CONNECTIONS_PER_ACCOUNT"
  ).pipe(Config.withDefault(3)),
  /** A lease not refreshed for this long is free again (a holder that died). */
  leaseTtlMs: Config.schema(
    Schema.Int.check(Schema.isBetween({ minimum: 1_000, maximum: 600_000 })),
    "IMAP_SLOT_LEASE_TTL_MS"
  ).pipe(Config.withDefault(30_000)),
  /** How long a caller waits for a free slot before giving up (the job retries later). */
  waitMs: Config.schema(Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 600_000 })), "IMAP_SLOT_WAIT_MS").pipe(
    Config.withDefault(30_000)
  )
})

// KEYS[1] the account's set; ARGV: limit, ttl ms, lease id. 1 = acquired (or still held), 0 = full.
const ACQUIRE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZSCORE', KEYS[1], ARGV[3]) or redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], now + ttl, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], ttl * 2)
  return 1
end
return 0`

// KEYS[1] the account's set; ARGV: ttl ms, lease id. 1 = extended, 0 = the lease had expired (lost).
const _REFRESH = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[1])
local score = redis.call('ZSCORE', KEYS[1], ARGV[2])
if not score or tonumber(score) <= now then
  redis.call('ZREM', KEYS[1], ARGV[2])
  return 0
end
redis.call('ZADD', KEYS[1], now + ttl, ARGV[2])
redis.call('PEXPIRE', KEYS[1], ttl * 2)
return 1`

// REFRESH for many leases at once: KEYS the accounts' sets, ARGV[1] ttl ms, ARGV[1 + i] the lease id in
// KEYS[i]; answers 1 (extended) or 0 (expired: lost) per key, in order, each judged on its own.
const REFRESH_MANY = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[1])
local answers = {}
for i, key in ipairs(KEYS) do
  local lease = ARGV[1 + i]
  local score = redis.call('ZSCORE', key, lease)
  if not score or tonumber(score) <= now then
    redis.call('ZREM', key, lease)
    answers[i] = 0
  else
    redis.call('ZADD', key, now + ttl, lease)
    redis.call('PEXPIRE', key, ttl * 2)
    answers[i] = 1
  end
end
return answers`

/** Leases refreshed by one script call. */
const REFRESH_BATCH = 500

export interface ImapSlotLease {
  readonly accountId: string
  readonly leaseId: string
  /** Fails with ImapSlotUnavailable (`lost`) once the lease is lost (see above); never succeeds. */
  readonly lost: Effect.Effect<never, ImapSlotUnavailable>
}

export interface ImapSlotsShape {
  /**
   * Takes a slot of the account for the caller's scope (released when the scope closes; refreshed
   * while it is open). For long-lived holders (watchers): keep the scope open as long as the
   * connection. Waits at most `wait` (default IMAP_SLOT_WAIT_MS) for a free slot.
   */
  readonly acquire: (
    accountId: string,
    options?: { readonly wait?: Duration.Input }
  ) => Effect.Effect<ImapSlotLease, ImapSlotUnavailable, Scope.Scope>
  /** Runs `effect` holding a slot of the account (acquire + release around it). */
  readonly withSlot: <A, E, R>(
    accountId: string,
    effect: Effect.Effect<A, E, R>
  ) => Effect.Effect<A, E | ImapSlotUnavailable, Exclude<R, Scope.Scope>>
  /** The cap that applies to the account (override or default). */
  readonly limitFor: (accountId: string) => Effect.Effect<number, ImapSlotUnavailable>
  /**
   * A holder in this process that gives its slot up on demand: an idle session kept open between
   * jobs (ImapAccess). An `acquire` of the account in this process that finds every slot taken runs
   * it (once) and tries again at once, so a kept session never makes another holder of this process
   * wait. At most one per account (a later one replaces it); `null` removes it.
   */
  readonly setReclaimer: (accountId: string, reclaim: Effect.Effect<void> | null) => Effect.Effect<void>
}

export class ImapSlots extends Context.Service<ImapSlots, ImapSlotsShape>()("mail-helper/ImapSlots") {
  /** Needs Redis and ImapSlotLimits; reads IMAP_MAX_CONNECTIONS_PER_ACCOUNT, IMAP_SLOT_LEASE_TTL_MS, IMAP_SLOT_WAIT_MS. */
  static readonly layer = Layer.effect(
    ImapSlots,
    Effect.gen(function* () {
      const redis = yield* Redis
      const limits = yield* ImapSlotLimits
      const config = yield* imapSlotsConfig.pipe(Effect.orDie)
      const keyOf = (accountId: string) => redis.key("imap-slots", accountId)
      const unavailable = (accountId: string, what: string) =>
        new ImapSlotUnavailable({
          accountId,
          reason: "unavailable",
          message: `IMAP connection slots unavailable: ${what}`
        })

      const limitFor = (accountId: string) =>
        limits.overrideFor(accountId).pipe(
          Effect.map((override) => override ?? config.maxPerAccount),
          Effect.mapError((error) => unavailable(accountId, error.message))
        )

      const tryOnce = (accountId: string, limit: number, leaseId: string) =>
        redis
          .use("imap-slots.acquire", (client) =>
            client.eval(ACQUIRE, 1, keyOf(accountId), String(limit), String(config.leaseTtlMs), leaseId)
          )
          .pipe(
            Effect.map((answer) => answer === 1),
            Effect.mapError((error) => unavailable(accountId, error.message))
          )

      const record = (outcome: "immediate" | "acquired" | "timed_out", startedAt: number) =>
        Effect.all([
          Metric.update(Metric.withAttributes(imapSlotWaits, { outcome }), 1),
          Metric.update(Metric.withAttributes(imapSlotWaitDuration, { outcome }), (Date.now() - startedAt) / 1000)
        ])

      const release = (accountId: string, leaseId: string) =>
        redis
          .use("imap-slots.release", (client) => client.zrem(keyOf(accountId), leaseId))
          .pipe(
            Effect.catchTag("RedisError", (error) =>
              // the lease then expires by itself within the TTL
              Effect.logWarning("IMAP slot not released; it expires by itself", { accountId, error: error.message })
            )
          )

      /** A lease this process holds, refreshed by the process-wide tick below. */
      interface Held {
        readonly accountId: string
        readonly limit: number
        readonly leaseId: string
        readonly state: { lost: boolean }
        readonly onLost: Effect.Effect<void>
      }
      const held = new Map<string, Held>()
      const reclaimers = new Map<string, Effect.Effect<void>>()
      const setReclaimer = (accountId: string, reclaim: Effect.Effect<void> | null) =>
        Effect.sync(() => {
          if (reclaim === null) reclaimers.delete(accountId)
          else reclaimers.set(accountId, reclaim)
        })

      /**
       * A refresh that found the lease expired (the holder stalled past the TTL): taken again at once
       * under the same id when a slot is free (`reacquired`); when none is, the lease is `lost` and the
       * holder is told once through `onLost`. A lost lease keeps trying to come back at every tick.
       */
      const expired = ({ accountId, limit, leaseId, state, onLost }: Held) =>
        Effect.gen(function* () {
          const retaken = yield* tryOnce(accountId, limit, leaseId)
          if (retaken) {
            yield* Metric.update(Metric.withAttributes(imapSlotLeasesLost, { outcome: "reacquired" }), 1)
            yield* Effect.logWarning("IMAP slot lease had expired (the holder stalled past the TTL); taken again", {
              accountId,
              leaseTtlMs: config.leaseTtlMs
            })
            state.lost = false
            return
          }
          if (state.lost) return
          state.lost = true
          yield* Metric.update(Metric.withAttributes(imapSlotLeasesLost, { outcome: "lost" }), 1)
          yield* Effect.logError(
            "IMAP slot lease lost: the holder stalled past the TTL and every slot is taken; it stops using its connection",
            { accountId, limit, leaseTtlMs: config.leaseTtlMs }
          )
          yield* onLost
        }).pipe(
          Effect.catch((error) =>
            // Redis did not answer: the next tick tries again
            Effect.logWarning("IMAP slot lease not taken again", { accountId, error: error.message })
          )
        )

      /**
       * Refreshes every lease the process holds, REFRESH_BATCH per script call: one Redis call per tick
       * for up to that many leases (a watcher holds one for its connection's life), not a call and a
       * timer per lease.
       */
      const refreshAll = Effect.suspend(() => {
        const leases = [...held.values()]
        const batches: Array<ReadonlyArray<Held>> = []
        for (let start = 0; start < leases.length; start += REFRESH_BATCH) {
          batches.push(leases.slice(start, start + REFRESH_BATCH))
        }
        return Effect.forEach(
          batches,
          (batch) =>
            redis
              .use("imap-slots.refresh", (client) =>
                client.eval(
                  REFRESH_MANY,
                  batch.length,
                  ...batch.map((lease) => keyOf(lease.accountId)),
                  String(config.leaseTtlMs),
                  ...batch.map((lease) => lease.leaseId)
                )
              )
              .pipe(
                Effect.flatMap((answers) => {
                  const refused = batch.filter((_lease, index) => !Array.isArray(answers) || answers[index] !== 1)
                  // released meanwhile (the holder's scope closed): nothing to take again
                  return Effect.forEach(
                    refused.filter((lease) => held.get(lease.leaseId) === lease),
                    expired,
                    { concurrency: 16, discard: true }
                  )
                }),
                Effect.catchTag("RedisError", (error) =>
                  // Redis did not answer: the leases may still be valid; the next tick tells
                  Effect.logWarning("IMAP slot leases not refreshed", { leases: batch.length, error: error.message })
                )
              ),
          { concurrency: 4, discard: true }
        )
      })
      const refreshEvery = Duration.millis(Math.max(250, Math.floor(config.leaseTtlMs / 3)))
      yield* refreshAll.pipe(Effect.delay(refreshEvery), Effect.forever, Effect.forkScoped)

      const acquire = (accountId: string, options?: { readonly wait?: Duration.Input }) =>
        Effect.gen(function* () {
          const limit = yield* limitFor(accountId)
          const leaseId = randomUUID()
          const startedAt = Date.now()
          const waitMs =
            options?.wait === undefined ? config.waitMs : Duration.toMillis(Duration.fromInputUnsafe(options.wait))
          // every slot taken, one by an idle holder of this process (a kept session, also one kept while
          // this caller waits): it gives its slot up and the caller tries again at once
          const attempt = Effect.flatMap(tryOnce(accountId, limit, leaseId), (taken) => {
            const reclaim = taken ? undefined : reclaimers.get(accountId)
            if (reclaim === undefined) return Effect.succeed(taken)
            reclaimers.delete(accountId)
            return Effect.andThen(reclaim, tryOnce(accountId, limit, leaseId))
          })
          const first = yield* attempt
          let got = first
          let delayMs = 100
          while (!got) {
            const left = waitMs - (Date.now() - startedAt)
            if (left <= 0) {
              yield* record("timed_out", startedAt)
              return yield* new ImapSlotUnavailable({
                accountId,
                reason: "busy",
                message: `all ${limit} IMAP connection slots of the account stayed in use for ${waitMs} ms`
              })
            }
            // jittered backoff, so waiters of one account do not poll in step
            yield* Effect.sleep(Duration.millis(Math.min(left, delayMs * (0.5 + Math.random()))))
            delayMs = Math.min(delayMs * 2, 2_000)
            got = yield* attempt
          }
          yield* record(first ? "immediate" : "acquired", startedAt)
          yield* Effect.addFinalizer(() =>
            Effect.suspend(() => {
              held.delete(leaseId)
              return release(accountId, leaseId)
            })
          )
          const lost = yield* Deferred.make<never, ImapSlotUnavailable>()
          const state = { lost: false }
          const signalLost = Deferred.fail(
            lost,
            new ImapSlotUnavailable({
              accountId,
              reason: "lost",
              message: `the IMAP connection slot's lease expired (holder stalled longer than ${config.leaseTtlMs} ms) and all ${limit} slots of the account are taken`
            })
          ).pipe(Effect.asVoid)
          held.set(leaseId, { accountId, limit, leaseId, state, onLost: signalLost })
          return { accountId, leaseId, lost: Deferred.await(lost) } satisfies ImapSlotLease
        }).pipe(Effect.withSpan("ImapSlots.acquire", { attributes: { "account.id": accountId } }))

      // the work stops (interrupted, failing with `lost`) when the lease is lost
      const withSlot = <A, E, R>(accountId: string, effect: Effect.Effect<A, E, R>) =>
        Effect.scoped(Effect.flatMap(acquire(accountId), (lease) => Effect.raceFirst(effect, lease.lost)))

      return ImapSlots.of({ acquire, withSlot, limitFor, setReclaimer })
    })
  )
}
