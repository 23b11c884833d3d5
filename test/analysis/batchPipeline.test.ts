import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect } from "effect"
import { runBatchPipeline } from "../../src/analysis/batchPipeline.ts"

/**
 * The batch loop of mail.analyze / mail.embed (src/analysis/batchPipeline.ts) over a fake mailbox:
 * `pending` is what a read finds (oldest first), a write moves its batch out of it, as the store does.
 */
const mailbox = (count: number, batchSize: number) => {
  const pending = Array.from({ length: count }, (_, i) => `m${String(i).padStart(3, "0")}`)
  const log: Array<string> = []
  const processed: Array<string> = []
  const written: Array<string> = []
  const read = (exclude: ReadonlyArray<string>) =>
    Effect.sync(() => {
      log.push(`read excluding ${exclude.length}`)
      return pending.filter((id) => !exclude.includes(id)).slice(0, batchSize)
    })
  const land = (batch: ReadonlyArray<string>) =>
    Effect.sync(() => {
      for (const id of batch) {
        written.push(id)
        pending.splice(pending.indexOf(id), 1)
      }
      log.push(`wrote ${batch.length}`)
    })
  return { pending, log, processed, written, read, land }
}

/** The fake mailbox's read and ids, nothing asked between batches unless `before` says so. */
const over = (box: ReturnType<typeof mailbox>) => ({
  read: box.read,
  id: (id: string) => id,
  before: (_first: boolean) => Effect.void,
  release: (_ids: ReadonlyArray<string>) => Effect.void,
  lockedOut: (_seen: ReadonlyArray<string>) => Effect.succeed(false)
})

/** A hang guard, not a time limit: without the overlap the pipeline would wait forever. */
const guarded = <A, E>(effect: Effect.Effect<A, E>) =>
  effect.pipe(Effect.timeout("20 seconds"), Effect.orDie) as Effect.Effect<A>

describe("runBatchPipeline", () => {
  it.live("reads and processes the next batch while the previous one is written", () =>
    Effect.gen(function* () {
      const box = mailbox(10, 3)
      // the first write can only finish once the next batch has been read and processed: a loop that
      // reads only after its write committed never gets there
      const nextProcessed = yield* Deferred.make<void>()
      let writes = 0
      yield* guarded(
        runBatchPipeline({
          ...over(box),
          process: (batch) =>
            Effect.sync(() => {
              box.processed.push(...batch)
              return batch.length
            }).pipe(
              Effect.tap(() => (box.processed.length > 3 ? Deferred.succeed(nextProcessed, undefined) : Effect.void))
            ),
          stops: () => false,
          write: (batch) =>
            Effect.gen(function* () {
              writes++
              if (writes === 1) yield* Deferred.await(nextProcessed)
              yield* box.land(batch)
            })
        })
      )
      // every message once, in order; the batches in flight never overlapped
      assert.deepStrictEqual(box.processed, box.written)
      assert.strictEqual(new Set(box.processed).size, 10)
      assert.strictEqual(box.pending.length, 0)
      // the second read excluded the first batch, still pending while it was processed
      assert.include(box.log, "read excluding 3")
    })
  )

  it.live(
    "the write in flight lands before a yield (or any failure between batches) ends the job; the batch in hand is released",
    () =>
      Effect.gen(function* () {
        const box = mailbox(9, 3)
        const released: Array<string> = []
        // the first write is still running when the yield comes: it finishes only after the yield was asked
        const yieldAsked = yield* Deferred.make<void>()
        const exit = yield* guarded(
          Effect.exit(
            runBatchPipeline({
              ...over(box),
              // the bulk yield, asked before the second batch
              before: (first: boolean) =>
                first
                  ? Effect.void
                  : Effect.andThen(Deferred.succeed(yieldAsked, undefined), Effect.fail("yielded" as const)),
              process: (batch) =>
                Effect.sync(() => {
                  box.processed.push(...batch)
                }),
              stops: () => false,
              write: (batch) => Effect.andThen(Deferred.await(yieldAsked), box.land(batch)),
              release: (ids) => Effect.sync(() => released.push(...ids))
            })
          )
        )
        assert.strictEqual(exit._tag, "Failure")
        assert.deepStrictEqual(box.written, ["m000", "m001", "m002"])
        assert.strictEqual(box.pending.length, 6)
        // read (claimed) and not written: due again at once, not after the claim's expiry
        assert.deepStrictEqual(released, ["m003", "m004", "m005"])
      })
  )

  it.live("a stopping batch is written and ends the job; no later batch is processed; what it holds is released", () =>
    Effect.gen(function* () {
      const box = mailbox(9, 3)
      const released: Array<string> = []
      let batches = 0
      const exit = yield* guarded(
        Effect.exit(
          runBatchPipeline({
            ...over(box),
            process: (batch) =>
              Effect.sync(() => {
                batches++
                box.processed.push(...batch)
                return batches === 2
              }),
            stops: (stop) => stop,
            write: (batch, stop) =>
              Effect.andThen(box.land(batch), stop ? Effect.fail("provider down" as const) : Effect.void),
            release: (ids) => Effect.sync(() => released.push(...ids))
          })
        )
      )
      assert.strictEqual(exit._tag, "Failure")
      assert.strictEqual(batches, 2)
      assert.deepStrictEqual(box.written, ["m000", "m001", "m002", "m003", "m004", "m005"])
      // the stopping batch's write failed (it cannot tell whether its outcomes landed: a release of a
      // written message changes nothing) and the read ahead, if it ran, are released; nothing written before
      assert.deepStrictEqual(released.slice(0, 3), ["m003", "m004", "m005"])
      assert.isTrue(
        released.slice(3).every((id) => ["m006", "m007", "m008"].includes(id)),
        released.join()
      )
    })
  )

  it.live(
    "mail that arrives while the last batch is written is taken too, and nothing twice; nothing is released",
    () =>
      Effect.gen(function* () {
        const box = mailbox(4, 3)
        const released: Array<string> = []
        let arrived = false
        yield* guarded(
          runBatchPipeline({
            ...over(box),
            process: (batch) => Effect.sync(() => box.processed.push(...batch)),
            stops: () => false,
            write: (batch) =>
              Effect.andThen(
                box.land(batch),
                Effect.sync(() => {
                  if (!arrived) {
                    arrived = true
                    box.pending.push("n000", "n001")
                  }
                })
              ),
            release: (ids) => Effect.sync(() => released.push(...ids))
          })
        )
        assert.deepStrictEqual(box.processed, ["m000", "m001", "m002", "m003", "n000", "n001"])
        assert.deepStrictEqual(box.written, box.processed)
        assert.deepStrictEqual(released, [])
      })
  )
})
