import { assert, describe, it } from "@effect/vitest"
import fc from "fast-check"
import type { Checkpoint, StoredRange } from "../../src/sync/MailStore.ts"
import { toJsonParameter } from "../../src/sync/MailStore.ts"
import { planBatches, planNewestFirst } from "../../src/sync/MailSync.ts"
import { assignThreads, threadIdFor } from "../../src/sync/threading.ts"

const config = { batchSize: 3, batchBytes: 100, maxMessageBytes: 1_000, oversizePrefixBytes: 50 }

describe("planBatches", () => {
  it("splits by count and by bytes, keeps UID order, and fetches oversized messages as prefixes", () => {
    const sizes = [
      { uid: 1, size: 10 },
      { uid: 2, size: 10 },
      { uid: 3, size: 10 },
      { uid: 4, size: 10 }, // count limit reached before this one
      { uid: 5, size: 80 }, // bytes: 10 + 80 = 90 fits
      { uid: 7, size: 20 }, // 110 would not
      { uid: 8, size: 5_000 }, // oversized: its own kind of batch
      { uid: 9, size: 2_000 },
      { uid: 10, size: 1 }
    ]
    assert.deepStrictEqual(planBatches(sizes, config), [
      { uids: [1, 2, 3] },
      { uids: [4, 5] },
      { uids: [7] },
      { uids: [8, 9], maxSourceBytes: 50 },
      { uids: [10] }
    ])
    assert.deepStrictEqual(planBatches([], config), [])
    // a single message larger than the byte budget (but under the cap) still gets a batch
    assert.deepStrictEqual(planBatches([{ uid: 3, size: 500 }], config), [{ uids: [3] }])
  })
})

/** The mailbox row's checkpoint columns as MailStore.storeBatch moves them (migration 0060). */
interface Row {
  lastUid: number
  filled: StoredRange | null
}

const applyCheckpoint = (row: Row, checkpoint: Checkpoint): void => {
  switch (checkpoint._tag) {
    case "filled":
      row.filled = {
        from: Math.min(row.filled?.from ?? checkpoint.from, checkpoint.from),
        to: Math.max(row.filled?.to ?? checkpoint.to, checkpoint.to)
      }
      return
    case "raised":
      if (row.filled !== null) row.filled = { ...row.filled, to: Math.max(row.filled.to, checkpoint.to) }
      return
    case "complete":
      row.lastUid = Math.max(row.lastUid, checkpoint.to)
      row.filled = null
  }
}

describe("planNewestFirst", () => {
  const sizesOf = (uids: Iterable<number>) => [...uids].sort((a, b) => a - b).map((uid) => ({ uid, size: 10 }))

  it("stores the newest first page first, then the rest newest first, and completes the pass", () => {
    const { batches } = planNewestFirst(sizesOf([1, 2, 3, 4, 5, 6, 7, 8]), null, config, 2)
    assert.deepStrictEqual(
      batches.map((batch) => [batch.plan.uids, batch.checkpoint]),
      [
        [[8, 7], { _tag: "filled", from: 7, to: 8 }],
        [[6, 5, 4], { _tag: "filled", from: 4, to: 8 }],
        [[3, 2, 1], { _tag: "complete", to: 8 }]
      ]
    )
  })

  it("resumes a pass: mail that arrived since first (ascending, raising it), then the rest below it", () => {
    const { batches } = planNewestFirst(sizesOf([2, 3, 5, 6, 7, 9, 10]), { from: 5, to: 7 }, config)
    assert.deepStrictEqual(
      batches.map((batch) => [batch.plan.uids, batch.checkpoint]),
      [
        [[9, 10], { _tag: "raised", to: 10 }],
        [[3, 2], { _tag: "complete", to: 10 }]
      ]
    )
    // nothing left below the pass (expunged meanwhile): the pass just completes
    assert.deepStrictEqual(planNewestFirst(sizesOf([5, 6, 7]), { from: 5, to: 7 }, config), {
      batches: [],
      completeOnly: 7
    })
  })

  it("killed after any batch, with mail arriving and expunged meanwhile: nothing fetched twice, nothing missed", () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.integer({ min: 1, max: 60 }), { maxLength: 40 }),
        fc.array(fc.record({ stopAfter: fc.nat(6), arriving: fc.nat(5), expunged: fc.nat(3) }), { maxLength: 4 }),
        fc.integer({ min: 1, max: 4 }),
        (initial, interruptions, firstPage) => {
          const server = new Set(initial)
          let nextUid = Math.max(0, ...initial) + 1
          const row: Row = { lastUid: 0, filled: null }
          const stored = new Set<number>()
          const fetched: Array<number> = []
          const isStored = (uid: number) =>
            uid <= row.lastUid || (row.filled !== null && uid >= row.filled.from && uid <= row.filled.to)
          const syncAttempt = (stopAfter: number) => {
            const sizes = sizesOf([...server].filter((uid) => uid > row.lastUid))
            const planned = planNewestFirst(sizes, row.filled, config, firstPage)
            if (planned.completeOnly !== null) applyCheckpoint(row, { _tag: "complete", to: planned.completeOnly })
            for (const [index, batch] of planned.batches.entries()) {
              if (index >= stopAfter) return
              for (const uid of batch.plan.uids) {
                fetched.push(uid)
                stored.add(uid)
              }
              applyCheckpoint(row, batch.checkpoint)
              // the invariant the next attempt relies on: every UID the row says is stored, is
              for (const uid of server) if (isStored(uid)) assert.isTrue(stored.has(uid), `UID ${uid} not stored`)
            }
          }
          for (const { stopAfter, arriving, expunged } of interruptions) {
            syncAttempt(stopAfter)
            for (let i = 0; i < arriving; i++) server.add(nextUid++)
            for (const uid of [...server].slice(0, expunged)) {
              server.delete(uid)
              stored.delete(uid)
            }
          }
          syncAttempt(Number.POSITIVE_INFINITY)
          assert.deepStrictEqual(
            [...stored].sort((a, b) => a - b),
            [...server].sort((a, b) => a - b)
          )
          assert.strictEqual(new Set(fetched).size, fetched.length, "a UID was fetched twice")
          assert.isNull(row.filled)
        }
      ),
      { numRuns: 500 }
    )
  })
})

