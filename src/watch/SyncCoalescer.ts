import { Effect, Queue, type Scope } from "effect"
import type { AccountId } from "../contract/accounts/Account.ts"
import type { UserId } from "../contract/users/UserId.ts"

/** What the coalescer asks for: one targeted sync (`mailboxes` null = the whole account). */
export interface SyncRequest {
  readonly owner: UserId
  readonly accountId: AccountId
  readonly mailboxes: ReadonlyArray<string> | null
  /** When the earliest of the coalesced changes was heard. */
  readonly heardAt: number
}

export interface SyncCoalescerOptions {
  /**
   * Requests of one account are at least this far apart: the first change after a quiet window is
   * asked for at once (leading edge), the changes heard in the window after a request become one
   * request at its end (trailing edge).
   */
  readonly windowMillis: number
  /** After a request that queued nothing (an equal sync was queued or running), try again this much later. */
  readonly retryMillis: number
  /**
   * Queues the sync; `true` when a new job was queued. `false` (the account's sync is already
   * queued or running, it may have passed the mailbox already) keeps the changes for the next try.
   */
  readonly submit: (request: SyncRequest) => Effect.Effect<boolean>
}

/** A request naming more mailboxes than this syncs the whole account. */
export const MAX_TARGETED_MAILBOXES = 50

interface Pending {
  owner: UserId
  mailboxes: Set<string> | null
  heardAt: number
}

/**
 * Turns a stream of changes into a few targeted `mail.sync` requests. A change of a quiet account
 * is asked for at once (a single new message does not wait for a window); the changes heard within
 * `windowMillis` of a request are one request at the window's end, naming every mailbox they
 * touched (a burst of a thousand APPENDs is one or a few syncs, not a thousand). `offer` is
 * synchronous (it is called from imapflow's callbacks); the requests are made by a fiber of the scope.
 */
export const makeSyncCoalescer = (
  options: SyncCoalescerOptions
): Effect.Effect<
  { readonly offer: (owner: UserId, accountId: AccountId, path: string | null, heardAt: number) => void },
  never,
  Scope.Scope
> =>
  Effect.gen(function* () {
    const pending = new Map<AccountId, Pending>()
    /** When each account's last request was made (kept while it is within the window). */
    const lastRequest = new Map<AccountId, number>()
    const due = yield* Queue.unbounded<AccountId>()

    const flush = (accountId: AccountId): Effect.Effect<void> =>
      Effect.gen(function* () {
        // leading edge: nothing asked within the window, no wait; else the window's end
        const previous = lastRequest.get(accountId)
        const wait = previous === undefined ? 0 : previous + options.windowMillis - Date.now()
        if (wait > 0) yield* Effect.sleep(wait)
        const entry = pending.get(accountId)
        if (entry === undefined) return
        pending.delete(accountId)
        const requestedAt = Date.now()
        lastRequest.set(accountId, requestedAt)
        const request: SyncRequest = {
          owner: entry.owner,
          accountId,
          mailboxes: entry.mailboxes === null ? null : [...entry.mailboxes].sort(),
          heardAt: entry.heardAt
        }
        const queued = yield* options.submit(request)
        if (queued) {
          // forgotten once its window has passed: an account heard once keeps nothing here
          yield* Effect.sleep(Math.max(0, requestedAt + options.windowMillis - Date.now()))
          if (lastRequest.get(accountId) === requestedAt) lastRequest.delete(accountId)
          return
        }
        // not queued: what was asked goes back. Changes heard meanwhile have their own flush: merged
        // into them, it goes with that one; else this flush tries again later
        const later = pending.get(accountId)
        if (later !== undefined) {
          later.heardAt = Math.min(later.heardAt, entry.heardAt)
          later.mailboxes =
            later.mailboxes === null || entry.mailboxes === null
              ? null
              : new Set([...later.mailboxes, ...entry.mailboxes])
          return
        }
        pending.set(accountId, entry)
        yield* Effect.sleep(options.retryMillis)
        yield* flush(accountId)
      })

    yield* Queue.take(due).pipe(
      Effect.flatMap((accountId) => Effect.forkChild(flush(accountId))),
      Effect.forever,
      Effect.forkScoped
    )

    const offer = (owner: UserId, accountId: AccountId, path: string | null, heardAt: number) => {
      const entry = pending.get(accountId)
      if (entry === undefined) {
        pending.set(accountId, {
          owner,
          mailboxes: path === null ? null : new Set([path]),
          heardAt
        })
        Queue.offerUnsafe(due, accountId)
        return
      }
      if (path === null) entry.mailboxes = null
      else if (entry.mailboxes !== null) {
        entry.mailboxes.add(path)
        if (entry.mailboxes.size > MAX_TARGETED_MAILBOXES) entry.mailboxes = null
      }
    }
    return { offer }
  })
