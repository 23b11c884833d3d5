/**
 * Issue 17, "the first screen": the first sync of a large INBOX fetches the newest messages' bodies
 * before it asks the server about the rest of the mailbox. The commands are read at a TCP proxy in
 * front of a real Dovecot (what the client sent, in order): before the first body FETCH there is no
 * command over every UID (`UID FETCH 1:*`, `UID SEARCH ALL`, a FETCH by sequence `1:*`), and that
 * FETCH names only the newest UIDs. Nothing here is timed.
 */
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import { FIRST_PAGE } from "../../src/sync/MailSync.ts"
import { Dovecot } from "../harness/dovecot.ts"
import { baseUrl } from "../harness/http.ts"
import { imapCommands, recordingProxy } from "../harness/recordingProxy.ts"
import { createAccount, expectSucceeded, storedEmails, syncNow, syncTestLayer } from "./support.ts"

const owner = "f6666666-6666-4666-8666-666666666666"
const USER = "firstcommands"
const PASS = "first-Commands-Passw0rd"
/** Well above 4 x FIRST_PAGE: the sync treats it as a large mailbox (newest UIDs' sizes first). */
const COUNT = 1_000

const TestLayer = syncTestLayer({ worker: true, dovecot: { users: [{ user: USER, pass: PASS }] } })

/** A command over every message: a UID or sequence range from 1 to the end, or SEARCH ALL. */
const coversAll = (command: string) =>
  /^(UID )?FETCH 1:(\*|4294967295) /.test(command) || /^(UID )?SEARCH ALL( |$)/.test(command)

/** The UIDs of a `UID FETCH <set> (...)` command. */
const uidsOf = (command: string): Array<number> => {
  const set = /^UID FETCH ([0-9:,*]+) /.exec(command)?.[1] ?? ""
  return set.split(",").flatMap((part) => {
    const [from, to] = part.split(":").map(Number)
    if (from === undefined || Number.isNaN(from)) return []
    const end = to === undefined || Number.isNaN(to) ? from : to
    return Array.from({ length: end - from + 1 }, (_, index) => from + index)
  })
}

const message = (index: number) =>
  `From: a@example.com\r\nTo: b@example.com\r\nSubject: message ${index}\r\nMessage-ID: <first-${index}@example.com>\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\n\r\nbody of ${index}\r\n`

layer(TestLayer, { excludeTestServices: true, timeout: "300 seconds" })("the first sync of a large INBOX", (it) => {
  it.effect(
    "fetches the newest messages' bodies before any command over every UID",
    () =>
      Effect.gen(function* () {
        const server = yield* Dovecot
        const base = yield* baseUrl
        yield* Effect.promise(() =>
          server.seedMaildir(
            USER,
            "INBOX",
            Array.from({ length: COUNT }, (_, index) => ({ raw: message(index + 1) }))
          )
        )
        const proxy = yield* recordingProxy(server.port)
        const accountId = yield* createAccount(base, owner, server, {
          username: USER,
          password: PASS,
          port: proxy.port
        })
        expectSucceeded(yield* syncNow(base, owner, accountId))
        assert.strictEqual((yield* storedEmails(accountId, "INBOX")).length, COUNT)

        const sent = imapCommands(proxy.sent())
        const firstBodies = sent.findIndex((command) => /^UID FETCH .*BODY\.PEEK\[\]/.test(command))
        assert.isAtLeast(firstBodies, 0, `no body FETCH:\n${sent.join("\n")}`)
        const before = sent.slice(0, firstBodies)
        assert.deepStrictEqual(
          before.filter(coversAll),
          [],
          `a command over every UID before the first page's bodies:\n${before.join("\n")}`
        )
        const uids = uidsOf(sent[firstBodies] ?? "")
        assert.strictEqual(uids.length, FIRST_PAGE, sent[firstBodies])
        assert.isTrue(
          uids.every((uid) => uid > COUNT - FIRST_PAGE),
          `the first body FETCH is not the newest ${FIRST_PAGE}: ${sent[firstBodies]}`
        )
        // the rest of the mailbox is listed after it (its sizes), so the check above is not vacuous
        assert.isTrue(
          sent.slice(firstBodies).some(coversAll) || sent.slice(firstBodies).some((c) => /^UID FETCH 1:/.test(c))
        )
      }),
    // a 1,000-message sync on a loaded 2-core machine: over the default 60 s
    300_000
  )
})
