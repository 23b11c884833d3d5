/**
 * A targeted `mail.sync` (what a watcher queues for the mailbox it heard a change in) goes straight
 * to that mailbox when it is stored already: no LIST of every mailbox, no SELECT of the others. A
 * target the stored list does not know (a new folder) and one the server no longer has (deleted)
 * bring the listing back, so the stored mailbox list stays current. The client's commands are read
 * at a TCP proxy in front of a real Dovecot; nothing here is timed.
 */
import { assert, layer } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { randomUUID } from "node:crypto"
import { AccountId } from "../../src/contract/accounts/Account.ts"
import { MailSyncJob } from "../../src/contract/jobs/MailSyncJob.ts"
import { UserId } from "../../src/contract/users/UserId.ts"
import { Jobs } from "../../src/jobs/Jobs.ts"
import { Dovecot } from "../harness/dovecot.ts"
import { baseUrl } from "../harness/http.ts"
import { imapCommands, recordingProxy } from "../harness/recordingProxy.ts"
import {
  createAccount,
  expectSucceeded,
  ownerQuery,
  storedEmails,
  syncNow,
  syncTestLayer,
  waitForJob
} from "./support.ts"

const owner = "e5555555-5555-4555-8555-555555555555"
const USER = "targeted"
const PASS = "targeted-pass"

const TestLayer = syncTestLayer({ worker: true, dovecot: { users: [{ user: USER, pass: PASS }] } })

/** A LIST (or LSUB) of anything but `mailbox` itself: a pattern (`*`, `%`) or another name. */
const listsOthers = (command: string, mailbox: string) => {
  const list = /^(LIST|LSUB) "[^"]*" (.+?)( RETURN .*)?$/.exec(command)
  if (list === null) return false
  const pattern = (list[2] ?? "").replace(/^"(.*)"$/, "$1")
  return pattern !== mailbox
}

const message = (subject: string) =>
  `From: a@example.com\r\nTo: b@example.com\r\nSubject: ${subject}\r\nMessage-ID: <${randomUUID()}@example.com>\r\n\r\nbody of ${subject}\r\n`

const MailboxRow = Schema.Struct({ path: Schema.String })

const storedSubjects = (accountId: string, mailbox: string) =>
  Effect.map(storedEmails(accountId, mailbox), (emails) => emails.map((email) => email.subject))

layer(TestLayer, { excludeTestServices: true, timeout: "180 seconds" })("a targeted mail.sync", (it) => {
  it.effect("syncs a stored mailbox without listing the others; a new or deleted one is listed again", () =>
    Effect.gen(function* () {
      const server = yield* Dovecot
      const base = yield* baseUrl
      const jobs = yield* Jobs
      for (const mailbox of ["Projects", "Archive", "Receipts"]) {
        yield* Effect.promise(() => server.createMailbox(USER, mailbox))
      }
      const proxy = yield* recordingProxy(server.port)
      const accountId = yield* createAccount(base, owner, server, { username: USER, password: PASS, port: proxy.port })
      expectSucceeded(yield* syncNow(base, owner, accountId))
      // the whole-account sync lists: the proxy sees the client's commands
      assert.isTrue(
        imapCommands(proxy.sent()).some((command) => command.startsWith("LIST")),
        imapCommands(proxy.sent()).join("\n")
      )

      const targeted = (mailboxes: ReadonlyArray<string>) =>
        Effect.gen(function* () {
          proxy.reset()
          const submitted = yield* jobs.submit(
            MailSyncJob,
            { accountId: Schema.decodeUnknownSync(AccountId)(accountId), mailboxes },
            { ownerId: Schema.decodeUnknownSync(UserId)(owner) }
          )
          const job = yield* waitForJob(base, owner, submitted.jobId)
          expectSucceeded(job)
          return imapCommands(proxy.sent())
        }).pipe(Effect.orDie)

      // a stored mailbox: straight to it
      yield* Effect.promise(() => server.append(USER, PASS, "Projects", message("project news")))
      const direct = yield* targeted(["Projects"])
      assert.deepStrictEqual(yield* storedSubjects(accountId, "Projects"), ["project news"])
      // imapflow's own SELECT looks the one mailbox up (`LIST "" "Projects"`); nothing lists the others
      assert.isFalse(
        direct.some((command) => listsOthers(command, "Projects") || command.startsWith("STATUS")),
        `the account's mailboxes listed in a targeted sync of a stored mailbox:\n${direct.join("\n")}`
      )
      const selected = direct.filter((command) => /^(SELECT|EXAMINE) /.test(command))
      assert.isTrue(
        selected.length > 0 && selected.every((command) => /^(SELECT|EXAMINE) "?Projects"?( |$)/.test(command)),
        `only Projects selected:\n${direct.join("\n")}`
      )

      // a folder the stored list does not know yet: listed first, then synced
      yield* Effect.promise(async () => {
        await server.createMailbox(USER, "Brand new")
        await server.append(USER, PASS, "Brand new", message("in the new folder"))
      })
      const fresh = yield* targeted(["Brand new"])
      assert.isTrue(
        fresh.some((command) => listsOthers(command, "Brand new")),
        `no LIST for an unknown mailbox:\n${fresh.join("\n")}`
      )
      assert.deepStrictEqual(yield* storedSubjects(accountId, "Brand new"), ["in the new folder"])

      // a stored mailbox deleted on the server: its SELECT fails, the list is read again and the row goes
      yield* Effect.promise(() => server.doveadm(["mailbox", "delete", "-u", USER, "Receipts"]))
      const gone = yield* targeted(["Receipts"])
      assert.isTrue(
        gone.some((command) => listsOthers(command, "Receipts")),
        `no LIST after a vanished mailbox:\n${gone.join("\n")}`
      )
      const rows = yield* ownerQuery(
        MailboxRow,
        (sql) => sql`SELECT path FROM mailboxes WHERE account_id = ${accountId} ORDER BY path`
      )
      assert.notInclude(
        rows.map((row) => row.path),
        "Receipts"
      )
    })
  )
})
