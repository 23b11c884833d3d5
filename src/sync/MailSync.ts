/**
 * The sync of one account, run by the `mail.sync` processor (MailSyncProcessor.ts): mirrors one IMAP
 * account into PostgreSQL (docs/accounts-and-sync.md, "The `mail.sync` job").
 *
 * Per account: log in, LIST (+STATUS) the mailboxes and store them with their special-use roles,
 * then for each selectable mailbox (INBOX first):
 *   1. skip it when LIST-STATUS shows the stored UIDVALIDITY, UIDNEXT and HIGHESTMODSEQ;
 *   2. SELECT (read-only); a new UIDVALIDITY drops the mailbox's stored messages;
 *   3. flags and expunges of stored messages: CONDSTORE `CHANGEDSINCE` + QRESYNC `VANISHED` when the
 *      server has them, else a full flag scan (also the UID list, compared with what is stored);
 *   4. new messages (UID > checkpoint), newest first: the newest 200 (sizes by UIDNEXT) stored
 *      first, then the rest in descending batches bounded by count and bytes, fetched -> parsed on
 *      the worker threads -> stored, pipelined; each stored batch is one transaction that moves the
 *      checkpoint (migration 0060); the first stored batch queues analysis and indexing (a new
 *      mailbox's first page: its own analysis job first, the rest's follow-ups once it ended);
 *   5. UIDNEXT / HIGHESTMODSEQ / counts stored only once the mailbox pass is complete.
 * A mailbox never sits in memory whole: at most a few batches are in flight.
 *
 * Errors: a refused login marks the account `auth_failed` (with the server's words), removes its
 * scheduler and fails the job at once. Network trouble and timeouts are retried with backoff; the
 * last attempt marks the account `unreachable`. A malformed message is stored with parse warnings.
 * Before the session: a stored password that no longer decrypts (its key left SECRET_KEYS) marks
 * the account `auth_failed` ("enter the password again") and removes its scheduler, like a refused
 * login; a destination the policy refuses is a permanent `unreachable`. Any other failure before
 * the session leaves its message on the account (a transient one on the last attempt). A status
 * that cannot be saved is logged with the database's reason.
 */
import { Context, Duration, Effect, Layer, Metric, Option, Schedule, Stream } from "effect"
import type { SqlError } from "effect/sql"
import { AccountSchedules } from "../accounts/AccountSchedules.ts"
import { type AccountRecord, AccountStore, sameServerProfile } from "../accounts/AccountStore.ts"
import { ImapAccess } from "../accounts/ImapAccess.ts"
import type { AccountId, AccountStatus } from "../contract/accounts/Account.ts"
import type { EmailId } from "../contract/emails/EmailId.ts"
import { AccountChanged, MailStored } from "../contract/events/UserEvent.ts"
import { EventBus } from "../events/EventBus.ts"
import type { ProgressUpdate, SoftTimeLimit } from "../jobs/CurrentJob.ts"
import { type JobError, PermanentJobError, TransientJobError } from "../contract/jobs/JobKind.ts"
import { type FirstPageFollowUp, type FirstPagePhase, MailFollowUps } from "../pipeline/MailFollowUps.ts"
import { logDatabaseError } from "../platform/Database.ts"
import { UserScope } from "../users/UserScope.ts"
import { syncErrors, syncMessages } from "../platform/Metrics.ts"
import type { UserId } from "../contract/users/UserId.ts"
import {
  type FetchedMessage,
  type ImapError,
  type ImapSession,
  isTransientImapError,
  type MailboxInfo,
  type MessageSize
} from "../imap/Imap.ts"
import {
  type BatchTarget,
  type Checkpoint,
  type EmailInput,
  type MailboxRecord,
  MailStore,
  type StoredRange
} from "./MailStore.ts"
import { normaliseMessageId, type ParsedMessage, threadKeyCandidates } from "./mime.ts"
import { MimeParser } from "./ParserPool.ts"
import { SyncConfig, type SyncConfigShape } from "./SyncConfig.ts"
import { type SyncPhase, type SyncStepFailed, sqlCause, stepFailed } from "./SyncFailure.ts"
import type { SyncResult } from "../contract/jobs/MailSyncJob.ts"
import { serverProfile } from "./SyncStrategy.ts"
import { assignThreads, maxCandidates, threadIdFor } from "./threading.ts"

export interface SyncAttempt {
  readonly attempt: number
  readonly maxAttempts: number
  readonly progress: (update: ProgressUpdate) => Effect.Effect<void>
  /**
   * The job's soft time limit: once it passed, the sync stores the batches in flight (each moves
   * the mailbox's checkpoint), leaves the mailbox unfinished (so the next sync does not skip it) and
   * ends with `exceeded` (code `soft_time_limit`); the next attempt continues from the checkpoint.
   */
  readonly softTimeLimit?: Pick<SoftTimeLimit, "passed" | "exceeded">
  /**
   * Fair share (issue 15): once the run stored new mail (its first page: the newest batch), the rest
   * of the sync is bulk work (`continueAsBulk`, asked once), and before each further fetch the sync
   * asks `shouldYield`; on true it stops as at the soft time limit (batches in flight stored, the
   * mailbox left unfinished) and ends with `yielded()`: the job waits for its turn and the next run
   * continues from the checkpoint. A sync that stores one batch (a targeted sync of new mail) never asks.
   */
  readonly bulkAfterFirstPage?: {
    readonly continueAsBulk: Effect.Effect<void>
    readonly shouldYield: Effect.Effect<boolean>
    readonly yielded: (message: string) => JobError
  }
  /**
   * A targeted sync (a watcher heard a change there): only these mailboxes, after the mailbox list.
   * When none of them is among the listed selectable mailboxes (renamed, or a name the watcher
   * could not map), the whole account is synced instead.
   */
  readonly mailboxes?: ReadonlyArray<string>
}

/** The mailboxes a sync goes through: the targeted ones when any of them is listed, else all. */
export const targetMailboxes = <M extends { readonly path: string }>(
  selectable: ReadonlyArray<M>,
  targets: ReadonlyArray<string> | undefined
): ReadonlyArray<M> => {
  if (targets === undefined) return selectable
  const wanted = new Set(targets)
  const chosen = selectable.filter((mailbox) => wanted.has(mailbox.path))
  return chosen.length > 0 ? chosen : selectable
}

