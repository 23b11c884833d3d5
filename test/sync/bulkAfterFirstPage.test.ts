/**
 * Issue 15: a sync past its first page is bulk work. Against the harness's Dovecot, MailSync.run
 * with the job's fair-share hooks (MailSyncProcessor passes CurrentJob's): after the run's first
 * stored batch it lowers itself once (continueAsBulk) and, asked to yield before its next fetch, stops
 * like at the soft time limit (batches in flight stored, the mailbox left unfinished) and ends with
 * code `yielded`; the next run continues from the checkpoint and what is stored matches the server.
 * A sync whose new mail is one batch never lowers itself.
 */
import { assert, layer } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { AccountId } from "../../src/contract/accounts/Account.ts"
import { TransientJobError } from "../../src/contract/jobs/JobKind.ts"
import { UserId } from "../../src/contract/users/UserId.ts"
import { yieldedCode } from "../../src/jobs/FairShare.ts"
import { MailSync } from "../../src/sync/MailSync.ts"
import { Dovecot } from "../harness/dovecot.ts"
import { generateMessages } from "../harness/mailgen.ts"
import { assertMatchesServer, baseUrl, createAccount, ownerQuery, syncTestLayer } from "./support.ts"

const PASSWORD = "bulk-Page-Passw0rd"
const COUNT = 600
const BATCH = 50
const erin = "e5555555-5555-4555-8555-555555555555"

const TestLayer = syncTestLayer({
  // no worker: the test runs the sync itself (the account's queued first sync stays queued)
  worker: false,
  env: { SYNC_BATCH_SIZE: String(BATCH) },
  dovecot: { users: ["large", "small"].map((user) => ({ user, pass: PASSWORD })) }
})

const Row = Schema.Struct({ n: Schema.Number, uid_next: Schema.NullOr(Schema.Number) })
const inbox = (accountId: string) =>
  ownerQuery(
    Row,
    (sql) =>
      sql`SELECT (SELECT count(*)::int FROM emails e WHERE e.mailbox_id = m.id) AS n, m.uid_next::float8 AS uid_next
        FROM mailboxes m WHERE m.account_id = ${accountId} AND m.path = 'INBOX'`
  ).pipe(Effect.map((rows) => rows[0] ?? { n: 0, uid_next: null }))

const FollowUpRow = Schema.Struct({
  kind: Schema.String,
  work_class: Schema.NullOr(Schema.String),
  first_page: Schema.Boolean
})

/** The hooks MailSyncProcessor gives the sync, with a fixed answer to `shouldYield`. */
const hooks = (answer: boolean) => {
  const calls = { lowered: 0, asked: 0 }
  return {
    calls,
    bulkAfterFirstPage: {
      continueAsBulk: Effect.sync(() => {
        calls.lowered++
      }),
      shouldYield: Effect.sync(() => {
        calls.asked++
        return answer
      }),
      yielded: (message: string) => new TransientJobError({ code: yieldedCode, message })
    }
  }
}

