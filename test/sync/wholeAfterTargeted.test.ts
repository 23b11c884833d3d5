/**
 * A whole-account `mail.sync` asked while a targeted one (a watcher's, payload with `mailboxes`) of
 * the same account is queued: the whole one is a job of its own and syncs every folder, instead of
 * the request getting the targeted job back through de-duplication.
 */
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import { AccountId } from "../../src/contract/accounts/Account.ts"
import { MailSyncJob } from "../../src/contract/jobs/MailSyncJob.ts"
import { UserId } from "../../src/contract/users/UserId.ts"
import { Jobs } from "../../src/jobs/Jobs.ts"
import { Dovecot } from "../harness/dovecot.ts"
import { baseUrl, field } from "../harness/http.ts"
import { spawnWorker } from "../harness/workerProcess.ts"
import { api, createAccount, Env, storedEmails, syncTestLayer, waitForJob } from "./support.ts"

const IMAP_USER = "whole-after-targeted"
const PASSWORD = "whole-Passw0rd!"

// no worker in this process: the queued targeted job waits until the test starts one
const TestLayer = syncTestLayer({ worker: false, dovecot: { users: [{ user: IMAP_USER, pass: PASSWORD }] } })

const message = (subject: string) =>
  `From: a@example.com\r\nTo: b@example.com\r\nSubject: ${subject}\r\nMessage-ID: <${crypto.randomUUID()}@example.com>\r\n\r\nbody\r\n`

layer(TestLayer, { excludeTestServices: true, timeout: "180 seconds" })("whole sync after a targeted one", (it) => {
  it.effect("a whole-account sync asked while a targeted one is queued runs as its own job over every folder", () =>
    Effect.gen(function* () {
      const server = yield* Dovecot
      const base = yield* baseUrl
      const jobs = yield* Jobs
      const owner = crypto.randomUUID()
      yield* Effect.promise(() => server.seedMaildir(IMAP_USER, "INBOX", [{ raw: message("in the inbox") }]))
      yield* Effect.promise(() => server.seedMaildir(IMAP_USER, "Archive", [{ raw: message("in the archive") }]))
      const accountId = yield* createAccount(base, owner, server, { username: IMAP_USER, password: PASSWORD })

      // what a watcher queues when it hears of INBOX
      const targeted = yield* jobs.submit(
        MailSyncJob,
        { accountId: AccountId.make(accountId), mailboxes: ["INBOX"] },
        { ownerId: UserId.make(owner) }
      )
      assert.isTrue(targeted.created)
      // the user's "sync now" meanwhile
      const asked = yield* api(base, owner, "POST", `/api/v1/accounts/${accountId}/sync`)
      assert.strictEqual(asked.status, 202, asked.text)
      const wholeId = String(field(asked.body, "jobId"))
      assert.notStrictEqual(wholeId, targeted.jobId, "the whole-account request got the targeted job back")
      // asked again, it gets its own queued job (one whole sync per account at a time)
      const again = yield* api(base, owner, "POST", `/api/v1/accounts/${accountId}/sync`)
      assert.strictEqual(String(field(again.body, "jobId")), wholeId)

      yield* spawnWorker(yield* Env)
      const whole = yield* waitForJob(base, owner, wholeId)
      assert.strictEqual(field(whole, "state"), "succeeded", JSON.stringify(whole))
      const done = yield* waitForJob(base, owner, targeted.jobId)
      assert.strictEqual(field(done, "state"), "succeeded", JSON.stringify(done))
      // the folder nobody watched was synced by the whole-account job
      assert.lengthOf(yield* storedEmails(accountId, "Archive"), 1)
      assert.lengthOf(yield* storedEmails(accountId, "INBOX"), 1)
      assert.isAtLeast(Number(field(whole, "result", "mailboxes")), 2, JSON.stringify(whole))
    }).pipe(Effect.scoped)
  )
})
