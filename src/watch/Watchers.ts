/**
 * One watcher fiber per account this worker owns (AccountOwnership), started and stopped as the
 * owned set changes. A watcher holds the account's watching connection (src/imap/ImapWatch.ts) and
 * turns what it hears into coalesced, targeted `mail.sync` jobs (SyncCoalescer.ts).
 *
 * - Every (re)connect queues one whole-account `mail.sync` (a restart, a reconnect or a server
 *   restart misses nothing: what changed while nobody listened is caught up).
 * - Login takes the sync's credential path (ImapAccess.loginOptions: the password or an OAuth2 token), and
 *   the connection the sync's connect steps (destination policy, limits).
 * - A refused login marks the account `auth_failed` (as the sync does: status, no more scheduled
 *   syncs) after that one attempt, and the watcher stops: only the user can fix the password.
 * - Anything else (network, server restart, a protocol error) reconnects with exponential backoff
 *   and jitter, reset after a connection that lived a while.
 * - Connections per IMAP host are capped (WATCH_MAX_CONNECTIONS_PER_HOST): a watcher over the cap
 *   waits for a free slot; the scheduled sync keeps the account current meanwhile.
 * - Before queueing a sync the watcher checks that this process still holds the account.
 */
import { Context, Effect, Fiber, Layer, Metric, Option, Semaphore, Stream } from "effect"
import { AccountSchedules } from "../accounts/AccountSchedules.ts"
import { AccountStore } from "../accounts/AccountStore.ts"
import { ImapAccess } from "../accounts/ImapAccess.ts"
import type { AccountId, AccountStatus } from "../contract/accounts/Account.ts"
import { AccountChanged } from "../contract/events/UserEvent.ts"
import { MailSyncJob } from "../contract/jobs/MailSyncJob.ts"
import type { UserId } from "../contract/users/UserId.ts"
import { EventBus } from "../events/EventBus.ts"
import { ImapConnectionError, type ImapError } from "../imap/Imap.ts"
import { ImapSlots } from "../imap/ImapSlots.ts"
import { ImapWatch, type WatchMode } from "../imap/ImapWatch.ts"
import { Jobs } from "../jobs/Jobs.ts"
import { watchAccounts, watchConnections, watchLag, watchReconnects } from "../platform/Metrics.ts"
import { AccountOwnership } from "./AccountOwnership.ts"
import { makeEchoFilter } from "./EchoFilter.ts"
import { JobEnds } from "./JobEnds.ts"
import { makeSyncCoalescer, type SyncRequest } from "./SyncCoalescer.ts"
import { WatchConfig, type WatchConfigShape } from "./WatchConfig.ts"
import { WatchStore } from "./WatchStore.ts"

/** A connection that stayed up this long resets the reconnect backoff. */
const STABLE_MILLIS = 30_000
/** How long the lag of a sync is followed (then it is not recorded). */
const LAG_FOLLOW_MILLIS = 10 * 60_000
/** Changes heard while the account's sync runs wait for its end (JobEnds' tick), at most this long at a time. */
const RUNNING_SYNC_WAIT_MILLIS = 30_000
/** After a submit that failed (database or queue down), the changes are asked for again this much later. */
const FAILED_SUBMIT_RETRY_MILLIS = 1_000

/** The delay before reconnect number `attempt` (0-based): doubling, capped, with jitter (50-100 %). */
export const reconnectDelay = (
  attempt: number,
  config: Pick<WatchConfigShape, "reconnectInitialMillis" | "reconnectMaxMillis">,
  random: number = Math.random()
): number => {
  const base = Math.min(config.reconnectMaxMillis, config.reconnectInitialMillis * 2 ** Math.min(attempt, 30))
  return Math.round(base * (0.5 + 0.5 * random))
}

/** Why a watcher stopped for good (it is not restarted until the account leaves and re-enters the owned set). */
type Stop = "gone" | "auth_failed" | "password_unreadable"

