import { Effect, Fiber } from "effect"
import { identity } from "effect/Function"
import type { SqlError } from "effect/sql"

/**
 * How a `mail.analyze` / `mail.embed` job works through its mail: batch after batch, two in flight.
 * While batch i's outcomes are written (one transaction, then its announcements and progress), batch
 * i+1 is already read and its provider calls made. A serial loop spent most of its time waiting on
 * round trips (the tail behind an initial sync: ~26 % of a core at ~200 msg/s, issue 17).
 *
 * - Writes run one at a time, in batch order, each after the previous one committed: a job's own
 *   transactions never wait on each other, and the lock order of src/platform/rowLocks.ts holds
 *   inside each write as before.
 * - At least once, as before: a message leaves pending only in its write, after its provider call; a
 *   job that ends early (a failure, the bulk yield, the budget) first lets the write in flight land.
 * - The next read excludes the messages read and not yet written (they are still pending), so the
 *   two batches in flight are disjoint. Once a read finds nothing, the job waits for its last write
 *   and reads once more (mail stored meanwhile); a message read before (`seen`) is not taken again.
 *   Such a read (nothing in flight) that finds nothing new checks at once whether due items were
 *   locked out, in the read's own transaction when the caller passes `together`.
 * - A read claims what it returns (ProcessingStore: other jobs skip it until it is written or the
 *   claim expires). Whatever the job read and did not write when it ends (a stop, the bulk yield, the
 *   budget, a failure, an interruption: the batch in hand, the next batch read ahead, a read seen
 *   before) is handed to `release`, so it is due again at once instead of after the claim's expiry.
 *   A process that dies releases nothing: the job's next attempt takes its claims back at once (they
 *   name the job, not the attempt); other jobs wait for them to expire.
 */
export interface BatchPipeline<Item, Work, E, R> {
  /** Up to one batch of due items, none of whose ids are in `exclude` (read, not yet written). */
  readonly read: (exclude: ReadonlyArray<string>) => Effect.Effect<ReadonlyArray<Item>, E, R>
  readonly id: (item: Item) => string
  /** Before each batch's provider calls (`first`: the attempt's first batch): the bulk yield, the budget gate. */
  readonly before: (first: boolean) => Effect.Effect<void, E, R>
  /** The batch's provider calls (no transaction open). */
  readonly process: (batch: ReadonlyArray<Item>) => Effect.Effect<Work, E, R>
  /** Whether the job ends after writing this batch (a transient or configuration failure). */
  readonly stops: (work: Work) => boolean
  /** Writes the batch's outcomes, announces them, reports progress; fails to end the job (a stop). */
  readonly write: (batch: ReadonlyArray<Item>, work: Work) => Effect.Effect<void, E, R>
  /** Gives up the claims on ids read and not written (the job ends); its failure is the job's. */
  readonly release: (ids: ReadonlyArray<string>) => Effect.Effect<void, E, R>
  /**
   * Whether due items none of `seen` are left that the last read skipped: their rows were locked by
   * another transaction at that moment (a claim skips locked rows instead of waiting).
   */
  readonly lockedOut: (seen: ReadonlyArray<string>) => Effect.Effect<boolean, E, R>
}

/**
 * Runs a read and, when it found nothing new, its `lockedOut` check in one transaction (the owner's
 * scope), not one each: the reads a job makes while it writes nothing (its first, the one after its
 * last write, the ones after a lock-out pause). Without it each is its own.
 */
export type Together = <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E | SqlError.SqlError, R>

/**
 * A read that found nothing while due items were locked elsewhere (another job's or a sync's short
 * write) reads again after this pause, at most this often; then the items wait for the next job.
 */
const LOCKED_OUT_PAUSE_MILLIS = 200
const LOCKED_OUT_READS = 50

