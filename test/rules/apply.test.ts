import { assert, describe, layer } from "@effect/vitest"
import { Effect } from "effect"
import { SqlClient } from "effect/sql"
import { enqueueRulesForNewMail } from "../../src/rules/RulesApplyProcessor.ts"
import { UserScope } from "../../src/users/UserScope.ts"
import { Dovecot } from "../harness/dovecot.ts"
import { baseUrl, call, field } from "../harness/http.ts"
import {
  allRuns,
  applyAndWait,
  as,
  confirmedApply,
  createRule,
  deleteAllRules,
  loginCount,
  onServer,
  rulesTestLayer,
  seedAccount,
  seedMailbox,
  seedMessages,
  serverMessages,
  stored,
  userId,
  waitForJob
} from "./support.ts"

const USERS = ["actions", "order", "failures", "trigger"] as const
const sorted = (flags: ReadonlyArray<string>) => [...flags].sort()

layer(rulesTestLayer(USERS), { excludeTestServices: true, timeout: "120 seconds" })(
  "rules.apply against Dovecot",
  (it) => {
    describe("every action, checked on the server and in the database", () => {
      it.effect(
        "markRead, markUnread, flag, unflag, moveTo, delete, addTag, removeTag, setPriority; then idempotent",
        () =>
          Effect.gen(function* () {
            const base = yield* baseUrl
            const server = yield* Dovecot
            const owner = "a0000001-0000-4000-8000-000000000001"
            const account = yield* seedAccount(owner, server, "actions")
            // Trash is known to the database (as after a sync); Archive is not, the rules create its row
            yield* seedMailbox(owner, account, server, "actions", "Trash", "trash")
            const [invoice, newsletter, spam, flaggedRead, prio] = yield* seedMessages(
              owner,
              account,
              server,
              "actions",
              "INBOX",
              [
                { subject: "Rechnung 2025-03", from: { name: "Shop", address: "billing@shop.example" } },
                {
                  subject: "Weekly digest",
                  from: { name: "News", address: "digest@news.example" },
                  analysis: { urgency: 1, importance: 1, category: "newsletter", tags: ["todo", "keep"] }
                },
                { subject: "You won!!!", from: { name: "Lottery", address: "win@spam.example" } },
                {
                  subject: "Old thread",
                  from: { name: "Bob", address: "bob@example.net" },
                  flags: ["\\Seen", "\\Flagged"]
                },
                {
                  subject: "Server down",
                  from: { name: "Ops", address: "alerts@ops.example" },
                  analysis: { urgency: 1, importance: 2, category: "work" }
                }
              ]
            )
            if (!invoice || !newsletter || !spam || !flaggedRead || !prio) throw new Error("seeding failed")
            const before = yield* serverMessages(server, "actions")
            const inboxBefore = onServer(before, invoice.messageId)

            yield* createRule(base, owner, {
              name: "invoices: tag, read, flag, archive",
              priority: 10,
              conditions: [{ field: "subject", op: "contains", value: "rechnung" }],
              actions: [
                { type: "addTag", tag: "invoice" },
                { type: "markRead" },
                { type: "flag" },
                { type: "moveTo", mailbox: "Archive" }
              ]
            })
            yield* createRule(base, owner, {
              name: "newsletters: done",
              priority: 20,
              conditions: [{ field: "category", op: "equals", value: "newsletter" }],
              actions: [{ type: "removeTag", tag: "todo" }, { type: "markRead" }]
            })
            yield* createRule(base, owner, {
              name: "spam: delete",
              priority: 30,
              conditions: [{ field: "from", op: "domain", value: "spam.example" }],
              actions: [{ type: "delete" }]
            })
            yield* createRule(base, owner, {
              name: "reopen bob",
              priority: 40,
              conditions: [{ field: "from", op: "equals", value: "BOB@example.net" }],
              actions: [{ type: "markUnread" }, { type: "unflag" }]
            })
            yield* createRule(base, owner, {
              name: "ops alerts are urgent",
              priority: 50,
              conditions: [{ field: "from", op: "domain", value: "ops.example" }],
              actions: [{ type: "setPriority", urgency: 3, importance: 3 }]
            })

            const first = yield* applyAndWait(base, owner)
            assert.deepStrictEqual(field(first.job, "result"), {
              rules: 5,
              messages: 5,
              matched: 5,
              changed: 5,
              actionsApplied: 10,
              actionsFailed: 0,
              failedMessages: 0,
              runs: 5,
              evaluationTimeouts: 0,
              stoppedAtConfirmedCount: false
            })
            assert.deepStrictEqual(field(first.job, "progress"), {
              phase: "applying",
              done: 5,
              total: 5,
              message: null
            })

            // --- the server's own view (doveadm)
            const after = yield* serverMessages(server, "actions")
            const archived = onServer(after, invoice.messageId)
            assert.strictEqual(archived.mailbox, "Archive")
            assert.deepStrictEqual(sorted(archived.flags), ["\\Flagged", "\\Seen"])
            assert.strictEqual(after.filter((m) => m.mailbox === "INBOX" && m.uid === inboxBefore.uid).length, 0)
            assert.deepStrictEqual(onServer(after, newsletter.messageId).flags, ["\\Seen"])
            assert.strictEqual(onServer(after, newsletter.messageId).mailbox, "INBOX")
            assert.strictEqual(onServer(after, spam.messageId).mailbox, "Trash")
            assert.deepStrictEqual(onServer(after, flaggedRead.messageId).flags, [])
            assert.deepStrictEqual(onServer(after, prio.messageId), onServer(before, prio.messageId))

            // --- the database reflects exactly that
            const invoiceRow = yield* stored(owner, invoice.emailId)
            const archiveStatus = yield* Effect.promise(() => server.mailboxStatus("actions", "Archive"))
            assert.strictEqual(invoiceRow.mailbox, "Archive")
            assert.strictEqual(invoiceRow.uid, archived.uid)
            assert.strictEqual(invoiceRow.uidValidity, archiveStatus.uidValidity)
            assert.isTrue(invoiceRow.seen)
            assert.isTrue(invoiceRow.flagged)
            assert.deepStrictEqual(sorted(invoiceRow.flags), ["\\Flagged", "\\Seen"])
            assert.deepStrictEqual(invoiceRow.tags, ["invoice"])
            const newsRow = yield* stored(owner, newsletter.emailId)
            assert.deepStrictEqual(newsRow.tags, ["keep"])
            assert.isTrue(newsRow.seen)
            const spamRow = yield* stored(owner, spam.emailId)
            assert.strictEqual(spamRow.mailbox, "Trash")
            assert.strictEqual(spamRow.uid, onServer(after, spam.messageId).uid)
            const bobRow = yield* stored(owner, flaggedRead.emailId)
            assert.isFalse(bobRow.seen)
            assert.isFalse(bobRow.flagged)
            assert.deepStrictEqual(bobRow.flags, [])
            const prioRow = yield* stored(owner, prio.emailId)
            assert.strictEqual(prioRow.urgency, 3)
            assert.strictEqual(prioRow.importance, 3)

            const runs = yield* allRuns(base, owner)
            assert.lengthOf(runs, 5)
            const invoiceRun = runs.find((r) => field(r, "email", "id") === invoice.emailId)
            assert.strictEqual(field(invoiceRun, "outcome"), "applied")
            assert.strictEqual(field(invoiceRun, "email", "mailbox"), "Archive")
            assert.strictEqual(field(invoiceRun, "jobId"), first.jobId)
            assert.deepStrictEqual(
              (field(invoiceRun, "actions") as Array<unknown>).map((a) => field(a, "action", "type")),
              ["addTag", "markRead", "flag", "moveTo"]
            )

            // --- idempotence: the second run changes nothing on the server, in the database or in the log
            const statusBefore = yield* Effect.forEach(["INBOX", "Archive", "Trash"], (mailbox) =>
              Effect.promise(() => server.mailboxStatus("actions", mailbox))
            )
            const loginsBefore = yield* loginCount(server, "actions")
            assert.isAbove(loginsBefore, 0, "the first run logged in (the log is read correctly)")
            const second = yield* applyAndWait(base, owner)
            assert.deepStrictEqual(field(second.job, "result"), {
              rules: 5,
              messages: 4,
              matched: 4,
              changed: 0,
              actionsApplied: 0,
              actionsFailed: 0,
              failedMessages: 0,
              runs: 0,
              evaluationTimeouts: 0,
              stoppedAtConfirmedCount: false
            })
            const statusAfter = yield* Effect.forEach(["INBOX", "Archive", "Trash"], (mailbox) =>
              Effect.promise(() => server.mailboxStatus("actions", mailbox))
            )
            // no STORE (HIGHESTMODSEQ) and no MOVE (UIDNEXT, counts) happened; in fact no IMAP session was opened
            assert.deepStrictEqual(statusAfter, statusBefore)
            assert.strictEqual(yield* loginCount(server, "actions"), loginsBefore)
            assert.deepStrictEqual(yield* serverMessages(server, "actions"), after)
            assert.deepStrictEqual(yield* stored(owner, invoice.emailId), invoiceRow)
            assert.lengthOf(yield* allRuns(base, owner), 5)
            // `since` selects by the mail's date
            const future = yield* applyAndWait(base, owner, { since: "2100-01-01T00:00:00Z" })
            assert.strictEqual(field(future.job, "result", "messages"), 0)
            const recent = yield* applyAndWait(base, owner, { since: "2000-01-01" })
            assert.strictEqual(field(recent.job, "result", "messages"), 4)
            // a Trash message is left alone by default; asked for explicitly, it is looked at (and already done)
            const inTrash = yield* applyAndWait(base, owner, { mailbox: "Trash" })
            assert.strictEqual(field(inTrash.job, "result", "messages"), 1)
            assert.strictEqual(field(inTrash.job, "result", "changed"), 0)
            yield* deleteAllRules(base, owner)
          })
      )
    })

    describe("ordering and stopProcessing", () => {
      it.effect("rules run by priority, the earlier one wins a conflict, stopProcessing shields later rules", () =>
        Effect.gen(function* () {
          const base = yield* baseUrl
          const server = yield* Dovecot
          const owner = "a0000002-0000-4000-8000-000000000002"
          const account = yield* seedAccount(owner, server, "order")
          const [vip, normal] = yield* seedMessages(owner, account, server, "order", "INBOX", [
            { subject: "VIP: contract", from: { name: "Boss", address: "boss@corp.example" } },
            { subject: "status report", from: { name: "Team", address: "team@corp.example" } }
          ])
          if (!vip || !normal) throw new Error("seeding failed")
          // created in an order different from their priority
          const readAll = yield* createRule(base, owner, {
            name: "corp mail is read",
            priority: 20,
            conditions: [{ field: "from", op: "domain", value: "corp.example" }],
            actions: [{ type: "markRead" }, { type: "addTag", tag: "corp" }]
          })
          const keepUnread = yield* createRule(base, owner, {
            name: "corp mail stays unread (loses to priority 20)",
            priority: 30,
            conditions: [{ field: "from", op: "domain", value: "corp.example" }],
            actions: [{ type: "markUnread" }, { type: "flag" }]
          })
          const vipRule = yield* createRule(base, owner, {
            name: "VIP: flag and stop",
            priority: 5,
            stopProcessing: true,
            conditions: [{ field: "subject", op: "regex", value: "^vip:" }],
            actions: [{ type: "flag" }]
          })
          yield* applyAndWait(base, owner)
          const messages = yield* serverMessages(server, "order")
          // VIP: only the stopping rule ran
          assert.deepStrictEqual(onServer(messages, vip.messageId).flags, ["\\Flagged"])
          assert.deepStrictEqual((yield* stored(owner, vip.emailId)).tags, [])
          // normal: priority 20 decided the read state; priority 30's flag (no conflict) applied too
          assert.deepStrictEqual(sorted(onServer(messages, normal.messageId).flags), ["\\Flagged", "\\Seen"])
          assert.deepStrictEqual((yield* stored(owner, normal.emailId)).tags, ["corp"])
          const runs = yield* allRuns(base, owner)
          const rulesFor = (emailId: string) =>
            runs.filter((r) => field(r, "email", "id") === emailId).map((r) => field(r, "rule", "id"))
          assert.sameMembers(rulesFor(vip.emailId), [vipRule])
          assert.sameMembers(rulesFor(normal.emailId), [readAll, keepUnread])
          const loser = runs.find((r) => field(r, "rule", "id") === keepUnread)
          assert.deepStrictEqual(field(loser, "actions"), [{ action: { type: "flag" }, status: "applied" }])
          yield* deleteAllRules(base, owner)
        })
      )
    })

    describe("derived values", () => {
      it.effect("a priority change moves the score (2 x urgency + importance); rules on it settle in one run", () =>
        Effect.gen(function* () {
          const base = yield* baseUrl
          const server = yield* Dovecot
          const owner = "a0000006-0000-4000-8000-000000000006"
          const account = yield* seedAccount(owner, server, "order")
          const [alert] = yield* seedMessages(owner, account, server, "order", "INBOX", [
            {
              subject: "disk full",
              from: { name: "Ops", address: "alerts@monitoring.example" },
              analysis: { urgency: 1, importance: 3, category: "work" }
            }
          ])
          if (!alert) throw new Error("seeding failed")
          yield* createRule(base, owner, {
            name: "alerts are urgent",
            priority: 1,
            conditions: [{ field: "from", op: "domain", value: "monitoring.example" }],
            actions: [{ type: "setPriority", urgency: 3 }]
          })
          yield* createRule(base, owner, {
            name: "flag the red band",
            priority: 2,
            conditions: [{ field: "score", op: "gte", value: 8 }],
            actions: [{ type: "flag" }]
          })
          const first = yield* applyAndWait(base, owner, { mailbox: "INBOX" })
          assert.strictEqual(field(first.job, "result", "actionsApplied"), 2)
          assert.deepStrictEqual(onServer(yield* serverMessages(server, "order"), alert.messageId).flags, ["\\Flagged"])
          const second = yield* applyAndWait(base, owner, { mailbox: "INBOX" })
          assert.strictEqual(field(second.job, "result", "changed"), 0)
          yield* deleteAllRules(base, owner)
        })
      )
    })

    describe("failures", () => {
      it.effect("a refused move is logged and changes nothing; a stale UID is not claimed as moved", () =>
        Effect.gen(function* () {
          const base = yield* baseUrl
          const server = yield* Dovecot
          const owner = "a0000003-0000-4000-8000-000000000003"
          const account = yield* seedAccount(owner, server, "failures")
          const [nowhere, gone] = yield* seedMessages(owner, account, server, "failures", "INBOX", [
            { subject: "to nowhere", from: { name: "A", address: "a@nowhere.example" } },
            { subject: "moved elsewhere", from: { name: "B", address: "b@elsewhere.example" } }
          ])
          if (!nowhere || !gone) throw new Error("seeding failed")
          // another client moves `gone` away behind the database's back
          yield* Effect.promise(() =>
            server.doveadm(["move", "-u", "failures", "Archive", "mailbox", "INBOX", "uid", String(gone.uid)])
          )
          const serverBefore = yield* serverMessages(server, "failures")
          const nowhereBefore = yield* stored(owner, nowhere.emailId)
          const goneBefore = yield* stored(owner, gone.emailId)
          yield* createRule(base, owner, {
            name: "file to a folder that does not exist",
            priority: 1,
            conditions: [{ field: "from", op: "domain", value: "nowhere.example" }],
            actions: [
              { type: "addTag", tag: "tried" },
              { type: "moveTo", mailbox: "Does/Not/Exist" }
            ]
          })
          yield* createRule(base, owner, {
            name: "archive elsewhere",
            priority: 2,
            conditions: [{ field: "from", op: "domain", value: "elsewhere.example" }],
            actions: [{ type: "moveTo", mailbox: "Junk" }]
          })
          const { job } = yield* applyAndWait(base, owner)
          assert.strictEqual(field(job, "result", "failedMessages"), 2)
          assert.strictEqual(field(job, "result", "actionsApplied"), 1)
          assert.deepStrictEqual(yield* serverMessages(server, "failures"), serverBefore)
          // the database claims no move
          const nowhereAfter = yield* stored(owner, nowhere.emailId)
          assert.deepStrictEqual({ ...nowhereAfter, tags: [] }, { ...nowhereBefore, tags: [] })
          assert.deepStrictEqual(nowhereAfter.tags, ["tried"])
          assert.deepStrictEqual(yield* stored(owner, gone.emailId), goneBefore)

          const runs = yield* allRuns(base, owner)
          const partial = runs.find((r) => field(r, "email", "id") === nowhere.emailId)
          assert.strictEqual(field(partial, "outcome"), "partial")
          assert.strictEqual(field(partial, "error", "code"), "mailbox_missing")
          assert.match(String(field(partial, "error", "message")), /Does\/Not\/Exist/)
          assert.deepStrictEqual(field(partial, "actions"), [
            { action: { type: "addTag", tag: "tried" }, status: "applied" },
            { action: { type: "moveTo", mailbox: "Does/Not/Exist" }, status: "failed" }
          ])
          const stale = runs.find((r) => field(r, "email", "id") === gone.emailId)
          assert.strictEqual(field(stale, "outcome"), "failed")
          assert.strictEqual(field(stale, "error", "code"), "message_missing")
          const failedOnly = yield* allRuns(base, owner, "outcome=failed")
          assert.lengthOf(failedOnly, 1)
          yield* deleteAllRules(base, owner)
        })
      )

      it.effect("an unreachable server is a transient, typed failure: retried, logged, nothing claimed", () =>
        Effect.gen(function* () {
          const base = yield* baseUrl
          const server = yield* Dovecot
          const owner = "a0000004-0000-4000-8000-000000000004"
          // an account whose server refuses connections (a port nobody listens on)
          const down = yield* seedAccount(owner, { host: "127.0.0.1", port: 1 }, "failures")
          const sql = yield* SqlClient.SqlClient
          const scope = yield* UserScope
          const mailboxId = yield* scope.run(
            userId(owner),
            sql<{ readonly id: string }>`
              INSERT INTO mailboxes (user_id, account_id, path, name, uid_validity)
              VALUES (${owner}, ${down}, 'INBOX', 'INBOX', 1) RETURNING id`
          )
          const emailRows = yield* scope.run(
            userId(owner),
            sql<{ readonly id: string }>`
              INSERT INTO emails (user_id, account_id, mailbox_id, uid_validity, uid, thread_id, subject, from_address)
              VALUES (${owner}, ${down}, ${mailboxId[0]?.id ?? ""}, 1, 7, 't', 'hello', 'x@down.example')
              RETURNING id`
          )
          const emailId = emailRows[0]?.id ?? ""
          yield* createRule(base, owner, {
            name: "flag everything",
            priority: 1,
            conditions: [{ field: "subject", op: "contains", value: "hello" }],
            actions: [{ type: "flag" }, { type: "addTag", tag: "seen-by-rules" }]
          })
          const { response } = yield* confirmedApply(base, owner, { accountId: down })
          const jobId = String(field(response.body, "jobId"))
          const retrying = yield* waitForJob(base, owner, jobId, (state) => state === "retrying" || state === "failed")
          assert.strictEqual(field(retrying, "state"), "retrying")
          assert.strictEqual(field(retrying, "error", "code"), "imap_unavailable")
          const runs = yield* allRuns(base, owner)
          assert.isAbove(runs.length, 0)
          assert.strictEqual(field(runs[0], "outcome"), "partial")
          assert.strictEqual(field(runs[0], "error", "code"), "imap_unavailable")
          const row = yield* stored(owner, emailId)
          assert.isFalse(row.flagged)
          assert.deepStrictEqual(row.tags, ["seen-by-rules"])
          const cancel = yield* call(base, "DELETE", `/api/v1/jobs/${jobId}`, { headers: as(owner) })
          assert.strictEqual(cancel.status, 202, cancel.text)
          yield* waitForJob(base, owner, jobId, (state) => state === "cancelled")
          // the account of the real server is untouched by all this
          assert.isAbove((yield* serverMessages(server, "failures")).length, 0)
          yield* deleteAllRules(base, owner)
        })
      )
    })

    describe("new mail", () => {
      it.effect("enqueueRulesForNewMail runs the rules on the given messages only, and skips users without rules", () =>
        Effect.gen(function* () {
          const base = yield* baseUrl
          const server = yield* Dovecot
          const owner = "a0000005-0000-4000-8000-000000000005"
          const account = yield* seedAccount(owner, server, "trigger")
          const [fresh, old] = yield* seedMessages(owner, account, server, "trigger", "INBOX", [
            { subject: "new: invoice", from: { name: "Shop", address: "s@shop.example" } },
            { subject: "old: invoice", from: { name: "Shop", address: "s@shop.example" } }
          ])
          if (!fresh || !old) throw new Error("seeding failed")
          assert.deepStrictEqual(yield* enqueueRulesForNewMail(userId(owner), [fresh.emailId]), [])
          yield* createRule(base, owner, {
            name: "flag shop mail",
            priority: 1,
            conditions: [{ field: "from", op: "domain", value: "shop.example" }],
            actions: [{ type: "flag" }]
          })
          const submitted = yield* enqueueRulesForNewMail(userId(owner), [fresh.emailId])
          assert.lengthOf(submitted, 1)
          const jobId = submitted[0]?.jobId ?? ""
          const job = yield* waitForJob(base, owner, jobId, (state) =>
            ["succeeded", "failed", "cancelled"].includes(state)
          )
          assert.strictEqual(field(job, "state"), "succeeded", JSON.stringify(job))
          assert.strictEqual(field(job, "kind"), "rules.apply")
          const messages = yield* serverMessages(server, "trigger")
          assert.deepStrictEqual(onServer(messages, fresh.messageId).flags, ["\\Flagged"])
          assert.deepStrictEqual(onServer(messages, old.messageId).flags, [])
          const runs = yield* allRuns(base, owner)
          assert.lengthOf(runs, 1)
          assert.strictEqual(field(runs[0], "trigger"), "new_mail")
          assert.strictEqual(field(runs[0], "jobId"), jobId)
          yield* deleteAllRules(base, owner)
        })
      )
    })
  }
)
