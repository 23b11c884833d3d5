import { Effect, Queue, type Scope } from "effect"
import type { AccountId } from "../contract/accounts/Account.ts"
import type { UserId } from "../contract/users/UserId.ts"
import type { FlagReport } from "../imap/ImapWatch.ts"
import type { WatchStore } from "./WatchStore.ts"

export interface EchoFilterOptions {
  /**
   * How long reports wait before they are compared with the database (reports of one mailbox heard
   * meanwhile are compared in one read), and the pause between looks while a writer of the owner runs.
   */
  readonly graceMillis: number
  /** The stored flags of these UIDs. */
  readonly stored: WatchStore["Service"]["storedFlags"]
  /**
   * Whether a job of the owner that writes flags runs now: it stores the flags only after the server
   * confirmed its STORE, which the watcher may hear first.
   */
  readonly writerRunning: WatchStore["Service"]["flagWriterRunning"]
  /** A change the database does not hold yet: asked for as before (SyncCoalescer's offer). */
  readonly forward: (owner: UserId, accountId: AccountId, path: string, heardAt: number) => void
}

/** A batch reporting more messages than this is forwarded unread (a mass flag change by another client). */
export const MAX_COMPARED_REPORTS = 500

/** The least pause between two looks (WATCH_COALESCE_MILLIS may be 0). */
const MIN_LOOK_PAUSE_MILLIS = 100

/** While a writer runs, a report that differs is looked at again for at most this long, then asked for. */
export const WRITER_WAIT_MILLIS = 10_000

/** Flags as a set to compare: case-insensitive (RFC 3501), without \Recent (session-bound, never a change). */
const comparable = (flags: ReadonlyArray<string>): Set<string> =>
  new Set(flags.map((flag) => flag.toLowerCase()).filter((flag) => flag !== "\\recent"))

export const sameFlags = (a: ReadonlyArray<string>, b: ReadonlyArray<string>): boolean => {
  const left = comparable(a)
  const right = comparable(b)
  return left.size === right.size && [...left].every((flag) => right.has(flag))
}

interface Pending {
  readonly owner: UserId
  readonly accountId: AccountId
  readonly path: string
  readonly uidValidity: number
  /** The latest flags heard per UID: an earlier report is superseded by the message's later state. */
  readonly reports: Map<number, ReadonlyArray<string>>
  heardAt: number
}

/**
 * Drops the echoes of our own flag writes. A flag report of a known message (ImapWatch's
 * `FlagReport`: all of its flags as the server now has them) is compared with the stored row after
 * `graceMillis`, and again while a flag-writing job of the owner runs (it stores the flags after the
 * server confirmed them); when every report of the batch equals what is stored, there is nothing for
 * a sync to bring in and none is asked for. Anything else (a row that differs or is missing, a failed read)
 * is forwarded as a change of the mailbox. It never misses a change: it drops a report only when the
 * database already holds exactly the state the server reported, whoever wrote it; a later change
 * comes with its own report. No state is shared with the writers, so it holds across processes.
 */
export const makeEchoFilter = (
  options: EchoFilterOptions
): Effect.Effect<
  { readonly offer: (owner: UserId, accountId: AccountId, path: string, report: FlagReport, heardAt: number) => void },
  never,
  Scope.Scope
> =>
  Effect.gen(function* () {
    const pending = new Map<string, Pending>()
    const due = yield* Queue.unbounded<string>()

    /** True when every report equals the stored row (false on a failed read: asked for as a change). */
    const allStored = (entry: Pending, uids: ReadonlyArray<number>) =>
      options.stored(entry.owner, entry.accountId, entry.path, entry.uidValidity, uids).pipe(
        Effect.map((stored) =>
          uids.every((uid) => {
            const flags = stored.get(uid)
            const reported = entry.reports.get(uid)
            return flags !== undefined && reported !== undefined && sameFlags(flags, reported)
          })
        ),
        Effect.catch((error) =>
          Effect.as(
            Effect.logWarning("watcher's flag report not compared: asked for as a change", {
              account: entry.accountId,
              error: error.message
            }),
            false
          )
        )
      )

    const check = (key: string): Effect.Effect<void> =>
      Effect.gen(function* () {
        yield* Effect.sleep(options.graceMillis)
        const entry = pending.get(key)
        if (entry === undefined) return
        pending.delete(key)
        const uids = [...entry.reports.keys()]
        let echo = false
        if (uids.length <= MAX_COMPARED_REPORTS) {
          echo = yield* allStored(entry, uids)
          const deadline = Date.now() + WRITER_WAIT_MILLIS
          while (!echo) {
            // our writer may not have stored its flags yet: look again while one runs (bounded); one
            // more look after it, as it may have finished since the last
            const writing = yield* options.writerRunning(entry.owner).pipe(
              Effect.catch((error) =>
                Effect.as(
                  Effect.logWarning("watcher's flag report: running writers not read", {
                    account: entry.accountId,
                    error: error.message
                  }),
                  false
                )
              )
            )
            // a writer's job ends after its flags are committed: with none running, look at once
            if (writing) yield* Effect.sleep(Math.max(MIN_LOOK_PAUSE_MILLIS, options.graceMillis))
            echo = yield* allStored(entry, uids)
            if (!writing || Date.now() >= deadline) break
          }
        }
        if (echo)
          yield* Effect.logDebug("watcher's flag report already stored: no sync", {
            account: entry.accountId,
            messages: uids.length
          })
        else options.forward(entry.owner, entry.accountId, entry.path, entry.heardAt)
      })

    yield* Queue.take(due).pipe(
      Effect.flatMap((key) => Effect.forkChild(check(key))),
      Effect.forever,
      Effect.forkScoped
    )

    const offer = (owner: UserId, accountId: AccountId, path: string, report: FlagReport, heardAt: number) => {
      const key = JSON.stringify([accountId, path, report.uidValidity])
      const entry = pending.get(key)
      if (entry !== undefined) {
        entry.reports.set(report.uid, report.flags)
        entry.heardAt = Math.min(entry.heardAt, heardAt)
        return
      }
      pending.set(key, {
        owner,
        accountId,
        path,
        uidValidity: report.uidValidity,
        reports: new Map([[report.uid, report.flags]]),
        heardAt
      })
      Queue.offerUnsafe(due, key)
    }
    return { offer }
  })
