import { assert, layer } from "@effect/vitest"
import { Worker } from "bullmq"
import { Effect, Layer } from "effect"
import { AccountId } from "../../src/contract/accounts/Account.ts"
import { AnalyzeMailJob } from "../../src/contract/jobs/AnalyzeMailJob.ts"
import { MailSyncJob } from "../../src/contract/jobs/MailSyncJob.ts"
import { UserId } from "../../src/contract/users/UserId.ts"
import { Jobs } from "../../src/jobs/Jobs.ts"
import { JobsLive, PlatformLive } from "../../src/main/layers.ts"
import { Redis } from "../../src/platform/Redis.ts"
import { configLayer, makeTestEnv } from "../harness/TestEnv.ts"
import { ensureTestUser } from "../users/fixtures.ts"

/*
 * Issue 15, merging while waiting: a submit that joins an equal job (same de-duplication key) is
 * `covered` only while that job has not started (its BullMQ entry waits: prioritized under fair share,
 * waiting under FIFO) and its payload covers the submit's. Once a worker took the job (BullMQ
 * `active`, here a real BullMQ worker taking it without running it) the submit is not covered: its
 * caller asks again after that run, so a change heard during a run still gets a run after it.
 * Real PostgreSQL and Redis; no processor runs.
 */
const alice = UserId.make("77777777-7777-4777-8777-777777777771")

const coveredLayer = (fairShare: boolean) =>
  Layer.unwrap(
    Effect.map(makeTestEnv({ JOB_SUBMIT_RATE_PER_MINUTE: "0", JOB_FAIR_SHARE: String(fairShare) }), (env) =>
      JobsLive.pipe(Layer.provideMerge(PlatformLive), Layer.provide(configLayer(env)))
    )
  )

/** Takes the next job of a kind as a worker would (BullMQ `active`), without processing it. */
const takeNext = (kindName: string) =>
  Effect.gen(function* () {
    const redis = yield* Redis
    return yield* Effect.acquireRelease(
      Effect.promise(async () => {
        const worker = new Worker(kindName, null, {
          connection: redis.client.duplicate({ maxRetriesPerRequest: null }),
          prefix: redis.prefix,
          autorun: false
        })
        worker.on("error", () => {})
        const job = await worker.getNextJob("test-token", { block: false })
        return { worker, jobId: job?.id }
      }),
      ({ worker }) => Effect.promise(() => worker.close(true))
    )
  })

for (const fairShare of [true, false]) {
  layer(coveredLayer(fairShare), { excludeTestServices: true, timeout: "60 seconds" })(
    `a submit joining a job that has not started (fair share ${fairShare ? "on" : "off"})`,
    (it) => {
      it.effect("is covered while the job waits and covers it, and not once a worker took the job", () =>
        Effect.scoped(
          Effect.gen(function* () {
            const jobs = yield* Jobs
            yield* ensureTestUser(alice)
            const accountId = AccountId.make(crypto.randomUUID())
            const inbox = { accountId, mailboxes: ["INBOX"] }
            const first = yield* jobs.submit(MailSyncJob, inbox, { ownerId: alice })
            assert.isTrue(first.created)
            assert.notStrictEqual(first.covered, true, "a new job is created, not covered")

            // waiting for its turn: the job's run reads the mailbox after this submit
            const joined = yield* jobs.submit(MailSyncJob, inbox, { ownerId: alice })
            assert.isFalse(joined.created)
            assert.strictEqual(joined.jobId, first.jobId)
            assert.isTrue(joined.covered, "a waiting job of the same mailboxes covers the submit")
            // another mailbox: the waiting job does not sync it
            const other = yield* jobs.submit(MailSyncJob, { accountId, mailboxes: ["Sent"] }, { ownerId: alice })
            assert.strictEqual(other.jobId, first.jobId)
            assert.isFalse(other.covered, "a waiting job of other mailboxes does not cover the submit")

            // a worker took it: its run may have passed the mailbox already
            const taken = yield* takeNext(MailSyncJob.name)
            assert.strictEqual(taken.jobId, first.jobId)
            const during = yield* jobs.submit(MailSyncJob, inbox, { ownerId: alice })
            assert.isFalse(during.created)
            assert.strictEqual(during.jobId, first.jobId)
            assert.isFalse(during.covered, "a submit during the job's run is not covered: it asks again after it")
          })
        )
      )

      it.effect("an analysis that embeds covers one that does not, not the reverse", () =>
        Effect.gen(function* () {
          const jobs = yield* Jobs
          const owner = UserId.make(crypto.randomUUID())
          yield* ensureTestUser(owner)
          const plain = yield* jobs.submit(AnalyzeMailJob, {}, { ownerId: owner })
          assert.isTrue(plain.created)
          const embedding = yield* jobs.submit(AnalyzeMailJob, { embed: true }, { ownerId: owner })
          assert.strictEqual(embedding.jobId, plain.jobId)
          assert.isFalse(embedding.covered, "a waiting analysis without `embed` does not embed the fresh mail")

          const other = UserId.make(crypto.randomUUID())
          yield* ensureTestUser(other)
          const withEmbed = yield* jobs.submit(AnalyzeMailJob, { embed: true }, { ownerId: other })
          const again = yield* jobs.submit(AnalyzeMailJob, { embed: true }, { ownerId: other })
          const without = yield* jobs.submit(AnalyzeMailJob, {}, { ownerId: other })
          assert.strictEqual(again.jobId, withEmbed.jobId)
          assert.isTrue(again.covered)
          assert.isTrue(without.covered)
        })
      )
    }
  )
}
