/**
 * Item 11: destructive rules. POST /rules/apply needs the count it will touch; every server action of a
 * run is journaled; a run can be undone (messages back where they were, with their flags), checked on
 * the real Dovecot through a second IMAP session, not only in our database.
 */
import { assert, describe, layer } from "@effect/vitest"
import { Effect } from "effect"
import { ImapFlow } from "imapflow"
import { Jobs } from "../../src/jobs/Jobs.ts"
import { RulesApplyJob } from "../../src/contract/jobs/RulesApplyJob.ts"
import { Dovecot, type DovecotServer } from "../harness/dovecot.ts"
import { baseUrl, call, field } from "../harness/http.ts"
import {
  as,
  createRule,
  PASSWORD,
  rulesTestLayer,
  userId,
  seedAccount,
  seedMailbox,
  seedMessages,
  stored,
  terminal,
  waitForJob
} from "./support.ts"

interface Seen {
  readonly mailbox: string
  readonly uid: number
  readonly flags: ReadonlyArray<string>
  readonly messageId: string
}

/** What a mail client sees: a separate IMAP login, every message of INBOX and Trash with its flags. */
const viaImap = (server: DovecotServer, user: string) =>
  Effect.promise(async () => {
    const client = new ImapFlow({
      host: "127.0.0.1",
      port: server.port,
      secure: false,
      auth: { user, pass: PASSWORD },
      logger: false
    })
    await client.connect()
    const seen: Array<Seen> = []
    try {
      for (const mailbox of ["INBOX", "Trash"]) {
        const lock = await client.getMailboxLock(mailbox)
        try {
          for await (const message of client.fetch("1:*", { uid: true, flags: true, envelope: true })) {
            seen.push({
              mailbox,
              uid: message.uid,
              flags: [...(message.flags ?? [])].filter((flag) => flag !== "\\Recent").sort(),
              messageId: message.envelope?.messageId ?? ""
            })
          }
        } finally {
          lock.release()
        }
      }
    } finally {
      await client.logout().catch(() => client.close())
    }
    return seen
  })

/** Changes a message through a second IMAP session (a user working in another client). */
const imapSession = <A>(server: DovecotServer, user: string, work: (client: ImapFlow) => Promise<A>) =>
  Effect.promise(async () => {
    const client = new ImapFlow({
      host: "127.0.0.1",
      port: server.port,
      secure: false,
      auth: { user, pass: PASSWORD },
      logger: false
    })
    await client.connect()
    try {
      return await work(client)
    } finally {
      await client.logout().catch(() => client.close())
    }
  })

const find = (messages: ReadonlyArray<Seen>, messageId: string): Seen => {
  const found = messages.filter((m) => m.messageId === messageId)
  assert.strictEqual(found.length, 1, `exactly one copy of ${messageId}: ${JSON.stringify(messages)}`)
  const [message] = found
  if (message === undefined) throw new Error("unreachable")
  return message
}

const deleteEverything = {
  name: "delete everything",
  priority: 1,
  conditions: [{ field: "subject", op: "regex", value: ".*" }],
  actions: [{ type: "markRead" }, { type: "delete" }]
}

const undoAndWait = (base: string, user: string, runId: string) =>
  Effect.gen(function* () {
    const response = yield* call(base, "POST", `/api/v1/rules/runs/${runId}/undo`, { headers: as(user) })
    assert.strictEqual(response.status, 202, response.text)
    const job = yield* waitForJob(base, user, String(field(response.body, "jobId")), terminal)
    assert.strictEqual(field(job, "state"), "succeeded", JSON.stringify(job))
    return field(job, "result")
  })

