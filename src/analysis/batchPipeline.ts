import { Effect, Fiber } from "effect"

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
}

export const runBatchPipeline = <Item, Work, E, R>(
  pipeline: BatchPipeline<Item, Work, E, R>
): Effect.Effect<void, E, R> =>
  Effect.gen(function* () {
    const seen = new Set<string>()
    let writing: { readonly fiber: Fiber.Fiber<void, E>; readonly ids: ReadonlyArray<string> } | undefined
    // the write in flight lands before anything else ends the job (its failure, if any, is the job's)
    const settle = Effect.suspend(() => {
      const current = writing
      writing = undefined
      return current === undefined ? Effect.void : Fiber.join(current.fiber)
    })
    const body = Effect.gen(function* () {
      let next = yield* Effect.forkChild(pipeline.read([]))
      let first = true
      while (true) {
        const batch = (yield* Fiber.join(next)).filter((item) => !seen.has(pipeline.id(item)))
        if (batch.length === 0) {
          if (writing === undefined) return
          // what is being written was excluded from the read: once it landed, read again
          yield* settle
          next = yield* Effect.forkChild(pipeline.read([]))
          continue
        }
        const ids = batch.map(pipeline.id)
        for (const id of ids) seen.add(id)
        yield* pipeline.before(first)
        first = false
        // the next batch is read while this one's provider calls run and the previous one is written
        next = yield* Effect.forkChild(pipeline.read([...ids, ...(writing?.ids ?? [])]))
        const work = yield* pipeline.process(batch)
        yield* settle
        if (pipeline.stops(work)) {
          yield* Fiber.interrupt(next)
          return yield* pipeline.write(batch, work)
        }
        writing = { fiber: yield* Effect.forkChild(pipeline.write(batch, work)), ids }
      }
    })
    yield* body.pipe(Effect.onError(() => Effect.ignore(settle)))
  })
