import { assert, describe, it } from "@effect/vitest"
import { toJsonParameter } from "../../src/sync/MailStore.ts"
import { planBatches } from "../../src/sync/MailSync.ts"
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
