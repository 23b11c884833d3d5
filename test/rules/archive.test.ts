import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import { ImapFlow } from "imapflow"
import { Dovecot, type DovecotServer } from "../harness/dovecot.ts"
import { baseUrl, call, field } from "../harness/http.ts"
import {
  as,
  PASSWORD,
  rulesTestLayer,
  seedAccount,
  seedMailbox,
  seedMessages,
  stored,
  terminal,
  waitForJob
} from "./support.ts"

const USERS = ["archiver", "noarchive"] as const

/** The Message-IDs in one mailbox, read over IMAP with imapflow (the server's own answer). */
const messageIdsIn = (server: DovecotServer, user: string, mailbox: string) =>
  Effect.promise(async () => {
    const client = new ImapFlow({
      host: server.host,
      port: server.port,
      secure: false,
      auth: { user, pass: PASSWORD },
      logger: false
    })
    await client.connect()
    try {
      const lock = await client.getMailboxLock(mailbox)
      try {
        const ids: Array<string> = []
        for await (const message of client.fetch("1:*", { envelope: true })) {
          if (message.envelope?.messageId !== undefined) ids.push(message.envelope.messageId)
        }
        return ids
      } finally {
        lock.release()
      }
    } finally {
      await client.logout()
    }
  })

layer(rulesTestLayer(USERS), { excludeTestServices: true, timeout: "120 seconds" })("archive (the e key)", (it) => {
  it.effect("moves the message to the account's Archive on the server, as a logged, undoable rule run", () =>
    Effect.gen(function* () {
      const base = yield* baseUrl
      const server = yield* Dovecot
      const owner = "a0000002-0000-4000-8000-000000000001"
      const account = yield* seedAccount(owner, server, "archiver")
      yield* seedMailbox(owner, account, server, "archiver", "Archive", "archive")
      const [message, other] = yield* seedMessages(owner, account, server, "archiver", "INBOX", [
        { subject: "Read me, then archive me" },
        { subject: "Stays in the inbox" }
      ])
      if (message === undefined || other === undefined) throw new Error("seeding failed")

      const accepted = yield* call(base, "POST", `/api/v1/emails/${message.emailId}/archive`, {
        headers: as(owner)
      })
      assert.strictEqual(accepted.status, 202, accepted.text)
      const jobId = String(field(accepted.body, "jobId"))
      const job = yield* waitForJob(base, owner, jobId, terminal)
      assert.strictEqual(field(job, "state"), "succeeded", JSON.stringify(job))
      assert.strictEqual(field(job, "kind"), "rules.apply")

      // the server: in Archive, no longer in INBOX; the other message untouched
      assert.include(yield* messageIdsIn(server, "archiver", "Archive"), message.messageId)
      const inbox = yield* messageIdsIn(server, "archiver", "INBOX")
      assert.notInclude(inbox, message.messageId)
      assert.include(inbox, other.messageId)
      // the database follows the move
      assert.strictEqual((yield* stored(owner, message.emailId)).mailbox, "Archive")
      assert.strictEqual((yield* stored(owner, other.emailId)).mailbox, "INBOX")
      // the rules' log names the one-off rule; the run is in the journal and can be undone
      const log = yield* call(base, "GET", `/api/v1/rules/log?emailId=${message.emailId}`, { headers: as(owner) })
      const entries = field(log.body, "items")
      assert.isTrue(Array.isArray(entries) && entries.length === 1, log.text)
      const [entry] = Array.isArray(entries) ? entries : []
      assert.strictEqual(field(entry, "rule", "name"), "Archive")
      assert.strictEqual(field(entry, "rule", "id"), null, "an ad-hoc rule is no stored rule")
      assert.strictEqual(field(entry, "outcome"), "applied")
      const runs = yield* call(base, "GET", "/api/v1/rules/runs", { headers: as(owner) })
      const runItems = field(runs.body, "items")
      const run = (Array.isArray(runItems) ? runItems : []).find((r) => field(r, "jobId") === jobId)
      assert.isDefined(run, runs.text)
      assert.strictEqual(field(run, "messages"), 1)

      const undo = yield* call(base, "POST", `/api/v1/rules/runs/${String(field(run, "id"))}/undo`, {
        headers: as(owner)
      })
      assert.strictEqual(undo.status, 202, undo.text)
      const undone = yield* waitForJob(base, owner, String(field(undo.body, "jobId")), terminal)
      assert.strictEqual(field(undone, "state"), "succeeded", JSON.stringify(undone))
      assert.include(yield* messageIdsIn(server, "archiver", "INBOX"), message.messageId)
      assert.notInclude(yield* messageIdsIn(server, "archiver", "Archive"), message.messageId)

      // archived again, then once more: 409 (it is in Archive already)
      const again = yield* call(base, "POST", `/api/v1/emails/${message.emailId}/archive`, { headers: as(owner) })
      assert.strictEqual(again.status, 202, again.text)
      yield* waitForJob(base, owner, String(field(again.body, "jobId")), terminal)
      const twice = yield* call(base, "POST", `/api/v1/emails/${message.emailId}/archive`, { headers: as(owner) })
      assert.strictEqual(twice.status, 409, twice.text)
    })
  )

  it.effect("409 when the account has no Archive mailbox; 404 for another user's message", () =>
    Effect.gen(function* () {
      const base = yield* baseUrl
      const server = yield* Dovecot
      const owner = "a0000002-0000-4000-8000-000000000002"
      const stranger = "a0000002-0000-4000-8000-000000000003"
      const account = yield* seedAccount(owner, server, "noarchive")
      const [message] = yield* seedMessages(owner, account, server, "noarchive", "INBOX", [
        { subject: "Nowhere to go" }
      ])
      if (message === undefined) throw new Error("seeding failed")
      yield* seedAccount(stranger, server, "archiver")

      const refused = yield* call(base, "POST", `/api/v1/emails/${message.emailId}/archive`, { headers: as(owner) })
      assert.strictEqual(refused.status, 409, refused.text)
      assert.strictEqual(field(refused.body, "_tag"), "Conflict")
      assert.include(String(field(refused.body, "message")), "Archive")

      const foreign = yield* call(base, "POST", `/api/v1/emails/${message.emailId}/archive`, { headers: as(stranger) })
      assert.strictEqual(foreign.status, 404, foreign.text)
      assert.strictEqual(field(foreign.body, "_tag"), "EmailNotFound")
      assert.strictEqual((yield* stored(owner, message.emailId)).mailbox, "INBOX")
      assert.include(yield* messageIdsIn(server, "noarchive", "INBOX"), message.messageId)
    })
  )
})
