/**
 * The pure parts of the change -> sync path: old `mail.sync` payloads still decode, the coalescer
 * makes one request of many changes (the first change of a quiet account at once, the changes
 * after it at the window's end) and asks again for changes a de-duplicated submit did not queue, and the reconnect delay doubles up to its cap with jitter.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Schedule, Schema } from "effect"
import { randomUUID } from "node:crypto"
import { AccountId } from "../../src/contract/accounts/Account.ts"
import { SyncPayload } from "../../src/contract/jobs/MailSyncJob.ts"
import { UserId } from "../../src/contract/users/UserId.ts"
import { makeSyncCoalescer, type SyncRequest } from "../../src/watch/SyncCoalescer.ts"
import { reconnectDelay } from "../../src/watch/Watchers.ts"

const account = Schema.decodeUnknownSync(AccountId)(randomUUID())
const owner = Schema.decodeUnknownSync(UserId)(randomUUID())

const until = (what: string, check: () => boolean) =>
  Effect.suspend(() => (check() ? Effect.void : Effect.fail(what))).pipe(
    Effect.retry(Schedule.spaced("20 millis").pipe(Schedule.upTo({ times: 500 }))),
    Effect.orDie
  )

describe("mail.sync payload", () => {
  it("decodes a payload from before targeted syncs, and a targeted one", () => {
    const decode = Schema.decodeUnknownSync(SyncPayload)
    assert.deepStrictEqual(decode({ accountId: account }), { accountId: account })
    assert.deepStrictEqual(decode({ accountId: account, mailboxes: ["INBOX", "Work"] }), {
      accountId: account,
      mailboxes: ["INBOX", "Work"]
    })
  })
})

describe("SyncCoalescer", () => {
  it.live("a burst of changes is one request naming each mailbox once", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const requests: Array<SyncRequest> = []
        const coalescer = yield* makeSyncCoalescer({
          windowMillis: 50,
          retryMillis: 50,
          submit: (request) => Effect.sync(() => requests.push(request)).pipe(Effect.as(true))
        })
        for (let i = 0; i < 1_000; i++) coalescer.offer(owner, account, i % 2 === 0 ? "INBOX" : "Work", i)
        yield* until("one request", () => requests.length === 1)
        assert.deepStrictEqual(requests[0]?.mailboxes, ["INBOX", "Work"])
        assert.strictEqual(requests[0]?.heardAt, 0)
        // a whole-account change makes the next request a whole-account one
        coalescer.offer(owner, account, "INBOX", 5)
        coalescer.offer(owner, account, null, 6)
        yield* until("second request", () => requests.length === 2)
        assert.strictEqual(requests[1]?.mailboxes, null)
      })
    )
  )

  it.live("a change of a quiet account is asked for at once; the changes after it wait for the window", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const requests: Array<SyncRequest> = []
        const coalescer = yield* makeSyncCoalescer({
          // far longer than the test: a request made within it was not made at the window's end
          windowMillis: 60_000,
          retryMillis: 60_000,
          submit: (request) => Effect.sync(() => requests.push(request)).pipe(Effect.as(true))
        })
        coalescer.offer(owner, account, "INBOX", 1)
        yield* until("the leading request", () => requests.length === 1)
        assert.deepStrictEqual(requests[0]?.mailboxes, ["INBOX"])
        // within the window: held for one trailing request, not asked for one by one
        coalescer.offer(owner, account, "Work", 2)
        coalescer.offer(owner, account, "INBOX", 3)
        yield* Effect.sleep("300 millis")
        assert.strictEqual(requests.length, 1)
        // another account is quiet: its change goes at once
        const other = Schema.decodeUnknownSync(AccountId)(randomUUID())
        coalescer.offer(owner, other, "INBOX", 4)
        yield* until("the other account's leading request", () => requests.length === 2)
        assert.strictEqual(requests[1]?.accountId, other)
      })
    )
  )

  it.live("changes a submit did not queue (an equal sync was running) are asked for again", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const requests: Array<SyncRequest> = []
        let accept = false
        const coalescer = yield* makeSyncCoalescer({
          windowMillis: 10,
          retryMillis: 30,
          submit: (request) => Effect.sync(() => requests.push(request)).pipe(Effect.map(() => accept))
        })
        coalescer.offer(owner, account, "INBOX", 1)
        yield* until("refused twice", () => requests.length >= 2)
        coalescer.offer(owner, account, "Work", 2)
        accept = true
        const refused = requests.length
        yield* until("accepted", () => requests.length > refused)
        const last = requests[requests.length - 1]
        assert.includeMembers([...(last?.mailboxes ?? [])], ["INBOX"])
        assert.strictEqual(last?.heardAt, 1)
      })
    )
  )
})

describe("reconnect delay", () => {
  it("doubles from the first delay up to the cap, with 50-100 % jitter", () => {
    const config = { reconnectInitialMillis: 1_000, reconnectMaxMillis: 60_000 }
    assert.strictEqual(reconnectDelay(0, config, 1), 1_000)
    assert.strictEqual(reconnectDelay(0, config, 0), 500)
    assert.strictEqual(reconnectDelay(3, config, 1), 8_000)
    assert.strictEqual(reconnectDelay(40, config, 1), 60_000)
    assert.strictEqual(reconnectDelay(40, config, 0), 30_000)
  })
})
