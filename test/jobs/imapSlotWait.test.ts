import { assert, layer } from "@effect/vitest"
import { Effect, Schedule } from "effect"
import { UserId } from "../../src/contract/users/UserId.ts"
import { ImapSlots } from "../../src/imap/ImapSlots.ts"
import { Dovecot } from "../harness/dovecot.ts"
import { generateMessages } from "../harness/mailgen.ts"
import { psqlValue } from "../harness/postgres.ts"
import { api, baseUrl, createAccount, Env, field, syncTestLayer, waitForJob } from "../sync/support.ts"

/*
 * Issue 15: a sync that finds every IMAP connection slot of its account taken (ImapSlots, none free
 * within IMAP_SLOT_WAIT_MS) is contention, not a failure: like a job over its owner's quota it goes
 * back to waiting without spending an attempt, and GET /jobs/:id says `waiting: imap slot`. Once a
 * slot frees, it runs as its first attempt. The worker runs in this process; the test holds the
 * account's only slot itself.
 */

const PASSWORD = "slot-Passw0rd!"
const owner = UserId.make("a1a1a1a1-0070-4070-8070-a1a1a1a1a1a1")

const TestLayer = syncTestLayer({
  worker: true,
  env: {
    IMAP_MAX_CONNECTIONS_PER_ACCOUNT: "1",
    // a short wait per attempt: without the requeue, mail.sync's 5 attempts would be spent within seconds
    IMAP_SLOT_WAIT_MS: "200",
    IMAP_SLOT_LEASE_TTL_MS: "60000",
    JOB_SUBMIT_RATE_PER_MINUTE: "0"
  },
  dovecot: { users: [{ user: "slotted", pass: PASSWORD }] }
})

layer(TestLayer, { excludeTestServices: true, timeout: "240 seconds" })("IMAP slot contention", (it) => {
  it.effect("a sync without a free IMAP slot waits (`imap slot`) without spending attempts, then runs", () =>
    Effect.gen(function* () {
      const env = yield* Env
      const server = yield* Dovecot
      const base = yield* baseUrl
      const slots = yield* ImapSlots
      yield* Effect.promise(() =>
        server.seedMaildir(
          "slotted",
          "INBOX",
          generateMessages(5, { seed: 3, domain: "slotted.test" }).map((m) => ({ raw: m.raw, flags: [] }))
        )
      )
      const accountId = yield* createAccount(base, owner, server, { username: "slotted", password: PASSWORD })
      // the account's first sync (queued by its creation) ends first, so the one below is a new job
      yield* Effect.sync(() =>
        psqlValue(
          env.databaseUrl,
          `SELECT count(*) FROM jobs WHERE kind = 'mail.sync' AND state NOT IN ('succeeded','failed','cancelled')`
        )
      ).pipe(
        Effect.filterOrFail((left) => left === "0"),
        Effect.retry(Schedule.spaced("200 millis").pipe(Schedule.upTo({ duration: "120 seconds" }))),
        Effect.orDie
      )

      const jobId = yield* Effect.scoped(
        Effect.gen(function* () {
          // the test holds the account's only slot: the sync cannot connect
          yield* slots.acquire(accountId, { wait: "30 seconds" })
          const submitted = yield* api(base, owner, "POST", `/api/v1/accounts/${accountId}/sync`)
          assert.strictEqual(submitted.status, 202, submitted.text)
          const id = String(field(submitted.body, "jobId"))
          // several of its waits pass (each: 200 ms of polling, then back to delayed for 1-2 s)
          yield* Effect.sleep("8 seconds")
          const waiting = yield* waitForJob(
            base,
            owner,
            id,
            (job) => field(job, "waiting") === "imap slot",
            Schedule.spaced("100 millis").pipe(Schedule.upTo({ duration: "30 seconds" }))
          )
          assert.strictEqual(field(waiting, "state"), "queued", JSON.stringify(waiting))
          assert.strictEqual(field(waiting, "attempts"), 0, "no attempt spent while waiting for a slot")
          return id
        })
      )
      // the slot is free again: the sync runs, as its first attempt
      const done = yield* waitForJob(base, owner, jobId)
      assert.strictEqual(field(done, "state"), "succeeded", JSON.stringify(done))
      assert.strictEqual(field(done, "attempts"), 1)
    }).pipe(Effect.orDie)
  )
})