export interface WatchersShape {
  /** Accounts with a running watcher (connected or reconnecting). */
  readonly watching: Effect.Effect<ReadonlyArray<AccountId>>
}

export class Watchers extends Context.Service<Watchers, WatchersShape>()("mail-helper/Watchers") {
  static readonly layer = Layer.effect(
    Watchers,
    Effect.gen(function* () {
      const config = yield* WatchConfig
      const ownership = yield* AccountOwnership
      const store = yield* WatchStore
      const accounts = yield* AccountStore
      const access = yield* ImapAccess
      const slots = yield* ImapSlots
      const imapWatch = yield* ImapWatch
      const schedules = yield* AccountSchedules
      const jobs = yield* Jobs
      const jobEnds = yield* JobEnds
      const bus = yield* EventBus
      const scope = yield* Effect.scope

      /** `account.changed` to the owner: the watcher's connection came up or went down (never fails). */
      const announceWatching = (
        owner: UserId,
        account: { readonly id: AccountId; readonly status: AccountStatus; readonly statusMessage: string | null },
        watching: boolean
      ) =>
        bus.publish(
          owner,
          new AccountChanged({
            occurredAt: new Date(),
            accountId: account.id,
            status: account.status,
            message: account.statusMessage,
            change: "watch",
            watching
          })
        )

      // --- the change -> sync path -------------------------------------------------------------

      /**
       * Follows a queued sync to its end and records the lag from the change heard to mail stored. One
       * process-wide poll for all followed jobs (JobEnds), not one per job: a backlog of syncs costs
       * one query per tick, not one transaction per job per tick.
       */
      const followLag = (jobId: string, heardAt: number) =>
        jobEnds
          .awaitEnd(jobId, LAG_FOLLOW_MILLIS)
          .pipe(
            Effect.flatMap((end) =>
              end === "succeeded" ? Metric.update(watchLag, (Date.now() - heardAt) / 1_000) : Effect.void
            )
          )

      const submit = (request: SyncRequest): Effect.Effect<boolean> =>
        Effect.gen(function* () {
          if (!(yield* ownership.holds(request.accountId))) return true // not ours any more: drop it
          const submitted = yield* jobs.submit(
            MailSyncJob,
            {
              accountId: request.accountId,
              ...(request.mailboxes === null ? {} : { mailboxes: request.mailboxes })
            },
            { ownerId: request.owner }
          )
          // a new sync, or one of these mailboxes that has not started (`covered`): it sees the change
          if (submitted.created || submitted.covered === true) {
            yield* Effect.forkIn(followLag(submitted.jobId, request.heardAt), scope)
            return true
          }
          // the account's sync is running (or queued for other mailboxes) and may have passed the
          // mailbox already: the changes are asked for again as soon as it ends, not a fixed while later
          yield* jobEnds.awaitEnd(submitted.jobId, RUNNING_SYNC_WAIT_MILLIS)
          return false
        }).pipe(
          Effect.catch((error) =>
            Effect.as(
              Effect.logWarning("watcher's sync not queued", { account: request.accountId, error: error.message }),
              false
            ).pipe(Effect.delay(FAILED_SUBMIT_RETRY_MILLIS))
          )
        )

      const coalescer = yield* makeSyncCoalescer({
        windowMillis: config.coalesceMillis,
        // the submit itself waited for the account's running sync to end (or for a while after a failure)
        retryMillis: 0,
        submit
      })

      // flag reports of known messages: the echo of our own STORE (rules, the user's actions) is
      // already stored and asks for no sync; anything else goes to the coalescer
      const echoes = yield* makeEchoFilter({
        graceMillis: config.coalesceMillis,
        stored: store.storedFlags,
        writerRunning: store.flagWriterRunning,
        forward: coalescer.offer
      })

      // --- connections -------------------------------------------------------------------------

      const hostSlots = new Map<string, Semaphore.Semaphore>()
      const permitFor = (host: string) => {
        const key = host.toLowerCase()
        let slots = hostSlots.get(key)
        if (slots === undefined) {
          slots = Semaphore.makeUnsafe(config.maxConnectionsPerHost)
          hostSlots.set(key, slots)
        }
        return slots.takeScoped(1)
      }

      const open: Record<WatchMode, number> = { notify: 0, idle: 0 }
      const countConnections = (mode: WatchMode, delta: number) =>
        Effect.suspend(() => {
          open[mode] += delta
          return Metric.update(Metric.withAttributes(watchConnections, { mode }), open[mode])
        })

      /** One connection lifetime: fails when it ends; `Stop` when the watcher must not reconnect. */
      const connectOnce = (accountId: AccountId, fence: number): Effect.Effect<never, Stop | ImapError> =>
        Effect.gen(function* () {
          const target = yield* store.target(accountId).pipe(Effect.orElseSucceed(() => Option.none()))
          if (Option.isNone(target)) return yield* Effect.fail<Stop>("gone")
          const owner = target.value.userId
          const found = yield* accounts.find(owner, accountId).pipe(Effect.orElseSucceed(() => Option.none()))
          if (Option.isNone(found)) return yield* Effect.fail<Stop>("gone")
          const account = found.value
          // the sync's credential path (ImapAccess.loginOptions: the password or an OAuth2 access token).
          // A secret that no longer opens or a grant that needs the user: stop (the sync reports it on
          // the account); a token that cannot be had now or the database: reconnect later
          const options = yield* access.loginOptions(account, "sync").pipe(
            Effect.catchTags({
              SecretDecryptionFailed: () => Effect.fail<Stop>("password_unreadable"),
              OAuthReauthRequired: () => Effect.fail<Stop>("password_unreadable"),
              OAuthTokenUnavailable: (error) =>
                Effect.fail(new ImapConnectionError({ reason: "other", message: error.message })),
              DatabaseError: (error) =>
                Effect.fail(new ImapConnectionError({ reason: "other", message: error.message }))
            })
          )
          const folders = target.value.watchFolders.slice(0, config.maxIdleFolders)
          const ready: { mode: WatchMode | null; connections: number } = { mode: null, connections: 0 }
          // one of the account's IMAP connection slots (ImapSlots, shared with its syncs and rule
          // actions) for the watcher's lifetime: the server's limit is per account. The extra IDLE
          // folders without NOTIFY are not counted (bounded by WATCH_MAX_IDLE_FOLDERS instead), so a
          // watcher never takes the slots its own account's syncs need. None free: reconnect later.
          yield* slots.acquire(accountId).pipe(
            Effect.mapError(
              (error) =>
                new ImapConnectionError({
                  reason: "other",
                  message: `no free IMAP connection slot for the account: ${error.message}`
                })
            )
          )
          return yield* imapWatch
            .watch(options, {
              folders,
              maxIdleTimeMs: config.idleRestartMillis,
              permit: permitFor(account.host),
              onChange: (change) =>
                change.flags !== undefined && change.path !== null
                  ? echoes.offer(owner, accountId, change.path, change.flags, change.heardAt)
                  : coalescer.offer(owner, accountId, change.path, change.heardAt),
              onReady: (mode, connections) =>
                Effect.gen(function* () {
                  ready.mode = mode
                  ready.connections = connections
                  yield* countConnections(mode, connections)
                  yield* announceWatching(owner, account, true)
                  yield* Effect.logInfo("watching account", { account: accountId, fence, mode, connections })
                  // catch up on whatever changed while nobody listened
                  coalescer.offer(owner, accountId, null, Date.now())
                })
            })
            .pipe(
              Effect.ensuring(
                Effect.suspend(() =>
                  ready.mode === null
                    ? Effect.void
                    : countConnections(ready.mode, -ready.connections).pipe(
                        Effect.andThen(announceWatching(owner, account, false))
                      )
                )
              ),
              Effect.catchTag("ImapAuthenticationError", (error) =>
                Effect.gen(function* () {
                  if (account.authKind === "oauth") {
                    // a revoked or expired token: dropped, the next connection refreshes it (the sync marks
                    // reauth_required when the grant itself is refused)
                    yield* access.loginRefused(account).pipe(Effect.ignore)
                    return yield* error
                  }
                  yield* Effect.logWarning("watcher's login refused: account marked auth_failed", {
                    account: accountId,
                    message: error.message
                  })
                  yield* accounts.setStatus(owner, accountId, "auth_failed", error.message).pipe(
                    Effect.andThen(
                      account.status === "auth_failed"
                        ? Effect.void
                        : bus.publish(
                            owner,
                            new AccountChanged({
                              occurredAt: new Date(),
                              accountId,
                              status: "auth_failed",
                              message: error.message,
                              change: "status"
                            })
                          )
                    ),
                    Effect.catch((failure) =>
                      Effect.logWarning("account status not saved", { account: accountId, error: failure.message })
                    )
                  )
                  yield* schedules.apply({ ...account, status: "auth_failed" }).pipe(
                    Effect.catch((failure) =>
                      Effect.logWarning("scheduled syncs of the account not stopped", {
                        account: accountId,
                        error: failure.message
                      })
                    )
                  )
                  return yield* Effect.fail<Stop>("auth_failed")
                })
              )
            )
        }).pipe(Effect.scoped)

      const isStop = (error: Stop | ImapError): error is Stop => typeof error === "string"

      /** The watcher of one account: connects, and reconnects with backoff until it is interrupted or must stop. */
      const watchAccount = (accountId: AccountId, fence: number) =>
        Effect.gen(function* () {
          let attempt = 0
          while (true) {
            const started = Date.now()
            const error = yield* Effect.flip(connectOnce(accountId, fence))
            if (isStop(error)) {
              yield* Effect.logInfo("watcher stopped", { account: accountId, fence, reason: error })
              return
            }
            if (Date.now() - started >= STABLE_MILLIS) attempt = 0
            const delay = reconnectDelay(attempt, config)
            attempt++
            const reason = error._tag === "ImapConnectionError" ? error.reason : error._tag
            yield* Metric.update(Metric.withAttributes(watchReconnects, { reason }), 1)
            yield* Effect.logInfo("watching connection ended, reconnecting", {
              account: accountId,
              fence,
              error: error._tag,
              message: error.message,
              delayMillis: delay
            })
            yield* Effect.sleep(delay)
          }
        })

      // --- the owned set -----------------------------------------------------------------------

      const running = new Map<AccountId, Fiber.Fiber<void>>()
      yield* ownership.owned.pipe(
        Stream.runForEach((owned) =>
          Effect.gen(function* () {
            const gone = [...running.entries()].filter(([id]) => !owned.accounts.has(id))
            for (const [id] of gone) running.delete(id)
            yield* Effect.forEach(gone, ([, fiber]) => Fiber.interrupt(fiber), {
              concurrency: "unbounded",
              discard: true
            })
            for (const [id, { fence }] of owned.accounts) {
              if (running.has(id)) continue
              running.set(id, yield* Effect.forkIn(watchAccount(id, fence), scope))
            }
            yield* Metric.update(watchAccounts, running.size)
          })
        ),
        Effect.forkIn(scope)
      )

      return Watchers.of({ watching: Effect.sync(() => [...running.keys()]) })
    })
  )
}

/** The watchers over an ownership provider, with what they read. Needs AccountOwnership, WatchConfig. */
export const WatchersLive = Watchers.layer.pipe(
  Layer.provide(Layer.mergeAll(ImapWatch.layer, WatchStore.layer, JobEnds.layer))
)
