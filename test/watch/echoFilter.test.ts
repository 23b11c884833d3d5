/**
 * The echo filter's decisions (src/watch/EchoFilter.ts) over a stand-in store: a flag report equal
 * to the stored row is dropped, anything else (a different row, no row, a failed read, too many
 * reports) is forwarded as a change; a row the writer stores between the two looks is an echo too.
 * The real path (a rule's STORE on Dovecot) is test/watch/echoes.test.ts.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Schedule, Schema } from "effect"
import { randomUUID } from "node:crypto"
import { AccountId } from "../../src/contract/accounts/Account.ts"
import { UserId } from "../../src/contract/users/UserId.ts"
import { DatabaseError } from "../../src/platform/Database.ts"
import { MAX_COMPARED_REPORTS, makeEchoFilter, sameFlags } from "../../src/watch/EchoFilter.ts"

const account = Schema.decodeUnknownSync(AccountId)(randomUUID())
const owner = Schema.decodeUnknownSync(UserId)(randomUUID())

const until = (what: string, check: () => boolean) =>
  Effect.suspend(() => (check() ? Effect.void : Effect.fail(what))).pipe(
    Effect.retry(Schedule.spaced("20 millis").pipe(Schedule.upTo({ times: 500 }))),
    Effect.orDie
  )

/** A filter over `rows` (path -> uid -> flags), recording the reads and the forwarded paths. */
const filterOver = (
  rows: Map<string, Map<number, ReadonlyArray<string>>>,
  failing: Set<string> = new Set(),
  afterRead: (path: string) => void = () => undefined,
  writing: () => boolean = () => false
) =>
  Effect.gen(function* () {
    const reads: Array<{ path: string; uids: ReadonlyArray<number> }> = []
    const forwarded: Array<string> = []
    const filter = yield* makeEchoFilter({
      graceMillis: 30,
      stored: (_owner, _account, path, _uidValidity, uids) =>
        failing.has(path)
          ? Effect.fail(new DatabaseError({ message: "down", retryable: true }))
          : Effect.sync(() => {
              reads.push({ path, uids })
              const stored = rows.get(path) ?? new Map()
              const found = new Map(
                uids.flatMap((uid) => (stored.has(uid) ? [[uid, stored.get(uid) ?? []] as const] : []))
              )
              afterRead(path)
              return found
            }),
      writerRunning: () => Effect.sync(writing),
      forward: (_owner, _account, path) => {
        forwarded.push(path)
      }
    })
    const report = (path: string, uid: number, flags: ReadonlyArray<string>) =>
      filter.offer(owner, account, path, { uidValidity: 7, uid, flags }, Date.now())
    return { reads, forwarded, report }
  })

describe("EchoFilter", () => {
  it("compares flags as sets, case-insensitively, without \\Recent", () => {
    assert.isTrue(sameFlags(["\\Flagged", "\\Seen"], ["\\seen", "\\FLAGGED", "\\Recent"]))
    assert.isTrue(sameFlags([], ["\\Recent"]))
    assert.isFalse(sameFlags(["\\Flagged"], ["\\Flagged", "\\Seen"]))
    assert.isFalse(sameFlags(["$Label1"], ["$Label2"]))
  })

  it.live("a report equal to the stored row is dropped; a different one is forwarded", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const rows = new Map([
          ["INBOX", new Map<number, ReadonlyArray<string>>([[1, ["\\Flagged"]]])],
          ["Work", new Map<number, ReadonlyArray<string>>([[2, []]])]
        ])
        const { reads, forwarded, report } = yield* filterOver(rows)
        // the echo of our STORE: the server's flags (with \Recent) are what we stored
        report("INBOX", 1, ["\\Flagged", "\\Recent"])
        yield* until("the echo read", () => reads.length === 1)
        // another client's change: not what is stored, no writer running: looked at twice, forwarded
        report("Work", 2, ["\\Seen"])
        yield* until("the change forwarded", () => forwarded.length === 1)
        assert.deepStrictEqual(forwarded, ["Work"])
        assert.deepStrictEqual(
          reads.map((read) => read.path),
          ["INBOX", "Work", "Work"]
        )
      })
    )
  )

  it.live("the latest report of a message counts, one read per batch; a missing row is forwarded", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const rows = new Map([["INBOX", new Map<number, ReadonlyArray<string>>([[1, ["\\Seen"]]])]])
        const { reads, forwarded, report } = yield* filterOver(rows)
        // seen by another client and back: the message is as stored
        report("INBOX", 1, [])
        report("INBOX", 1, ["\\Seen"])
        yield* until("read", () => reads.length === 1)
        assert.deepStrictEqual(reads[0]?.uids, [1])
        // a message not stored yet (a new one): forwarded
        report("INBOX", 3, [])
        yield* until("forwarded", () => forwarded.length === 1)
        assert.deepStrictEqual(forwarded, ["INBOX"])
      })
    )
  )

  it.live("a row a running writer stores later is an echo; a failed read and a mass change are forwarded", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const inbox = new Map<number, ReadonlyArray<string>>([[1, []]])
        const rows = new Map([["INBOX", inbox]])
        // the writer's job runs through three looks and commits its flags at the third, then ends
        let inboxReads = 0
        const { reads, forwarded, report } = yield* filterOver(
          rows,
          new Set(["Down"]),
          (path) => {
            if (path === "INBOX" && ++inboxReads === 3) inbox.set(1, ["\\Flagged"])
          },
          () => inboxReads < 3
        )
        report("INBOX", 1, ["\\Flagged"])
        yield* until("fourth look", () => reads.length === 4)
        report("Down", 1, ["\\Flagged"])
        yield* until("failed read forwarded", () => forwarded.length === 1)
        assert.deepStrictEqual(forwarded, ["Down"])
        for (let uid = 1; uid <= MAX_COMPARED_REPORTS + 1; uid++) report("Mass", uid, ["\\Seen"])
        yield* until("mass change forwarded", () => forwarded.length === 2)
        assert.deepStrictEqual(forwarded, ["Down", "Mass"])
        // the mass change was never read
        assert.isFalse(reads.some((read) => read.path === "Mass"))
      })
    )
  )
})