/**
 * The stored mailboxes a targeted sync goes through without listing, or null when one of the
 * targets is not a stored selectable mailbox (a new folder, or one the list has not seen): then
 * the sync lists every mailbox first.
 */
export const knownTargets = <M extends { readonly path: string; readonly selectable: boolean }>(
  stored: ReadonlyArray<M>,
  targets: ReadonlyArray<string>
): ReadonlyArray<M> | null => {
  const selectable = new Map(stored.filter((mailbox) => mailbox.selectable).map((mailbox) => [mailbox.path, mailbox]))
  const chosen: Array<M> = []
  for (const path of new Set(targets)) {
    const mailbox = selectable.get(path)
    if (mailbox === undefined) return null
    chosen.push(mailbox)
  }
  return chosen.length > 0 ? chosen : null
}

const notStopped: Effect.Effect<boolean> = Effect.succeed(false)

/** One planned UID FETCH: consecutive UIDs, bounded by count and bytes. */
export interface FetchPlan {
  readonly uids: ReadonlyArray<number>
  /** Set for oversized messages: only this many bytes of each are fetched. */
  readonly maxSourceBytes?: number
}

/** Splits the new UIDs (ascending) into fetch batches; oversized messages are fetched as prefixes. */
export const planBatches = (
  sizes: ReadonlyArray<MessageSize>,
  config: Pick<SyncConfigShape, "batchSize" | "batchBytes" | "maxMessageBytes" | "oversizePrefixBytes">
): Array<FetchPlan> => {
  const plans: Array<FetchPlan> = []
  let uids: Array<number> = []
  let bytes = 0
  let oversized = false
  const flush = () => {
    if (uids.length > 0) {
      plans.push(oversized ? { uids, maxSourceBytes: config.oversizePrefixBytes } : { uids })
    }
    uids = []
    bytes = 0
  }
  for (const { uid, size } of sizes) {
    // a size the server did not report is planned as the largest whole message (alone in its batch)
    const big = size !== null && size > config.maxMessageBytes
    const cost = big ? config.oversizePrefixBytes : size === null ? config.maxMessageBytes : Math.max(1, size)
    if (uids.length > 0 && (big !== oversized || uids.length >= config.batchSize || bytes + cost > config.batchBytes)) {
      flush()
    }
    oversized = big
    uids.push(uid)
    bytes += cost
  }
  flush()
  return plans
}

/** Most messages of the first batch of a newest-first pass: the first screen, stored (and queued for analysis) first. */
export const FIRST_PAGE = 200

/** `mail.stored` publishes of one stored batch in flight at once. */
const PUBLISH_CONCURRENCY = 32

/**
 * The first page's analysis gets the worker's CPU: after the first batch the sync pauses while that
 * job runs (at most FIRST_PAGE_PAUSE_MILLIS), and while it waits for a worker only briefly
 * (FIRST_PAGE_PICKUP_MILLIS: with no free worker the sync goes on and the job's interactive class
 * still puts it before the rest). On 2 cores the analysis otherwise got 0-20 % of the main thread
 * beside the sync (a first page analysed after 5.9 s instead of ~1 s).
 */
const FIRST_PAGE_PAUSE_MILLIS = 2_000
const FIRST_PAGE_PICKUP_MILLIS = 500
const FIRST_PAGE_POLL = Schedule.spaced("50 millis")

/** While a sync stores mail, its follow-up jobs are queued again at most this often. */
const FOLLOW_UP_INTERVAL_MILLIS = 1_000

/** One planned fetch and what storing it records in the mailbox row. */
export interface PlannedBatch {
  readonly plan: FetchPlan
  readonly checkpoint: Checkpoint
}

/**
 * The batches for the new messages of a mailbox, newest first (migration 0060). `sizes`: the
 * server's UIDs above `lastUid` (ascending), `filled`: the stored range of a pass in progress.
 * - above a pass in progress (mail that arrived since it began): ascending, each batch raises the
 *   pass's top, so what is stored stays one range;
 * - the rest, below the pass (or all of it when none is in progress): descending, the first batch at
 *   most `firstPage` messages; each batch lowers the range's bottom, the last one completes the pass
 *   (`last_uid` = its top).
 * `completeOnly` is set when nothing is left to fetch at all but a pass is in progress (what was
 * left below it is gone from the server): the pass just ends.
 */
export const planNewestFirst = (
  sizes: ReadonlyArray<MessageSize>,
  filled: StoredRange | null,
  config: Pick<SyncConfigShape, "batchSize" | "batchBytes" | "maxMessageBytes" | "oversizePrefixBytes">,
  firstPage: number = FIRST_PAGE
): { readonly batches: Array<PlannedBatch>; readonly completeOnly: number | null } => {
  const batches: Array<PlannedBatch> = []
  const unstored = filled === null ? sizes : sizes.filter(({ uid }) => uid < filled.from || uid > filled.to)
  const above = filled === null ? [] : unstored.filter(({ uid }) => uid > filled.to)
  for (const plan of planBatches(above, config)) {
    batches.push({ plan, checkpoint: { _tag: "raised", to: plan.uids[plan.uids.length - 1] ?? 0 } })
  }
  const below = (filled === null ? unstored : unstored.filter(({ uid }) => uid < filled.from)).toReversed()
  const top = Math.max(filled?.to ?? 0, above.at(-1)?.uid ?? 0, below[0]?.uid ?? 0)
  if (below.length === 0) {
    const last = batches.at(-1)
    if (filled === null) return { batches, completeOnly: null }
    if (last === undefined) return { batches, completeOnly: top }
    // the last batch above the pass also ends it: nothing is left below
    batches[batches.length - 1] = { plan: last.plan, checkpoint: { _tag: "complete", to: top } }
    return { batches, completeOnly: null }
  }
  const head = below.slice(0, Math.max(1, Math.min(firstPage, config.batchSize)))
  const plans = [...planBatches(head, config), ...planBatches(below.slice(head.length), config)]
  plans.forEach((plan, index) => {
    const lowest = plan.uids[plan.uids.length - 1] ?? 0
    batches.push({
      plan,
      checkpoint: index === plans.length - 1 ? { _tag: "complete", to: top } : { _tag: "filled", from: lowest, to: top }
    })
  })
  return { batches, completeOnly: null }
}

