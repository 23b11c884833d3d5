import { assert, layer } from "@effect/vitest"
import { Effect, Schedule, Schema } from "effect"
import { Dovecot } from "../harness/dovecot.ts"
import { generateMessages } from "../harness/mailgen.ts"
import { spawnWorker } from "../harness/workerProcess.ts"
import {
  api,
  assertMatchesServer,
  baseUrl,
  createAccount,
  Env,
  field,
  ownerQuery,
  syncTestLayer,
  waitForJob
} from "./support.ts"

const PASSWORD = "resume-Passw0rd"
const COUNT = 5_000
/** Messages appended between the kill and the resumed attempt. */
const ARRIVING = 20
const carol = "c3333333-3333-4333-8333-333333333333"

// No worker in this process: workers are real child processes, killed and started by the test.
const TestLayer = syncTestLayer({
  worker: false,
  // small batches: many checkpoints, so the kill lands in the middle of the mailbox
  env: { SYNC_BATCH_SIZE: "100" },
  dovecot: { users: [{ user: "big", pass: PASSWORD }] }
})

const storedCount = (accountId: string) =>
  ownerQuery(
    Schema.Struct({ n: Schema.Number, distinct: Schema.Number }),
    (sql) =>
      sql`SELECT count(*)::int AS n, count(DISTINCT (mailbox_id, uid_validity, uid))::int AS distinct
        FROM emails WHERE account_id = ${accountId}`
  ).pipe(Effect.map((rows) => rows[0] ?? { n: 0, distinct: 0 }))

layer(TestLayer, { excludeTestServices: true, timeout: "300 seconds" })("a sync survives its worker", (it) => {
  it.effect(
    "SIGKILL in the middle of a 5,000-message sync (newest first), mail arrives: another worker resumes, exact match, no duplicates",
    () =>
      Effect.gen(function* () {
        const server = yield* Dovecot
        const env = yield* Env
        const base = yield* baseUrl
        const messages = generateMessages(COUNT, { seed: 5_000, domain: "resume.test" })
        yield* Effect.promise(() =>
          server.seedMaildir(
            "big",
            "INBOX",
            messages.map((m, i) => ({ raw: m.raw, flags: i % 4 === 0 ? ["\\Seen"] : [] }))
          )
        )
        const accountId = yield* createAccount(base, carol, server, { username: "big", password: PASSWORD })

        // queued while no worker runs; a second request gets the same job
        const first = yield* api(base, carol, "POST", `/api/v1/accounts/${accountId}/sync`)
        assert.strictEqual(first.status, 202, first.text)
        assert.strictEqual(field(first.body, "state"), "queued")
        const second = yield* api(base, carol, "POST", `/api/v1/accounts/${accountId}/sync`)
        assert.strictEqual(second.status, 202, second.text)
        assert.strictEqual(field(second.body, "jobId"), field(first.body, "jobId"))
        const jobId = String(field(first.body, "jobId"))

        const worker1 = yield* spawnWorker(env, { LOG_LEVEL: "Debug" })
        // wait until a good part, but not all, is stored
        yield* storedCount(accountId).pipe(
          Effect.flatMap((count) => (count.n >= 1_000 ? Effect.succeed(count) : Effect.fail("not yet"))),
          Effect.retry(Schedule.spaced("20 millis").pipe(Schedule.upTo({ times: 3_000 }))),
          Effect.orDie
        )
        worker1.child.kill("SIGKILL")
        yield* Effect.promise(() => worker1.exited)
        const atKill = yield* storedCount(accountId)
        assert.isBelow(atKill.n, COUNT, "the worker was killed too late to test anything")
        // newest first (issue 17): what was stored is the newest messages, the highest UIDs, without a gap
        const range = yield* ownerQuery(
          Schema.Struct({ low: Schema.Number, high: Schema.Number, n: Schema.Number }),
          (sql) =>
            sql`SELECT min(uid)::int AS low, max(uid)::int AS high, count(*)::int AS n FROM emails
              WHERE account_id = ${accountId}`
        ).pipe(Effect.map((rows) => rows[0] ?? { low: 0, high: 0, n: 0 }))
        assert.strictEqual(range.high, COUNT, "the newest message is stored first")
        assert.strictEqual(range.high - range.low + 1, range.n, "the stored messages are the newest ones")
        // mail that arrives while the sync is down: above the pass in progress
        const arriving = generateMessages(ARRIVING, { seed: 5_001, domain: "arriving.test" })
        yield* Effect.promise(async () => {
          for (const message of arriving) await server.append("big", PASSWORD, "INBOX", message.raw)
        })
        const running = yield* waitForJob(base, carol, jobId, () => true)
        assert.include(["running", "queued"], field(running, "state"))

        // while it is orphaned, asking again still gives the same job
        const third = yield* api(base, carol, "POST", `/api/v1/accounts/${accountId}/sync`)
        assert.strictEqual(field(third.body, "jobId"), jobId)

        const worker2 = yield* spawnWorker(env, { LOG_LEVEL: "Debug" })
        const done = yield* waitForJob(base, carol, jobId, (job) =>
          ["succeeded", "failed", "cancelled"].includes(String(field(job, "state")))
        )
        assert.strictEqual(field(done, "state"), "succeeded", JSON.stringify(done))
        // the second worker continued from the checkpoint instead of starting over
        const resumed = Number(field(done, "result", "newMessages"))
        assert.isBelow(resumed, COUNT - 900, `the resumed attempt stored ${resumed}`)
        assert.isAtLeast(resumed + atKill.n, COUNT + ARRIVING)

        const final = yield* storedCount(accountId)
        assert.strictEqual(final.n, COUNT + ARRIVING)
        assert.strictEqual(final.distinct, COUNT + ARRIVING)
        yield* assertMatchesServer(server, "big", accountId, "INBOX")

        // nothing secret in either worker's output (Debug level)
        for (const output of [worker1.output(), worker2.output()]) {
          assert.include(output, "worker started")
          assert.notInclude(output, PASSWORD)
        }
      }),
    // a 5,000-message sync on a loaded 2-core machine: well over the default 60 s
    240_000
  )
})