export const runBatchPipeline = <Item, Work, E, R>(
  pipeline: BatchPipeline<Item, Work, E, R>,
  together?: Together
): Effect.Effect<void, E | SqlError.SqlError, R> =>
  Effect.gen(function* () {
    const seen = new Set<string>()
    // claimed by a read, not yet written: released when the job ends
    const held = new Set<string>()
    // a read and its bookkeeping are one step: an interruption cannot fall between the claim's
    // commit and `held` (that claim would wait for its expiry)
    const read = (exclude: ReadonlyArray<string>) =>
      Effect.uninterruptible(
        Effect.tap(pipeline.read(exclude), (items) =>
          Effect.sync(() => {
            for (const item of items) held.add(pipeline.id(item))
          })
        )
      )
    const written = (ids: ReadonlyArray<string>) =>
      Effect.sync(() => {
        for (const id of ids) held.delete(id)
      })
    // the answer of the `lockedOut` check a read made with itself (readChecked), for the loop to use
    let checked: boolean | undefined
    const isNew = (item: Item) => !seen.has(pipeline.id(item))
    /**
     * A read while nothing is written or processed (`seen` does not change meanwhile): when it finds
     * nothing new, the `lockedOut` check follows at once, in the read's transaction.
     */
    const readChecked = (exclude: ReadonlyArray<string>) =>
      // as `read`: its transaction commits the claim; held is filled before
      Effect.uninterruptible(
        (together ?? identity)(
          Effect.flatMap(read(exclude), (items) =>
            items.some(isNew)
              ? Effect.succeed(items)
              : Effect.map(pipeline.lockedOut([...seen]), (locked) => {
                  checked = locked
                  return items
                })
          )
        )
      )
    const releaseHeld = Effect.suspend(() => {
      const ids = [...held]
      held.clear()
      return ids.length === 0 ? Effect.void : pipeline.release(ids)
    })
    let writing: { readonly fiber: Fiber.Fiber<void, E>; readonly ids: ReadonlyArray<string> } | undefined
    // the write in flight lands before anything else ends the job (its failure, if any, is the job's)
    const settle = Effect.suspend(() => {
      const current = writing
      writing = undefined
      return current === undefined ? Effect.void : Fiber.join(current.fiber)
    })
    // the read in flight (the next batch, read ahead)
    let next: Fiber.Fiber<ReadonlyArray<Item>, E | SqlError.SqlError> | undefined
    const body = Effect.gen(function* () {
      checked = undefined
      next = yield* Effect.forkChild(readChecked([]))
      let first = true
      let lockedOutReads = 0
      while (true) {
        const batch: ReadonlyArray<Item> = (yield* Fiber.join(next)).filter(isNew)
        // the check the read made with itself, if it made one (a read ahead makes none)
        const lockedOutChecked = checked
        checked = undefined
        if (batch.length === 0) {
          if (writing === undefined) {
            // the read skipped rows another transaction held (an analysis and an embedding job of the
            // same mail write the same rows): read again shortly rather than leave them to a later job
            if (lockedOutReads >= LOCKED_OUT_READS || !(lockedOutChecked ?? (yield* pipeline.lockedOut([...seen]))))
              return
            lockedOutReads++
            yield* Effect.sleep(LOCKED_OUT_PAUSE_MILLIS)
            next = yield* Effect.forkChild(readChecked([]))
            continue
          }
          // what is being written was excluded from the read: once it landed, read again
          yield* settle
          next = yield* Effect.forkChild(readChecked([]))
          continue
        }
        const ids: ReadonlyArray<string> = batch.map(pipeline.id)
        for (const id of ids) seen.add(id)
        yield* pipeline.before(first)
        first = false
        // the next batch is read while this one's provider calls run and the previous one is written
        next = yield* Effect.forkChild(read([...ids, ...(writing?.ids ?? [])]))
        const work = yield* pipeline.process(batch)
        yield* settle
        if (pipeline.stops(work)) {
          yield* Fiber.interrupt(next)
          yield* pipeline.write(batch, work)
          return yield* written(ids)
        }
        writing = { fiber: yield* Effect.forkChild(Effect.andThen(pipeline.write(batch, work), written(ids))), ids }
      }
    })
    // a read ahead still running is interrupted first; it cannot stop mid-read, so what it claimed
    // is in `held` when the release runs
    const stopReading = Effect.suspend(() => (next === undefined ? Effect.void : Fiber.interrupt(next)))
    yield* body.pipe(
      Effect.onError(() => Effect.ignore(settle)),
      Effect.onExit((exit) =>
        Effect.andThen(
          stopReading,
          exit._tag === "Success"
            ? releaseHeld
            : // the job's own failure stands; a release that fails leaves the claims to expire
              Effect.ignore(releaseHeld)
        )
      )
    )
  })