layer(rulesTestLayer(["undo-owner", "undo-changes", "undo-cap"]), {
  excludeTestServices: true,
  timeout: "120 seconds"
})("destructive rules: confirm, journal, undo", (it) => {
  describe("apply to past mail", () => {
    it.effect(
      "needs the confirmed count; the run is journaled, undone on the server, invisible to others, and undoing twice is harmless",
      () =>
        Effect.gen(function* () {
          const base = yield* baseUrl
          const server = yield* Dovecot
          const owner = "d1100001-0000-4000-8000-000000000001"
          const stranger = "d1100002-0000-4000-8000-000000000002"
          const account = yield* seedAccount(owner, server, "undo-owner")
          yield* seedMailbox(owner, account, server, "undo-owner", "Trash", "trash")
          const seeded = yield* seedMessages(owner, account, server, "undo-owner", "INBOX", [
            { subject: "plain" },
            { subject: "read already", flags: ["\\Seen"] },
            { subject: "important", flags: ["\\Flagged", "$Work"] }
          ])
          const before = yield* viaImap(server, "undo-owner")
          yield* createRule(base, owner, deleteEverything)

          // 1. no confirm, a wrong confirm: refused with the count, nothing moves
          const missing = yield* call(base, "POST", "/api/v1/rules/apply", { json: {}, headers: as(owner) })
          assert.strictEqual(missing.status, 409, missing.text)
          assert.strictEqual(field(missing.body, "_tag"), "ApplyConfirmationRequired")
          assert.strictEqual(field(missing.body, "count"), 3)
          assert.strictEqual(field(missing.body, "exact"), true)
          assert.strictEqual(field(missing.body, "selected"), 3)
          assert.strictEqual(field(missing.body, "confirmed"), null)
          assert.include(String(field(missing.body, "message")), '"confirm": 3')
          const wrong = yield* call(base, "POST", "/api/v1/rules/apply", {
            json: { confirm: 1 },
            headers: as(owner)
          })
          assert.strictEqual(wrong.status, 409, wrong.text)
          assert.strictEqual(field(wrong.body, "count"), 3)
          assert.strictEqual(field(wrong.body, "confirmed"), 1)
          assert.include(String(field(wrong.body, "message")), "you confirmed 1")
          assert.deepStrictEqual(yield* viaImap(server, "undo-owner"), before)

          // 2. confirmed: every message in Trash, read
          const applied = yield* call(base, "POST", "/api/v1/rules/apply", {
            json: { confirm: 3 },
            headers: as(owner)
          })
          assert.strictEqual(applied.status, 202, applied.text)
          const applyJob = yield* waitForJob(base, owner, String(field(applied.body, "jobId")), terminal)
          assert.strictEqual(field(applyJob, "state"), "succeeded", JSON.stringify(applyJob))
          const afterApply = yield* viaImap(server, "undo-owner")
          for (const message of seeded) {
            const now = find(afterApply, message.messageId)
            assert.strictEqual(now.mailbox, "Trash")
            assert.include(now.flags, "\\Seen")
          }

          // 3. the run and its journal
          const runs = yield* call(base, "GET", "/api/v1/rules/runs", { headers: as(owner) })
          assert.strictEqual(runs.status, 200, runs.text)
          const items = field(runs.body, "items")
          assert.isTrue(Array.isArray(items) && items.length === 1, runs.text)
          const runId = String(field(items, 0, "id"))
          assert.strictEqual(field(items, 0, "jobId"), field(applied.body, "jobId"))
          assert.strictEqual(field(items, 0, "confirmedCount"), 3)
          assert.strictEqual(field(items, 0, "messages"), 3)
          const detail = yield* call(base, "GET", `/api/v1/rules/runs/${runId}`, { headers: as(owner) })
          assert.strictEqual(detail.status, 200, detail.text)
          const journal = field(detail.body, "journal")
          assert.isTrue(Array.isArray(journal) && journal.length === 3, detail.text)
          if (!Array.isArray(journal)) return
          for (const message of seeded) {
            const entry = journal.find((e) => field(e, "emailId") === message.emailId)
            const was = find(before, message.messageId)
            const is = find(afterApply, message.messageId)
            assert.deepStrictEqual(field(entry, "before", "mailbox"), "INBOX")
            assert.deepStrictEqual(field(entry, "before", "uid"), was.uid)
            assert.deepStrictEqual([...(field(entry, "before", "flags") as Array<string>)].sort(), was.flags)
            assert.deepStrictEqual(field(entry, "after", "mailbox"), "Trash")
            assert.deepStrictEqual(field(entry, "after", "uid"), is.uid)
            assert.deepStrictEqual(
              field(entry, "actions"),
              ["markRead", "delete"].filter((a) => a !== "markRead" || !was.flags.includes("\\Seen"))
            )
            assert.strictEqual(field(entry, "undo"), null)
          }

          // 4. another user: cannot see or undo it
          const theirList = yield* call(base, "GET", "/api/v1/rules/runs", { headers: as(stranger) })
          assert.strictEqual(theirList.status, 200, theirList.text)
          assert.deepStrictEqual(field(theirList.body, "items"), [])
          const theirView = yield* call(base, "GET", `/api/v1/rules/runs/${runId}`, { headers: as(stranger) })
          assert.strictEqual(theirView.status, 404, theirView.text)
          const theirUndo = yield* call(base, "POST", `/api/v1/rules/runs/${runId}/undo`, { headers: as(stranger) })
          assert.strictEqual(theirUndo.status, 404, theirUndo.text)
          assert.deepStrictEqual(yield* viaImap(server, "undo-owner"), afterApply)

          // 5. undo: back in INBOX with the flags they had, on the server and in our rows
          const undone = yield* undoAndWait(base, owner, runId)
          assert.strictEqual(field(undone, "restored"), 3, JSON.stringify(undone))
          assert.strictEqual(field(undone, "alreadyRestored"), 0)
          const afterUndo = yield* viaImap(server, "undo-owner")
          for (const message of seeded) {
            const was = find(before, message.messageId)
            const now = find(afterUndo, message.messageId)
            assert.strictEqual(now.mailbox, "INBOX")
            assert.deepStrictEqual(now.flags, was.flags)
            const row = yield* stored(owner, message.emailId)
            assert.strictEqual(row.mailbox, "INBOX")
            assert.strictEqual(row.uid, now.uid)
            assert.deepStrictEqual([...row.flags].sort(), was.flags)
          }
          assert.lengthOf(
            afterUndo.filter((m) => m.mailbox === "Trash"),
            0
          )
          const undoneDetail = yield* call(base, "GET", `/api/v1/rules/runs/${runId}`, { headers: as(owner) })
          assert.strictEqual(field(undoneDetail.body, "run", "restored"), 3)
          assert.isNotNull(field(undoneDetail.body, "run", "undo"))

          // 6. undo twice: nothing more happens
          const again = yield* undoAndWait(base, owner, runId)
          assert.strictEqual(field(again, "restored"), 0)
          assert.strictEqual(field(again, "alreadyRestored"), 3)
          assert.deepStrictEqual(yield* viaImap(server, "undo-owner"), afterUndo)
        })
    )

    it.effect("a run never changes more messages than were confirmed (new matching mail waits for the next run)", () =>
      Effect.gen(function* () {
        const base = yield* baseUrl
        const server = yield* Dovecot
        const jobs = yield* Jobs
        const owner = "d1100004-0000-4000-8000-000000000004"
        const account = yield* seedAccount(owner, server, "undo-cap")
        yield* seedMailbox(owner, account, server, "undo-cap", "Trash", "trash")
        yield* seedMessages(owner, account, server, "undo-cap", "INBOX", [{ subject: "one" }, { subject: "two" }])
        yield* createRule(base, owner, deleteEverything)
        // confirmed 1, but 2 match by the time the job runs
        const submitted = yield* jobs.submit(
          RulesApplyJob,
          { trigger: "manual", confirmedCount: 1 },
          { ownerId: userId(owner) }
        )
        const job = yield* waitForJob(base, owner, submitted.jobId, terminal)
        assert.strictEqual(field(job, "state"), "succeeded", JSON.stringify(job))
        assert.strictEqual(field(job, "result", "changed"), 1)
        assert.strictEqual(field(job, "result", "stoppedAtConfirmedCount"), true)
        const onServer = yield* viaImap(server, "undo-cap")
        assert.lengthOf(
          onServer.filter((m) => m.mailbox === "Trash"),
          1
        )
        assert.lengthOf(
          onServer.filter((m) => m.mailbox === "INBOX"),
          1
        )
      }).pipe(Effect.orDie)
    )

    it.effect("messages changed or deleted since the run are reported and left alone", () =>
      Effect.gen(function* () {
        const base = yield* baseUrl
        const server = yield* Dovecot
        const owner = "d1100003-0000-4000-8000-000000000003"
        const account = yield* seedAccount(owner, server, "undo-changes")
        yield* seedMailbox(owner, account, server, "undo-changes", "Trash", "trash")
        const [kept, touched, gone] = yield* seedMessages(owner, account, server, "undo-changes", "INBOX", [
          { subject: "kept" },
          { subject: "touched" },
          { subject: "gone" }
        ])
        if (kept === undefined || touched === undefined || gone === undefined) throw new Error("seeding failed")
        yield* createRule(base, owner, deleteEverything)
        const preview = yield* call(base, "POST", "/api/v1/rules/apply", { json: {}, headers: as(owner) })
        const applied = yield* call(base, "POST", "/api/v1/rules/apply", {
          json: { confirm: field(preview.body, "count") },
          headers: as(owner)
        })
        assert.strictEqual(applied.status, 202, applied.text)
        yield* waitForJob(base, owner, String(field(applied.body, "jobId")), terminal)
        const inTrash = yield* viaImap(server, "undo-changes")
        const touchedUid = find(inTrash, touched.messageId).uid
        const goneUid = find(inTrash, gone.messageId).uid
        // the user works on two of them in another client
        yield* imapSession(server, "undo-changes", async (client) => {
          const lock = await client.getMailboxLock("Trash")
          try {
            await client.messageFlagsAdd(String(touchedUid), ["\\Flagged"], { uid: true })
            await client.messageDelete(String(goneUid), { uid: true })
          } finally {
            lock.release()
          }
        })
        const runs = yield* call(base, "GET", "/api/v1/rules/runs", { headers: as(owner) })
        const runId = String(field(runs.body, "items", 0, "id"))

        const undone = yield* undoAndWait(base, owner, runId)
        assert.strictEqual(field(undone, "restored"), 1, JSON.stringify(undone))
        assert.strictEqual(field(undone, "changed"), 1)
        assert.strictEqual(field(undone, "vanished"), 1)
        const outcomes = new Map(
          (field(undone, "messages") as Array<unknown>).map((m) => [field(m, "emailId"), field(m, "outcome")])
        )
        assert.strictEqual(outcomes.get(kept.emailId), "restored")
        assert.strictEqual(outcomes.get(touched.emailId), "changed")
        assert.strictEqual(outcomes.get(gone.emailId), "vanished")
        const after = yield* viaImap(server, "undo-changes")
        assert.strictEqual(find(after, kept.messageId).mailbox, "INBOX")
        const stillTouched = find(after, touched.messageId)
        assert.strictEqual(stillTouched.mailbox, "Trash")
        assert.deepStrictEqual(stillTouched.flags, ["\\Flagged", "\\Seen"])
        assert.lengthOf(
          after.filter((m) => m.messageId === gone.messageId),
          0
        )
        const detail = yield* call(base, "GET", `/api/v1/rules/runs/${runId}`, { headers: as(owner) })
        const statuses = (field(detail.body, "journal") as Array<unknown>).map((e) => field(e, "undo", "status"))
        assert.sameMembers(statuses, ["restored", "changed", "vanished"])
      })
    )
  })
})
