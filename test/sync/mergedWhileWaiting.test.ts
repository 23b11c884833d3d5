/**
 * Issue 15, merging while waiting, against a real Dovecot and the in-process worker: mail that
 * arrives while the account's targeted sync waits for its turn joins that sync (`covered`: no second
 * job) and none of it is lost: the one run stores every message that arrived before it started.
 * The queue is paused so the sync waits; the worker takes it once resumed.
 */
import { assert, layer } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { AccountId } from "../../src/contract/accounts/Account.ts"
import { MailSyncJob } from "../../src/contract/jobs/MailSyncJob.ts"
import { UserId } from "../../src/contract/users/UserId.ts"
import { Jobs } from "../../src/jobs/Jobs.ts"
import { Dovecot } from "../harness/dovecot.ts"
import { baseUrl } from "../harness/http.ts"
import {
  createAccount,
  expectSucceeded,
  field,
  ownerQuery,
  storedEmails,
  syncNow,
  syncTestLayer,
  waitForJob
} from "./support.ts"

const owner = "f7777777-7777-4777-8777-777777777777"
const USER = "merged"
const PASS = "merged-Passw0rd!"

const TestLayer = syncTestLayer({ worker: true, dovecot: { users: [{ user: USER, pass: PASS }] } })

const raw = (n: number) =>
  [
    `From: Sender ${n} <sender${n}@merged.test>`,
    `To: ${USER}@merged.test`,
    `Subject: merged ${n}`,
    `Message-ID: <merged-${n}@merged.test>`,
    "",
    `Message ${n}.`,
    ""
  ].join("\r\n")

layer(TestLayer, { excludeTestServices: true, timeout: "180 seconds" })("merging while waiting", (it) => {
  it.effect("mail arriving while the account's sync waits joins it, and the one run stores all of it", () =>
    Effect.gen(function* () {
      const server = yield* Dovecot
      const base = yield* baseUrl
      const jobs = yield* Jobs
      yield* Effect.promise(() => server.append(USER, PASS, "INBOX", raw(0), []))
      const accountId = yield* createAccount(base, owner, server, { username: USER, password: PASS })
      expectSucceeded(yield* syncNow(base, owner, accountId))

      const queue = yield* Effect.orDie(jobs.queue(MailSyncJob.name))
      yield* Effect.promise(() => queue.pause())
      const since = new Date()
      const targeted = { accountId: AccountId.make(accountId), mailboxes: ["INBOX"] }
      const ownerId = UserId.make(owner)
      const submits = []
      for (const n of [1, 2, 3]) {
        yield* Effect.promise(() => server.append(USER, PASS, "INBOX", raw(n), []))
        submits.push(yield* jobs.submit(MailSyncJob, targeted, { ownerId }))
      }
      const [first, ...joined] = submits
      assert.isTrue(first?.created)
      for (const submit of joined) {
        assert.strictEqual(submit.jobId, first?.jobId)
        assert.isTrue(submit.covered, "mail that arrived while the sync waited is covered by it")
      }
      yield* Effect.promise(() => queue.resume())

      const job = yield* waitForJob(base, owner, String(first?.jobId))
      expectSucceeded(job)
      assert.strictEqual(field(job, "result", "newMessages"), 3, "the one run stores all three")
      const subjects = (yield* storedEmails(accountId, "INBOX")).map((email) => email.subject).sort()
      assert.deepStrictEqual(subjects, ["merged 0", "merged 1", "merged 2", "merged 3"])
      const syncs = yield* ownerQuery(
        Schema.Struct({ n: Schema.Number }),
        (sql) => sql`SELECT count(*)::int AS n FROM jobs WHERE user_id = ${owner} AND kind = 'mail.sync'
          AND created_at >= ${since}`
      )
      assert.strictEqual(syncs[0]?.n, 1, "one sync job for the three arrivals")
    })
  )
})