describe("assignThreads", () => {
  const account = "acc"
  const none = { byMessageId: new Map<string, ReadonlyArray<string>>(), threadIds: new Set<string>() }

  it("a reply stored before its parent ends in the same thread, within a batch and across batches", () => {
    const first = assignThreads(account, [{ candidates: ["root@x", "a@x"], ownId: "a@x", fallbackKey: "1" }], none)
    assert.strictEqual(first.threads[0], threadIdFor(account, "root@x"))
    // later batch: the root arrives; the database knows the thread key from the reply
    const second = assignThreads(account, [{ candidates: ["root@x"], ownId: "root@x", fallbackKey: "2" }], {
      byMessageId: new Map([["a@x", [threadIdFor(account, "root@x")]]]),
      threadIds: new Set([threadIdFor(account, "root@x")])
    })
    assert.strictEqual(second.threads[0], first.threads[0])
    assert.strictEqual(second.merges.size, 0)
  })

  it("a message that links two existing threads merges them", () => {
    // a reply that only had In-Reply-To started thread "b"; its ancestor chain is thread "root"
    const known = {
      byMessageId: new Map([
        ["b@x", [threadIdFor(account, "b@x")]],
        ["r@x", [threadIdFor(account, "r@x")]]
      ]),
      threadIds: new Set([threadIdFor(account, "b@x"), threadIdFor(account, "r@x")])
    }
    const result = assignThreads(
      account,
      [{ candidates: ["r@x", "b@x", "c@x"], ownId: "c@x", fallbackKey: "3" }],
      known
    )
    assert.strictEqual(result.threads[0], threadIdFor(account, "r@x"))
    assert.deepStrictEqual([...result.merges], [[threadIdFor(account, "b@x"), threadIdFor(account, "r@x")]])
  })

  it("messages without any id get threads of their own; ids are scoped to the account", () => {
    const result = assignThreads(
      account,
      [
        { candidates: [], ownId: null, fallbackKey: "uid:m:1:1" },
        { candidates: [], ownId: null, fallbackKey: "uid:m:1:2" }
      ],
      none
    )
    assert.notStrictEqual(result.threads[0], result.threads[1])
    assert.notStrictEqual(threadIdFor("one", "k@x"), threadIdFor("two", "k@x"))
  })
})

describe("toJsonParameter", () => {
  it("replaces lone surrogates and drops NUL, which PostgreSQL's jsonb refuses", () => {
    const json = toJsonParameter({ text: "a\uD800b\u0000c", ok: "Grüße 😀", list: ["\uDC00"] })
    assert.notMatch(json, /\\u0000|\\ud[89ab]/i)
    assert.deepStrictEqual(JSON.parse(json), { text: "a\uFFFDbc", ok: "Grüße 😀", list: ["\uFFFD"] })
  })
})
