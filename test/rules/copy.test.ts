/**
 * Issue 12: the copyTo rule action on the real Dovecot, checked with doveadm (not our database):
 * the original stays, a rule applied twice makes one copy (the destination is checked by
 * Message-ID), and undoing the run removes the copy only (and puts the original's flags back),
 * leaving another client's message in the destination alone.
 */
import { assert, describe, layer } from "@effect/vitest"
import { Effect } from "effect"
import { Dovecot } from "../harness/dovecot.ts"
import { baseUrl, call, field } from "../harness/http.ts"
import {
  allRuns,
  applyAndWait,
  as,
  createRule,
  PASSWORD,
  rawMessage,
  rulesTestLayer,
  seedAccount,
  seedMessages,
  serverMessages,
  terminal,
  waitForJob
} from "./support.ts"

const IMAP_USER = "copy-owner"

layer(rulesTestLayer([IMAP_USER]), { excludeTestServices: true, timeout: "120 seconds" })(
  "copyTo rule action",
  (it) => {
    describe("apply twice, then undo", () => {
      it.effect("one copy per message however often the rule runs; undo removes the copy, never the original", () =>
        Effect.gen(function* () {
          const base = yield* baseUrl
          const server = yield* Dovecot
          const owner = "c0b70001-0000-4000-8000-000000000001"
          const account = yield* seedAccount(owner, server, IMAP_USER)
          yield* Effect.promise(() => server.createMailbox(IMAP_USER, "Copies"))
          // another client's message already in the destination, marked \Deleted: must survive the undo
          yield* Effect.promise(() =>
            server.append(
              IMAP_USER,
              PASSWORD,
              "Copies",
              rawMessage({ subject: "bystander" }, "<bystander@test.example>"),
              ["\\Deleted"]
            )
          )
          const seeded = yield* seedMessages(owner, account, server, IMAP_USER, "INBOX", [
            { subject: "copy me one" },
            { subject: "copy me two", flags: ["\\Flagged"] },
            { subject: "leave me" }
          ])
          const [one, two, leave] = seeded
          if (one === undefined || two === undefined || leave === undefined) throw new Error("seeded 3")
          yield* createRule(base, owner, {
            name: "keep a copy",
            priority: 1,
            conditions: [{ field: "subject", op: "contains", value: "copy me" }],
            actions: [{ type: "markRead" }, { type: "copyTo", mailbox: "Copies" }]
          })

          const where = (messages: ReadonlyArray<{ mailbox: string; messageId: string | null }>, id: string) =>
            messages
              .filter((m) => m.messageId === id)
              .map((m) => m.mailbox)
              .sort()

          // 1. first run: a copy of each matching message, the originals stay (read)
          const first = yield* applyAndWait(base, owner)
          assert.strictEqual(field(first.job, "result", "actionsFailed"), 0, JSON.stringify(first.job))
          const afterFirst = yield* serverMessages(server, IMAP_USER)
          for (const message of [one, two]) {
            assert.deepStrictEqual(
              where(afterFirst, message.messageId),
              ["Copies", "INBOX"],
              JSON.stringify(afterFirst)
            )
            for (const m of afterFirst.filter((x) => x.messageId === message.messageId)) {
              assert.include(m.flags, "\\Seen", `${m.mailbox}: ${JSON.stringify(m)}`)
            }
          }
          assert.deepStrictEqual(where(afterFirst, leave.messageId), ["INBOX"])
          const copyOfTwo = afterFirst.find((m) => m.messageId === two.messageId && m.mailbox === "Copies")
          assert.include(copyOfTwo?.flags ?? [], "\\Flagged")

          // 2. the same rule again: no second copy (the destination already holds the Message-ID)
          const second = yield* applyAndWait(base, owner)
          assert.strictEqual(field(second.job, "result", "actionsFailed"), 0, JSON.stringify(second.job))
          const afterSecond = yield* serverMessages(server, IMAP_USER)
          for (const message of [one, two]) {
            assert.deepStrictEqual(
              where(afterSecond, message.messageId),
              ["Copies", "INBOX"],
              `applied twice: ${JSON.stringify(afterSecond)}`
            )
          }
          const log = yield* allRuns(base, owner)
          assert.isTrue(
            log.every((entry) => field(entry, "outcome") === "applied"),
            `every logged run applied: ${JSON.stringify(log)}`
          )

          // 3. the journal of the first run: one copy row per copied message
          const runs = yield* call(base, "GET", "/api/v1/rules/runs", { headers: as(owner) })
          const items = field(runs.body, "items")
          assert.isTrue(Array.isArray(items) && items.length >= 1, runs.text)
          const runId = String(field(items, Array.isArray(items) ? items.length - 1 : 0, "id"))
          const detail = yield* call(base, "GET", `/api/v1/rules/runs/${runId}`, { headers: as(owner) })
          const journal = field(detail.body, "journal")
          assert.isTrue(Array.isArray(journal), detail.text)
          const copies = Array.isArray(journal) ? journal.filter((e) => field(e, "kind") === "copy") : []
          assert.strictEqual(copies.length, 2, detail.text)
          for (const entry of copies) {
            assert.strictEqual(field(entry, "after", "mailbox"), "Copies")
            assert.strictEqual(field(entry, "before", "mailbox"), "INBOX")
          }

          // 4. undo: the copies go, the originals stay (unread again), the bystander stays \Deleted
          const undo = yield* call(base, "POST", `/api/v1/rules/runs/${runId}/undo`, { headers: as(owner) })
          assert.strictEqual(undo.status, 202, undo.text)
          const undoJob = yield* waitForJob(base, owner, String(field(undo.body, "jobId")), terminal)
          assert.strictEqual(field(undoJob, "state"), "succeeded", JSON.stringify(undoJob))
          assert.strictEqual(field(undoJob, "result", "failed"), 0, JSON.stringify(undoJob))
          const afterUndo = yield* serverMessages(server, IMAP_USER)
          for (const message of [one, two]) {
            assert.deepStrictEqual(where(afterUndo, message.messageId), ["INBOX"], JSON.stringify(afterUndo))
            const original = afterUndo.find((m) => m.messageId === message.messageId)
            assert.notInclude(original?.flags ?? [], "\\Seen")
          }
          assert.deepStrictEqual(where(afterUndo, leave.messageId), ["INBOX"])
          const bystander = afterUndo.filter((m) => m.messageId === "<bystander@test.example>")
          assert.strictEqual(bystander.length, 1, JSON.stringify(afterUndo))
          assert.include(bystander[0]?.flags ?? [], "\\Deleted")
        })
      )
    })
  }
)