layer(TestLayer, { excludeTestServices: true, timeout: "240 seconds" })("mail.sync past its first page", (it) => {
  it.effect(
    "yields after its first batch when asked, and the next run completes from the checkpoint",
    () =>
      Effect.gen(function* () {
        const server = yield* Dovecot
        const base = yield* baseUrl
        const sync = yield* MailSync
        const messages = generateMessages(COUNT, { seed: 1_515, domain: "bulk.test" })
        yield* Effect.promise(() =>
          server.seedMaildir(
            "large",
            "INBOX",
            messages.map((m) => ({ raw: m.raw }))
          )
        )
        const accountId = yield* createAccount(base, erin, server, { username: "large", password: PASSWORD })
        const owner = Schema.decodeUnknownSync(UserId)(erin)
        const account = Schema.decodeUnknownSync(AccountId)(accountId)
        const phases: Array<string> = []
        const asked = hooks(true)
        const failure = yield* sync
          .run(owner, account, {
            attempt: 1,
            maxAttempts: 5,
            progress: (update) => Effect.sync(() => phases.push(update.phase)),
            bulkAfterFirstPage: asked.bulkAfterFirstPage
          })
          .pipe(Effect.flip)
        assert.strictEqual(failure._tag, "TransientJobError")
        assert.strictEqual(failure.code, yieldedCode, failure.message)
        assert.match(failure.message, /yielded to interactive work in INBOX/)
        assert.strictEqual(asked.calls.lowered, 1, "lowered itself once, after its first page")
        assert.strictEqual(phases.at(-1), "yielded")
        const atYield = yield* inbox(accountId)
        assert.isAtLeast(atYield.n, BATCH, "the first page was stored before the yield")
        assert.isBelow(atYield.n, COUNT, "it did not yield")
        // left unfinished, so the next sync does not take the mailbox for unchanged
        assert.isNull(atYield.uid_next)

        // the first run's follow-ups ran meanwhile (no worker here: their records go), so what the
        // resumed run queues is recorded as it asks for it, not merged into a queued job
        yield* ownerQuery(
          Schema.Unknown,
          (sql) =>
            sql`DELETE FROM jobs WHERE user_id = ${erin} AND kind IN ('mail.analyze', 'mail.embed', 'search.index')
            AND NOT payload ? 'emailIds' RETURNING id`
        )
        const rest = hooks(false)
        const done = yield* sync.run(owner, account, {
          attempt: 1,
          maxAttempts: 5,
          progress: () => Effect.void,
          bulkAfterFirstPage: rest.bulkAfterFirstPage
        })
        assert.strictEqual(done.newMessages, COUNT - atYield.n)
        assert.isAtLeast(rest.calls.asked, 1, "the resumed run asked between its batches")
        yield* assertMatchesServer(server, "large", accountId, "INBOX")
        // the resumed run's follow-ups are bulk, also those queued after its first stored batch (at most
        // 200 messages: the class once came from the count stored so far, so every resumed run queued
        // the owner's backlog analysis as interactive work); only the first page's own analysis (it
        // names its messages) is interactive
        const followUps = yield* ownerQuery(
          FollowUpRow,
          (sql) =>
            sql`SELECT kind, work_class, payload ? 'emailIds' AS first_page FROM jobs
              WHERE user_id = ${erin} AND kind IN ('mail.analyze', 'mail.embed', 'search.index') ORDER BY created_at`
        )
        assert.isAbove(followUps.length, 1, "the resumed run queued follow-up work")
        assert.deepStrictEqual(
          followUps.filter((job) => !job.first_page && job.work_class !== "bulk"),
          [],
          "the backlog's follow-ups are bulk"
        )
      }),
    180_000
  )

  it.effect(
    "a sync whose new mail is one batch never lowers itself",
    () =>
      Effect.gen(function* () {
        const server = yield* Dovecot
        const base = yield* baseUrl
        const sync = yield* MailSync
        const messages = generateMessages(BATCH - 10, { seed: 1_516, domain: "small.test" })
        yield* Effect.promise(() =>
          server.seedMaildir(
            "small",
            "INBOX",
            messages.map((m) => ({ raw: m.raw }))
          )
        )
        const accountId = yield* createAccount(base, erin, server, { username: "small", password: PASSWORD })
        const asked = hooks(true)
        const done = yield* sync.run(
          Schema.decodeUnknownSync(UserId)(erin),
          Schema.decodeUnknownSync(AccountId)(accountId),
          {
            attempt: 1,
            maxAttempts: 5,
            progress: () => Effect.void,
            bulkAfterFirstPage: asked.bulkAfterFirstPage,
            mailboxes: ["INBOX"]
          }
        )
        assert.strictEqual(done.newMessages, BATCH - 10)
        assert.strictEqual(asked.calls.lowered, 0)
        assert.strictEqual(asked.calls.asked, 0)
      }),
    120_000
  )
})