interface Stats {
  fetchMillis: number
  parseMillis: number
  storeMillis: number
  mailboxes: number
  unchangedMailboxes: number
  newMessages: number
  /**
   * New messages this run planned to fetch (each mailbox's pass, its first page included), stored or
   * not yet: a run resumed in a backlog plans it all before its first store.
   */
  plannedMessages: number
  flagUpdates: number
  expunged: number
  uidValidityResets: number
  messagesWithWarnings: number
  /** Mailboxes that SELECT found gone (deleted or renamed on the server since they were listed). */
  missingMailboxes: number
  /** New messages stored without their full-text vectors (a backlog's: `searchIndexDeferred`). */
  storedUnindexed: number
  /** `newMessages` when the follow-ups were last announced (`mailStored`). */
  announcedNewMessages: number
}

/** Stored headers (`headers` jsonb): what analysis and rules look at. */
const headerRecord = (parsed: ParsedMessage): Record<string, string | null> => ({
  listUnsubscribe: parsed.headers.listUnsubscribe,
  listUnsubscribePost: parsed.headers.listUnsubscribePost,
  listId: parsed.headers.listId,
  autoSubmitted: parsed.headers.autoSubmitted,
  precedence: parsed.headers.precedence,
  xMailer: parsed.headers.xMailer
})

const mailboxOrder = (mailbox: MailboxRecord): number => {
  switch (mailbox.specialUse) {
    case "inbox":
      return 0
    case "sent":
      return 1
    case "archive":
      return 2
    case "drafts":
      return 3
    case "junk":
      return 5
    case "trash":
      return 6
    default:
      return mailbox.path.toUpperCase() === "INBOX" ? 0 : 4
  }
}

/** Runs `effect` and reports how long it took. */
const timed = <A, E, R>(effect: Effect.Effect<A, E, R>, record: (millis: number) => void): Effect.Effect<A, E, R> =>
  Effect.suspend(() => {
    const start = performance.now()
    return Effect.ensuring(
      effect,
      Effect.sync(() => record(performance.now() - start))
    )
  })

type SyncFailure = SyncStepFailed | JobError

/** The stored IMAP password does not decrypt (its key left SECRET_KEYS, or the row was tampered with). */
const SECRET_UNREADABLE = "secret_unreadable"
/** The OAuth2 grant was refused: only the user can reconnect the account. */
const REAUTH_REQUIRED = "reauth_required"

/** Names the step and mailbox of whatever `effect` fails with. */
const step =
  (phase: SyncPhase, mailbox: string | null) =>
  <A, R>(effect: Effect.Effect<A, ImapError | SqlError.SqlError, R>): Effect.Effect<A, SyncStepFailed, R> =>
    Effect.mapError(effect, (error) => stepFailed(phase, mailbox, error))

export interface MailSyncShape {
  readonly run: (owner: UserId, accountId: AccountId, attempt: SyncAttempt) => Effect.Effect<SyncResult, JobError>
}

