import { assert, layer } from "@effect/vitest"
import { Effect, Layer, Option, Schedule, Schema } from "effect"
import { AccountSchedules } from "../../src/accounts/AccountSchedules.ts"
import { MailSyncJob } from "../../src/contract/jobs/MailSyncJob.ts"
import { JobReconciler } from "../../src/jobs/JobReconciler.ts"
import { Jobs } from "../../src/jobs/Jobs.ts"
import { Dovecot } from "../harness/dovecot.ts"
import { baseUrl } from "../harness/http.ts"
import { spawnApi } from "../jobs/support/spawnApi.ts"
import { accountPayload, api, Env, field, OwnerDb, syncTestLayer } from "../sync/support.ts"

/*
 * Issue 17, "The first screen, whatever the mailbox size": a new account's first sync is submitted by
 * the create itself, in the transaction that stores the account (not by the scheduler's first tick,
 * a BullMQ job whose worker then looked the account up and submitted it), and the scheduler's first
 * tick is one interval later. No worker runs here: what the create alone leaves is what is checked.
 */

const PASSWORD = "f1rst-Sync-Pw"
const USERS = ["direct", "manual", "killed"]
const owner = "f3333333-3333-4333-8333-333333333333"

const TestLayer = JobReconciler.layer.pipe(
  Layer.provideMerge(
    syncTestLayer({
      worker: false,
      // the reconciler runs only when a test asks; every waiting record is old enough for it
      env: { JOB_RECONCILE_GRACE_MS: "0" },
      dovecot: { users: USERS.map((user) => ({ user, pass: PASSWORD })) }
    })
  )
)

const SyncRow = Schema.Struct({ id: Schema.String, state: Schema.String })

/** The account's mail.sync records (owner connection: no row-level security). */
const syncRecords = (accountId: string) =>
  Effect.gen(function* () {
    const sql = yield* OwnerDb
    return yield* sql`SELECT id::text, state FROM jobs WHERE kind = ${MailSyncJob.name} AND payload->>'accountId' = ${accountId}`.pipe(
      Effect.flatMap(Schema.decodeUnknownEffect(Schema.Array(SyncRow))),
      Effect.orDie
    )
  })

const queueState = (jobId: string) =>
  Effect.gen(function* () {
    const queue = yield* (yield* Jobs).queue(MailSyncJob.name)
    return yield* Effect.promise(() => queue.getJobState(jobId))
  }).pipe(Effect.orDie)

layer(TestLayer, { excludeTestServices: true, timeout: "120 seconds" })("an account's first sync", (it) => {
  it.effect("is queued by the create itself; the scheduler's first tick comes one interval later", () =>
    Effect.gen(function* () {
      const server = yield* Dovecot
      const base = yield* baseUrl
      const before = Date.now()
      const created = yield* api(base, owner, "POST", "/api/v1/accounts", {
        ...accountPayload(server, { username: "direct", password: PASSWORD }),
        syncIntervalMinutes: 10
      })
      assert.strictEqual(created.status, 201, created.text)
      const id = String(field(created.body, "id"))
      // already there when the create answers, and in the queue (no scheduler tick was run)
      const records = yield* syncRecords(id)
      assert.strictEqual(records.length, 1, JSON.stringify(records))
      assert.strictEqual(records[0]?.state, "queued")
      assert.include(["waiting", "prioritized"], yield* queueState(records[0]?.id ?? ""))
      // the scheduler's first run is one interval away: no second sync right behind the first
      const next = yield* (yield* AccountSchedules).next(id)
      assert.isTrue(Option.isSome(next))
      assert.strictEqual(Option.getOrUndefined(next)?.every, 10 * 60_000)
      assert.isAtLeast(Option.getOrUndefined(next)?.next.getTime() ?? 0, before + 10 * 60_000 - 1_000)

      // an account synced only on request gets none
      const manual = yield* api(base, owner, "POST", "/api/v1/accounts", {
        ...accountPayload(server, { username: "manual", password: PASSWORD }),
        syncIntervalMinutes: null
      })
      assert.strictEqual(manual.status, 201, manual.text)
      assert.deepStrictEqual(yield* syncRecords(String(field(manual.body, "id"))), [])
    })
  )

  it.effect(
    "an API killed (SIGKILL) after the account's commit, before the sync's queue add: both survive and the reconciler queues the sync",
    () =>
      Effect.gen(function* () {
        const env = yield* Env
        const server = yield* Dovecot
        const child = yield* spawnApi(env, { MH_FAILPOINT_SUBMIT_PAUSE_MS: "60000" })
        const response = fetch(`${child.base}/api/v1/accounts`, {
          method: "POST",
          headers: { "x-test-user": owner, "content-type": "application/json" },
          body: JSON.stringify({
            ...accountPayload(server, { username: "killed", password: PASSWORD }),
            syncIntervalMinutes: 10
          }),
          signal: AbortSignal.timeout(60_000)
        }).then(
          (answer) => answer.status,
          () => 0
        )
        const sql = yield* OwnerDb
        const accountId = yield* sql`SELECT id::text FROM mail_accounts WHERE username = 'killed'`.pipe(
          Effect.flatMap(Schema.decodeUnknownEffect(Schema.Array(Schema.Struct({ id: Schema.String })))),
          Effect.flatMap((rows) => Effect.fromNullishOr(rows[0]?.id)),
          Effect.retry(Schedule.spaced("25 millis").pipe(Schedule.upTo({ times: 800 }))),
          Effect.orDie
        )
        // committed with the account, in the same transaction: there the moment the account is
        const records = yield* syncRecords(accountId)
        assert.strictEqual(records.length, 1, `no sync record with the committed account: ${JSON.stringify(records)}`)
        const jobId = records[0]?.id ?? ""
        assert.strictEqual(records[0]?.state, "queued")
        assert.strictEqual(yield* queueState(jobId), "unknown")
        assert.include(child.output(), "failpoint")
        child.child.kill("SIGKILL")
        assert.strictEqual((yield* Effect.promise(() => child.exited)).signal, "SIGKILL")
        assert.strictEqual(yield* Effect.promise(() => response), 0)

        const summary = yield* (yield* JobReconciler).reconcile
        assert.isAtLeast(summary.requeued, 1, JSON.stringify(summary))
        assert.include(["waiting", "prioritized"], yield* queueState(jobId))
        assert.deepStrictEqual(yield* syncRecords(accountId), [{ id: jobId, state: "queued" }])
      }),
    90_000
  )
})