export class MailSync extends Context.Service<MailSync, MailSyncShape>()("mail-helper/MailSync") {
  static readonly layer = Layer.effect(
    MailSync,
    Effect.gen(function* () {
      const access = yield* ImapAccess
      const accounts = yield* AccountStore
      const schedules = yield* AccountSchedules
      const store = yield* MailStore
      const parser = yield* MimeParser
      const config = yield* SyncConfig
      const followUps = yield* MailFollowUps
      const bus = yield* EventBus
      const userScope = yield* UserScope
      // the full-text vectors of a backlog are computed after the sync, by a follow-up job, when the
      // pipeline has one; a small run's (fresh mail) are stored with the mail
      const indexedByJob = followUps.searchIndexDeferred(Number.POSITIVE_INFINITY)
      const hasUnindexed = (owner: UserId) =>
        store
          .hasUnindexed(owner)
          .pipe(
            Effect.catchTag("SqlError", (error) =>
              Effect.as(Effect.logWarning("could not check for unindexed mail", error.message), false)
            )
          )

      const syncMailbox = (
        session: ImapSession,
        account: AccountRecord,
        mailbox: MailboxRecord,
        listed: MailboxInfo | undefined,
        stats: Stats,
        report: (phase: string, done: number, total: number | null) => Effect.Effect<void>,
        /** The soft time limit passed: stop before the next fetch. */
        stopRequested: Effect.Effect<boolean>,
        /**
         * After each stored batch with new messages (queues their follow-up jobs); `firstPage`: the
         * batch is the newest messages of a mailbox that had none stored (the first screen).
         */
        onStored: (insertedIds: ReadonlyArray<EmailId>, firstPage: boolean) => Effect.Effect<void>
      ) =>
        // true: the mailbox pass is complete; false: stopped at the soft time limit, not finished
        Effect.gen(function* () {
          const status = listed?.status ?? null
          if (
            status !== null &&
            mailbox.uidValidity !== null &&
            mailbox.uidNext !== null &&
            mailbox.highestModseq !== null &&
            config.useCondstore &&
            session.supportsCondstore &&
            status.uidValidity === mailbox.uidValidity &&
            status.uidNext === mailbox.uidNext &&
            status.highestModseq === mailbox.highestModseq
          ) {
            stats.unchangedMailboxes++
            return true
          }
          const at = (phase: SyncPhase) => step(phase, mailbox.path)
          const state = yield* session.openMailbox(mailbox.path).pipe(at("select"))
          let lastUid = mailbox.lastUid
          let filled: StoredRange | null = mailbox.filled
          let storedModseq = mailbox.highestModseq
          if (mailbox.uidValidity !== state.uidValidity) {
            if (mailbox.uidValidity !== null) {
              yield* Effect.logInfo("UIDVALIDITY changed: dropping the mailbox's stored messages", {
                mailbox: mailbox.path
              })
              stats.uidValidityResets++
            }
            yield* store.resetMailbox(account.userId, mailbox.id, state.uidValidity).pipe(at("reset"))
            lastUid = 0
            filled = null
            storedModseq = null
          }
          const target: BatchTarget = {
            owner: account.userId,
            accountId: account.id,
            mailboxId: mailbox.id,
            uidValidity: state.uidValidity
          }

          // the highest stored UID: a pass in progress stored the newest ones (migration 0060)
          const storedUpTo = filled?.to ?? lastUid
          // flags and expunges of what is already stored
          if (storedUpTo > 0) {
            yield* report("flags", 0, null)
            const condstore = config.useCondstore && session.supportsCondstore && state.highestModseq !== null
            if (condstore && storedModseq !== null) {
              if (storedModseq !== state.highestModseq) {
                const changes = yield* session.changesSince(mailbox.path, storedModseq).pipe(at("flags"))
                stats.flagUpdates += yield* store
                  .applyFlags(
                    target,
                    changes.changed.filter((change) => change.uid <= storedUpTo),
                    config.flagChunkSize
                  )
                  .pipe(at("flags"))
                if (changes.vanished !== null) {
                  stats.expunged += yield* store
                    .deleteUids(
                      target,
                      changes.vanished.filter((uid) => uid <= storedUpTo)
                    )
                    .pipe(at("expunge"))
                } else {
                  stats.expunged += yield* expungeByComparison(session, target, mailbox.path, storedUpTo).pipe(
                    at("expunge")
                  )
                }
              }
            } else {
              // no usable modseq: every flag, and the UID list that comes with them
              const all = yield* session.fetchFlags(mailbox.path).pipe(at("flags"))
              const known = all.filter((entry) => entry.uid <= storedUpTo)
              stats.flagUpdates += yield* store.applyFlags(target, known, config.flagChunkSize).pipe(at("flags"))
              const stored = yield* store.countStored(target, storedUpTo).pipe(at("expunge"))
              if (stored !== known.length) {
                stats.expunged += yield* store
                  .deleteMissing(
                    target,
                    known.map((entry) => entry.uid),
                    storedUpTo
                  )
                  .pipe(at("expunge"))
              }
            }
          }

          // new messages, newest first (migration 0060): the first screen is stored before the rest
          if (yield* stopRequested) return false
          // nothing stored yet: the first stored batch is the mailbox's first page
          let firstPage = lastUid === 0 && filled === null
          // a mailbox's first pass (a new account's mail) is a backlog: its vectors are deferred, as
          // are those of a run that stores or plans more than the pipeline's small run (`backlog`)
          const firstPass = firstPage
          const deferIndexing = (backlog: number) =>
            followUps.searchIndexDeferred(firstPass ? Number.POSITIVE_INFINITY : backlog)
          let stopped = false
          let done = 0
          let total: number | null = null
          // before the size list: the gap below UIDNEXT, what this mailbox may store (the head batch)
          let pendingEstimate = 0
          const storeBatches = (batches: ReadonlyArray<PlannedBatch>) =>
            Stream.fromIterable(batches).pipe(
              // the soft time limit is checked before each fetch: the batches in flight are still
              // parsed and stored (each moves the checkpoint), no further one is fetched
              Stream.mapEffect(({ plan, checkpoint }) =>
                Effect.flatMap(stopRequested, (stop) => {
                  stopped ||= stop
                  return stopped
                    ? Effect.succeed(null)
                    : timed(
                        fetchPlan(session, mailbox.path, plan).pipe(
                          Effect.map((fetched) => ({ ...fetched, checkpoint })),
                          at("fetch")
                        ),
                        (ms) => (stats.fetchMillis += ms)
                      )
                })
              ),
              Stream.takeWhile((fetched) => fetched !== null),
              Stream.filter((fetched) => fetched !== null),
              Stream.buffer({ capacity: 1 }),
              Stream.mapEffect(
                ({ plan, checkpoint, messages }) =>
                  Effect.map(
                    timed(
                      parser.parseBatch(messages.map((message) => message.source)),
                      (ms) => (stats.parseMillis += ms)
                    ),
                    (parsed) => ({
                      plan,
                      checkpoint,
                      // the sources are not kept beyond parsing
                      messages: messages.map(({ source: _source, ...meta }) => meta),
                      parsed
                    })
                  ),
                { concurrency: 2 }
              ),
              Stream.runForEach(({ plan, checkpoint, messages, parsed }) =>
                Effect.gen(function* () {
                  const stored = yield* timed(
                    storeBatch(
                      target,
                      checkpoint,
                      messages,
                      parsed,
                      plan.maxSourceBytes,
                      deferIndexing(Math.max(stats.newMessages, stats.plannedMessages, pendingEstimate))
                    ).pipe(at("store")),
                    (ms) => (stats.storeMillis += ms)
                  )
                  done += plan.uids.length
                  stats.newMessages += stored.inserted
                  if (stored.deferredIndex) stats.storedUnindexed += stored.inserted
                  stats.messagesWithWarnings += stored.withWarnings
                  yield* Metric.update(syncMessages, stored.inserted)
                  // committed: the owner hears of each new message (a publish never fails the sync) while
                  // the follow-up jobs are queued (a few round trips), not after them; the publishes go
                  // out together (one connection pipelines them)
                  const isFirstPage = firstPage
                  firstPage = false
                  const occurredAt = new Date()
                  const published = Effect.forEach(
                    stored.insertedIds,
                    (emailId) =>
                      bus.publish(
                        target.owner,
                        new MailStored({
                          occurredAt,
                          accountId: target.accountId,
                          mailboxId: target.mailboxId,
                          emailId
                        })
                      ),
                    { discard: true, concurrency: PUBLISH_CONCURRENCY }
                  )
                  yield* Effect.all(
                    [published, stored.inserted > 0 ? onStored(stored.insertedIds, isFirstPage) : Effect.void],
                    {
                      concurrency: 2,
                      discard: true
                    }
                  )
                  yield* report("messages", done, total)
                })
              )
            )
          // a large gap below UIDNEXT: the newest UIDs' sizes first, so the first screen does not
          // wait for the size list of the whole mailbox (50,000 messages: about 2.5 MB of FETCH)
          if (filled === null && state.uidNext !== null && state.uidNext - lastUid > 4 * FIRST_PAGE) {
            pendingEstimate = stats.plannedMessages + (state.uidNext - lastUid)
            const newest = yield* session
              .fetchSizes(mailbox.path, { from: state.uidNext - FIRST_PAGE })
              .pipe(at("sizes"))
            // its first batch (the newest UIDs without a gap in the server's list) is a range of its
            // own until the pass below it reaches it
            const [head] = planNewestFirst(newest, null, config).batches
            const lowest = head?.plan.uids[head.plan.uids.length - 1]
            const highest = head?.plan.uids[0]
            if (head !== undefined && lowest !== undefined && highest !== undefined) {
              yield* storeBatches([{ plan: head.plan, checkpoint: { _tag: "filled", from: lowest, to: highest } }])
              if (stopped) return false
              filled = { from: lowest, to: highest }
            }
          }
          const sizes = yield* session.fetchSizes(mailbox.path, { from: lastUid + 1 }).pipe(at("sizes"))
          const planned = planNewestFirst(sizes, filled, config)
          total = done + planned.batches.reduce((sum, batch) => sum + batch.plan.uids.length, 0)
          stats.plannedMessages += total
          pendingEstimate = 0
          if (planned.batches.length > 0) {
            yield* report("messages", done, total)
            yield* storeBatches(planned.batches)
          } else if (planned.completeOnly !== null) {
            // what was left below the pass is gone from the server: the pass ends here
            yield* storeBatch(target, { _tag: "complete", to: planned.completeOnly }, [], [], undefined, true).pipe(
              at("store")
            )
          }
          // stopped: UIDNEXT / HIGHESTMODSEQ stay as they were, so the next sync does not skip the mailbox
          if (stopped) return false
          yield* store
            .finishMailbox(target, { uidNext: state.uidNext, highestModseq: state.highestModseq })
            .pipe(at("finish"))
          return true
        }).pipe(
          // deleted on the server between LIST and SELECT: the next sync's LIST removes it
          Effect.catchTag("SyncStepFailed", (failure) =>
            failure.error._tag === "ImapMailboxMissing"
              ? Effect.as(
                  Effect.logInfo("mailbox vanished during the sync", {
                    mailbox: mailbox.path,
                    message: failure.message
                  }).pipe(Effect.tap(() => Effect.sync(() => stats.missingMailboxes++))),
                  true
                )
              : Effect.fail(failure)
          ),
          Effect.withSpan("MailSync.mailbox", { attributes: { "mailbox.path": mailbox.path } })
        )

      /** Without VANISHED: compare the server's UID list with what is stored (only when the counts differ). */
      const expungeByComparison = (session: ImapSession, target: BatchTarget, path: string, lastUid: number) =>
        Effect.gen(function* () {
          const uids = (yield* session.searchUids(path)).filter((uid) => uid <= lastUid)
          const stored = yield* store.countStored(target, lastUid)
          return stored === uids.length ? 0 : yield* store.deleteMissing(target, uids, lastUid)
        })

      const fetchPlan = (session: ImapSession, path: string, plan: FetchPlan) =>
        Stream.runCollect(
          session.fetchMessages(path, plan.uids, {
            batchSize: plan.uids.length,
            ...(plan.maxSourceBytes === undefined ? {} : { maxSourceBytes: plan.maxSourceBytes })
          })
        ).pipe(Effect.map((batches) => ({ plan, messages: batches.flat() })))

      const storeBatch = (
        target: BatchTarget,
        checkpoint: Checkpoint,
        messages: ReadonlyArray<Omit<FetchedMessage, "source">>,
        parsed: ReadonlyArray<ParsedMessage>,
        prefixBytes: number | undefined,
        /** Store the rows without their full-text vectors (`searchIndexDeferred`); the follow-ups queue `search.index`. */
        deferSearchIndex: boolean
      ) => {
        const candidates = parsed.map((message) => threadKeyCandidates(message).slice(0, maxCandidates))
        const messageIds = [...new Set(candidates.flat())]
        const threadKeys = messageIds.map((id) => threadIdFor(target.accountId, id))
        let withWarnings = 0
        const prepare = Effect.gen(function* () {
          const known = yield* store.knownThreads(target, messageIds, threadKeys)
          const assignment = assignThreads(
            target.accountId,
            parsed.map((message, index) => ({
              candidates: candidates[index] ?? [],
              ownId: normaliseMessageId(message.messageId),
              fallbackKey: `uid:${target.mailboxId}:${target.uidValidity}:${messages[index]?.uid ?? index}`
            })),
            known
          )
          const emails: Array<EmailInput> = []
          parsed.forEach((message, index) => {
            const meta = messages[index]
            if (meta === undefined) return
            const warnings = [...message.warnings]
            if (meta.truncated) {
              warnings.push(
                `message of ${meta.size} bytes is above the ${config.maxMessageBytes} byte limit: only its first ${prefixBytes ?? meta.size} bytes were fetched, body and attachments may be incomplete`
              )
            }
            if (warnings.length > 0) withWarnings++
            emails.push({
              uid: meta.uid,
              messageId: message.messageId,
              inReplyTo: message.inReplyTo,
              references: message.references,
              threadId: assignment.threads[index] ?? threadIdFor(target.accountId, `uid:${meta.uid}`),
              subject: message.subject,
              from: message.from,
              to: message.to,
              cc: message.cc,
              bcc: message.bcc,
              replyTo: message.replyTo,
              sentAt: message.date,
              receivedAt: meta.internalDate,
              flags: meta.flags,
              size: meta.size,
              textBody: message.textBody,
              htmlBody: message.htmlBody,
              headers: headerRecord(message),
              attachments: message.attachments,
              warnings: warnings.map((warning) => warning.slice(0, 500)).slice(0, 50),
              modseq: meta.modseq
            })
          })
          return { emails, merges: assignment.merges }
        })
        return Effect.map(store.storeBatch(target, checkpoint, prepare, { deferSearchIndex }), (result) => ({
          inserted: result.inserted,
          insertedIds: result.insertedIds,
          withWarnings,
          deferredIndex: deferSearchIndex
        }))
      }

      /** `account.changed` for the owner, only when the status really changed from the one the sync started with. */
      const statusChanged = (owner: UserId, before: AccountRecord, status: AccountStatus, message: string | null) =>
        before.status === status
          ? Effect.void
          : bus.publish(
              owner,
              new AccountChanged({ occurredAt: new Date(), accountId: before.id, status, message, change: "status" })
            )

      /**
       * Saves the account's status for the user. The job's verdict does not depend on it, but a
       * status that could not be saved is logged: the user would otherwise see a stale one.
       */
      const saveStatus = (owner: UserId, account: AccountRecord, status: AccountStatus, message: string | null) =>
        accounts.setStatus(owner, account.id, status, message).pipe(
          Effect.flatMap((updated) =>
            Option.isNone(updated)
              ? Effect.logWarning("account status not saved: the account no longer exists", {
                  account: account.id,
                  status
                })
              : statusChanged(owner, account, updated.value.status, updated.value.statusMessage)
          ),
          Effect.catch((error) =>
            Effect.andThen(
              Effect.logWarning("account status not saved", { account: account.id, status, error: error.message }),
              logDatabaseError(error)
            )
          )
        )

      /**
       * Records the capabilities, namespace and strategy of this session on the account (written
       * only when they changed). A profile that cannot be saved does not fail the sync: it is
       * logged with the database's reason, and the next sync tries again. The same profile as the
       * one read with the account at the start of this run is not sent at all: it almost never
       * changes, and its statement (a transaction of its own) would write nothing.
       */
      const recordServer = (owner: UserId, account: AccountRecord, session: ImapSession) => {
        const profile = serverProfile({
          capabilities: session.capabilities,
          enabled: session.enabled,
          useCondstore: config.useCondstore,
          serverId: session.serverId,
          namespace: session.namespace
        })
        if (sameServerProfile(account.server, profile)) return Effect.void
        return accounts.recordServer(owner, account.id, profile).pipe(
          Effect.catch((error) =>
            Effect.andThen(
              Effect.logWarning("server capabilities and strategy not saved", {
                account: account.id,
                error: error.message
              }),
              logDatabaseError(error)
            )
          )
        )
      }

      /** No scheduled syncs until the user changes the credentials (PATCH re-applies the schedule). */
      const stopScheduledSyncs = (account: AccountRecord) =>
        schedules.apply({ ...account, status: "auth_failed" }).pipe(
          Effect.catch((error) =>
            Effect.logWarning("scheduled syncs of the account not stopped", {
              account: account.id,
              error: error.message
            })
          )
        )

      /** Maps what went wrong to the job's verdict, updating the account's status on the way. */
      const classify = (owner: UserId, account: AccountRecord, attempt: SyncAttempt) => (failure: SyncFailure) =>
        Effect.gen(function* () {
          const finalAttempt = attempt.attempt >= attempt.maxAttempts
          if (failure._tag === "TransientJobError" || failure._tag === "PermanentJobError") {
            // before the IMAP session: the stored password, the connect options
            const phase = failure.code === SECRET_UNREADABLE ? "decrypt_password" : "connect"
            yield* Metric.update(Metric.withAttributes(syncErrors, { reason: failure.code }), 1)
            yield* Effect.logWarning("sync failed", {
              account: account.id,
              phase,
              error: failure._tag,
              code: failure.code,
              attempt: attempt.attempt,
              maxAttempts: attempt.maxAttempts,
              message: failure.message
            })
            if (failure._tag === "PermanentJobError" && failure.code === REAUTH_REQUIRED) {
              // OAuthTokens saved reauth_required with the provider's reason: the scheduler stops
              yield* stopScheduledSyncs(account)
            } else if (failure._tag === "PermanentJobError" && failure.code === SECRET_UNREADABLE) {
              // only the user can fix it, by entering the password again (PATCH verifies it and
              // reactivates the account): the same state as a password the server refused
              yield* saveStatus(owner, account, "auth_failed", failure.message)
              yield* stopScheduledSyncs(account)
            } else if (failure._tag === "PermanentJobError" || finalAttempt) {
              yield* saveStatus(owner, account, account.status, failure.message)
            }
            return yield* failure
          }
          const error = failure.error
          const reason =
            error._tag === "ImapAuthenticationError"
              ? "auth_failed"
              : error._tag === "ImapConnectionError"
                ? `connection_${error.reason}`
                : error._tag === "SqlError"
                  ? "database"
                  : error._tag === "ImapLimitExceeded"
                    ? "imap_limit"
                    : "imap_protocol"
          yield* Metric.update(Metric.withAttributes(syncErrors, { reason }), 1)
          // what failed, where and why, for the operator (never SQL parameters or values)
          yield* Effect.logWarning("sync failed", {
            account: account.id,
            phase: failure.phase,
            mailbox: failure.mailbox,
            error: error._tag,
            attempt: attempt.attempt,
            maxAttempts: attempt.maxAttempts,
            ...(error._tag === "SqlError" ? { sql: sqlCause(error) } : {}),
            message: failure.message
          })
          if (error._tag === "ImapAuthenticationError") {
            yield* saveStatus(owner, account, "auth_failed", error.message)
            yield* stopScheduledSyncs(account)
            return yield* new PermanentJobError({
              code: "auth_failed",
              message: `the IMAP server refused the login: ${error.message}`
            })
          }
          if (error._tag === "SqlError") {
            // the account was deleted under us: nothing to retry
            const still = yield* accounts.find(owner, account.id).pipe(Effect.orElseSucceed(() => Option.some(account)))
            if (Option.isNone(still)) {
              return yield* new PermanentJobError({ code: "account_not_found", message: "the account was deleted" })
            }
            // the account is reachable; the user still learns why its mail is not there
            if (finalAttempt) {
              yield* saveStatus(owner, account, account.status, failure.message)
            }
            return yield* new TransientJobError({ code: "database", message: failure.message })
          }
          // a server that breaks a size limit will break it again: no retry
          const transient =
            error._tag === "ImapConnectionError" ? isTransientImapError(error) : error._tag !== "ImapLimitExceeded"
          if (!transient || finalAttempt) {
            yield* saveStatus(owner, account, "unreachable", failure.message)
          }
          const code =
            error._tag === "ImapConnectionError"
              ? `unreachable_${error.reason}`
              : error._tag === "ImapLimitExceeded"
                ? "imap_limit_exceeded"
                : "imap_error"
          return yield* transient
            ? new TransientJobError({ code, message: failure.message })
            : new PermanentJobError({ code, message: failure.message })
        })

      /** After a sync, also one stopped at its soft time limit: announces the mail it stored (follow-up jobs). */
      const announceStored = (owner: UserId, accountId: AccountId, stats: Stats) =>
        Effect.gen(function* () {
          // this run's deferred mail, also mail an earlier sync stored but could not queue its indexing
          // (read by the follow-ups, in the transaction of their own reads)
          const awaitingSearchIndex = !indexedByJob
            ? Effect.succeed(false)
            : stats.storedUnindexed > 0
              ? Effect.succeed(true)
              : hasUnindexed(owner)
          stats.announcedNewMessages = stats.newMessages
          yield* followUps.mailStored({
            owner,
            accountId,
            newMessages: stats.newMessages,
            backlog: Math.max(stats.newMessages, stats.plannedMessages),
            awaitingSearchIndex
          })
        })

      const run = (owner: UserId, accountId: AccountId, attempt: SyncAttempt) =>
        Effect.gen(function* () {
          const started = Date.now()
          // the account and, for a targeted sync, its stored mailboxes: one transaction of the owner's,
          // not one each. The mailboxes' read failing is still the run's store_mailboxes step failing
          // (after the login, classified as before); it leaves the transaction aborted, nothing else
          const opening = yield* userScope
            .run(
              owner,
              Effect.gen(function* () {
                const found = yield* accounts.find(owner, accountId)
                const mailboxes =
                  attempt.mailboxes === undefined || Option.isNone(found)
                    ? null
                    : yield* Effect.result(store.storedMailboxes(owner, accountId))
                return { found, mailboxes }
              })
            )
            .pipe(Effect.mapError((error) => new TransientJobError({ code: "database", message: error.message })))
          const found = opening.found
          if (Option.isNone(found)) {
            return yield* new PermanentJobError({ code: "account_not_found", message: `no mail account ${accountId}` })
          }
          const account = found.value
          if (account.status === "disabled") {
            return yield* new PermanentJobError({ code: "account_disabled", message: "the account is disabled" })
          }
          const stats: Stats = {
            fetchMillis: 0,
            parseMillis: 0,
            storeMillis: 0,
            mailboxes: 0,
            unchangedMailboxes: 0,
            newMessages: 0,
            plannedMessages: 0,
            flagUpdates: 0,
            expunged: 0,
            uidValidityResets: 0,
            messagesWithWarnings: 0,
            missingMailboxes: 0,
            storedUnindexed: 0,
            announcedNewMessages: 0
          }
          // why the run stops early, once it does (sticky: every check after it answers the same)
          let stopReason: "soft_time_limit" | "yield" | null = null
          let lowered = false
          const softPassed = attempt.softTimeLimit?.passed ?? notStopped
          const bulk = attempt.bulkAfterFirstPage
          const stopRequested: Effect.Effect<boolean> = Effect.gen(function* () {
            if (stopReason !== null) return true
            if (yield* softPassed) {
              stopReason = "soft_time_limit"
              return true
            }
            // the first page is interactive work; what the run fetches after it is bulk
            if (bulk === undefined || stats.newMessages === 0) return false
            if (!lowered) {
              lowered = true
              yield* bulk.continueAsBulk
            }
            if (!(yield* bulk.shouldYield)) return false
            stopReason = "yield"
            return true
          })
          // The first page of the run's first new mailbox (INBOX of a new account): analysed by an
          // interactive job of its own, queued right after its commit; the sync pauses while it runs
          // (bounded), and nothing else of this sync's follow-up work (search index, embeddings, the
          // rest's analysis) competes with it: the sync queues that once the job ended. Otherwise the first stored batch queues the
          // follow-ups at once, so the pipeline runs beside the sync. Later batches queue them again
          // (at most once a second): a follow-up job that caught up with the sync and ended is
          // started again.
          let followUpsQueuedAt: number | null = null
          let firstPage: FirstPageFollowUp | null = null
          let firstPageEnded = false
          const firstPagePhase = Effect.suspend(() =>
            firstPage === null || firstPageEnded
              ? Effect.succeed<FirstPagePhase>("ended")
              : Effect.tap(firstPage.phase, (phase) =>
                  Effect.sync(() => {
                    firstPageEnded = phase === "ended"
                  })
                )
          )
          /** Waits (bounded) while the first page's job runs, and briefly while it waits for a worker. */
          const yieldToFirstPage = Effect.gen(function* () {
            const startedAt = Date.now()
            yield* firstPagePhase.pipe(
              Effect.repeat({
                schedule: FIRST_PAGE_POLL,
                while: (phase) =>
                  phase === "running" || (phase === "waiting" && Date.now() - startedAt < FIRST_PAGE_PICKUP_MILLIS)
              }),
              Effect.timeoutOption(Duration.millis(FIRST_PAGE_PAUSE_MILLIS))
            )
          })
          const queueFollowUpsWhileSyncing = (insertedIds: ReadonlyArray<EmailId>, isFirstPage: boolean) =>
            Effect.gen(function* () {
              // only the run's first new mail (a mailbox that comes fresh after others stored mail is not
              // what the user looks at first: e.g. a new folder in an account's later sync)
              if (isFirstPage && firstPage === null && stats.newMessages === insertedIds.length) {
                firstPage = yield* followUps.firstPageStored({ owner, accountId, emailIds: insertedIds })
                yield* yieldToFirstPage
                return
              }
              const now = Date.now()
              if (followUpsQueuedAt !== null && now - followUpsQueuedAt < FOLLOW_UP_INTERVAL_MILLIS) return
              if ((yield* firstPagePhase) !== "ended") return
              followUpsQueuedAt = now
              yield* announceStored(owner, accountId, stats)
            })
          /**
           * At the end of the run: the rest's follow-ups, after the first page's analysis when it is
           * running (bounded); a first-page job still waiting for a worker goes first by its class.
           */
          const announceAfterFirstPage = Effect.gen(function* () {
            if (firstPage !== null) yield* yieldToFirstPage
            // a run whose new mail was all announced after its stored batch (a small run's one batch):
            // announcing it again submitted each follow-up a second time, and a job that had already
            // ended (fresh mail's run in a fraction of a second) ran a second time and found nothing
            else if (stats.newMessages > 0 && stats.announcedNewMessages === stats.newMessages) return
            yield* announceStored(owner, accountId, stats)
          })
          // where the soft time limit stopped the sync (the mailbox left unfinished), if it did
          const stoppedAt = yield* Effect.gen(function* () {
            yield* attempt.progress({ phase: "connecting", done: 0, total: null, message: account.host })
            // the password or the OAuth2 access token, then the login (ImapAccess: the one way in);
            // the destination policy is applied by imap.connect (refusal: ImapConnectionError not_allowed)
            const session = yield* access.connect(account, "sync").pipe(
              Effect.catchTags({
                SecretDecryptionFailed: (error) =>
                  Effect.fail(
                    new PermanentJobError({
                      code: SECRET_UNREADABLE,
                      message: `the stored IMAP password could not be read: ${error.message}; enter the account's password again`
                    })
                  ),
                // the status is reauth_required already (OAuthTokens): no retry, no scheduled sync
                OAuthReauthRequired: (error) =>
                  Effect.fail(new PermanentJobError({ code: REAUTH_REQUIRED, message: error.message })),
                OAuthTokenUnavailable: (error) =>
                  Effect.fail(new TransientJobError({ code: "oauth_unavailable", message: error.message })),
                // the server's connection limit is per account (ImapSlots, taken by ImapAccess.connect):
                // none free within IMAP_SLOT_WAIT_MS, the job retries later; nothing of the account changes
                ImapSlotUnavailable: (error) =>
                  Effect.fail(new TransientJobError({ code: "imap_busy", message: error.message })),
                DatabaseError: (error) =>
                  Effect.fail(new TransientJobError({ code: "database", message: error.message })),
                ImapConnectionError: (error) => Effect.fail(stepFailed("connect", null, error)),
                ImapAuthenticationError: (error) => Effect.fail(stepFailed("connect", null, error)),
                ImapProtocolError: (error) => Effect.fail(stepFailed("connect", null, error))
              })
            )
            yield* recordServer(owner, account, session)
            yield* attempt.progress({ phase: "mailboxes", done: 0, total: null, message: null })
            // LIST (+STATUS) every mailbox and store the list: what a whole-account sync starts with
            const listAll = Effect.gen(function* () {
              const listed = yield* session.listMailboxes({ status: true }).pipe(step("list", null))
              const rows = yield* store.syncMailboxList(owner, account.id, listed).pipe(step("store_mailboxes", null))
              return { rows, byPath: new Map(listed.map((mailbox) => [mailbox.path, mailbox])) }
            })
            // a targeted sync whose mailboxes are all stored lists nothing: straight to their SELECT
            // (the LIST of every mailbox was most of a one-message sync; whole-account syncs keep
            // the list current, and a targeted mailbox found gone is listed again below)
            const known =
              attempt.mailboxes === undefined || opening.mailboxes === null
                ? null
                : knownTargets(
                    yield* Effect.fromResult(opening.mailboxes).pipe(step("store_mailboxes", null)),
                    attempt.mailboxes
                  )
            const { rows, byPath } =
              known === null ? yield* listAll : { rows: known, byPath: new Map<string, MailboxInfo>() }
            const selectable = targetMailboxes(
              rows
                .filter((mailbox) => mailbox.selectable)
                .sort((a, b) => mailboxOrder(a) - mailboxOrder(b) || a.path.localeCompare(b.path)),
              attempt.mailboxes
            )
            stats.mailboxes = selectable.length
            let index = 0
            for (const mailbox of selectable) {
              index++
              const position = `${index}/${selectable.length}`
              const complete = (yield* stopRequested)
                ? false
                : yield* syncMailbox(
                    session,
                    account,
                    mailbox,
                    byPath.get(mailbox.path),
                    stats,
                    (phase, done, total) =>
                      attempt.progress({ phase, done, total, message: `${mailbox.path} (mailbox ${position})` }),
                    stopRequested,
                    queueFollowUpsWhileSyncing
                  )
              if (!complete) return `${mailbox.path} (mailbox ${position})`
            }
            // a targeted mailbox was deleted or renamed on the server: the stored list follows now
            if (known !== null && stats.missingMailboxes > 0) yield* listAll
            return null
          }).pipe(Effect.scoped, Effect.catch(classify(owner, account, attempt)))
          if (stoppedAt !== null && stopReason === "yield" && bulk !== undefined) {
            // gave its slot to interactive work: as at the soft limit, what was stored is kept and
            // announced, and the next run continues from the checkpoint
            yield* announceStored(owner, account.id, stats)
            const message = `yielded to interactive work in ${stoppedAt} after storing ${stats.newMessages} new messages; the next run continues from the checkpoint`
            yield* attempt.progress({ phase: "yielded", done: stats.newMessages, total: null, message })
            return yield* bulk.yielded(message)
          }
          if (stoppedAt !== null && attempt.softTimeLimit !== undefined) {
            // the session is closed (logged out); what was stored is kept, the account stays as it is;
            // past its time budget the sync does not wait for the first page's analysis
            yield* announceStored(owner, account.id, stats)
            const message = `stopped at the soft time limit in ${stoppedAt} after storing ${stats.newMessages} new messages; the next attempt continues from the checkpoint`
            yield* attempt.progress({ phase: "stopped", done: stats.newMessages, total: null, message })
            yield* Effect.logInfo("sync stopped at the soft time limit", {
              account: account.id,
              mailbox: stoppedAt,
              newMessages: stats.newMessages
            })
            return yield* attempt.softTimeLimit.exceeded(message)
          }

          const synced = yield* accounts.markSynced(owner, account.id).pipe(
            Effect.catch((error) =>
              Effect.as(
                Effect.andThen(
                  Effect.logWarning("account status not saved after the sync", {
                    account: account.id,
                    error: error.message
                  }),
                  logDatabaseError(error)
                ),
                Option.none()
              )
            )
          )
          if (Option.isSome(synced))
            yield* statusChanged(owner, account, synced.value.status, synced.value.statusMessage)
          // back from auth_failed (a manual sync after the server accepted the password again): schedule again
          if (account.status === "auth_failed" && Option.isSome(synced)) {
            yield* schedules.apply(synced.value).pipe(
              Effect.catch((error) =>
                Effect.logWarning("scheduled syncs of the account not resumed", {
                  account: account.id,
                  error: error.message
                })
              )
            )
          }
          yield* announceAfterFirstPage
          yield* attempt.progress({
            phase: "done",
            done: stats.newMessages,
            total: stats.newMessages,
            message: `${stats.mailboxes} mailboxes, ${stats.newMessages} new, ${stats.flagUpdates} flag changes, ${stats.expunged} expunged`
          })
          const { fetchMillis, parseMillis, storeMillis, missingMailboxes: _missing, ...counts } = stats
          return {
            ...counts,
            durationMillis: Date.now() - started,
            stageMillis: {
              fetch: Math.round(fetchMillis),
              parse: Math.round(parseMillis),
              store: Math.round(storeMillis)
            }
          } satisfies SyncResult
        }).pipe(Effect.withSpan("MailSync.run", { attributes: { "account.id": accountId } }))

      return MailSync.of({ run })
    })
  )
}
