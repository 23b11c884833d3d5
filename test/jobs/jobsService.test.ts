import { assert, layer } from "@effect/vitest"
import { Cause, Effect, Exit, Layer, Option } from "effect"
import { AccountId } from "../../src/contract/accounts/Account.ts"
import { defineJobKind } from "../../src/contract/jobs/JobKind.ts"
import { MailSyncJob } from "../../src/contract/jobs/MailSyncJob.ts"
import { PingJob } from "../../src/contract/jobs/PingJob.ts"
import { SyncTickJob } from "../../src/contract/jobs/SyncTickJob.ts"
import { Jobs } from "../../src/jobs/Jobs.ts"
import { JobsLive, PlatformLive } from "../../src/main/layers.ts"
import { UserId } from "../../src/contract/users/UserId.ts"
import { configLayer, makeTestEnv } from "../harness/TestEnv.ts"
import { ensureTestUser } from "../users/fixtures.ts"

/*
 * What Jobs does for its callers (issue 13): cancel by de-duplication key, job schedulers, and an
 * unknown kind or a bad payload at submit as a defect. No worker runs here: submitted jobs stay queued.
 */
const TestLayer = Layer.unwrap(
  Effect.map(makeTestEnv({ JOB_SUBMIT_RATE_PER_MINUTE: "0" }), (env) =>
    JobsLive.pipe(Layer.provideMerge(PlatformLive), Layer.provide(configLayer(env)))
  )
)

const alice = UserId.make("66666666-6666-4666-8666-666666666661")
const bob = UserId.make("66666666-6666-4666-8666-666666666662")

const isDefect = <A, E>(exit: Exit.Exit<A, E>) => Exit.isFailure(exit) && Cause.hasDies(exit.cause)

layer(TestLayer, { excludeTestServices: true, timeout: "60 seconds" })("Jobs", (it) => {
  it.effect("cancels the owner's active job of a key, and only that one", () =>
    Effect.gen(function* () {
      const jobs = yield* Jobs
      yield* ensureTestUser(alice)
      yield* ensureTestUser(bob)
      const first = AccountId.make(crypto.randomUUID())
      const second = AccountId.make(crypto.randomUUID())
      const a = yield* jobs.submit(MailSyncJob, { accountId: first }, { ownerId: alice })
      const b = yield* jobs.submit(MailSyncJob, { accountId: second }, { ownerId: alice })
      // another owner cannot reach it by its key
      assert.isTrue(Option.isNone(yield* jobs.cancelByKey(bob, MailSyncJob, { accountId: first })))
      assert.strictEqual((yield* jobs.get(alice, a.jobId)).state, "queued")

      const cancelled = yield* jobs.cancelByKey(alice, MailSyncJob, { accountId: first })
      assert.strictEqual(Option.map(cancelled, (view) => view.id).pipe(Option.getOrNull), a.jobId)
      assert.strictEqual((yield* jobs.get(alice, a.jobId)).state, "cancelled")
      assert.strictEqual((yield* jobs.get(alice, b.jobId)).state, "queued")
      // nothing active under that key any more
      assert.isTrue(Option.isNone(yield* jobs.cancelByKey(alice, MailSyncJob, { accountId: first })))
      // the key is free again: a new submit creates a job
      assert.isTrue((yield* jobs.submit(MailSyncJob, { accountId: first }, { ownerId: alice })).created)
    })
  )

  it.effect("an unregistered kind or a payload its schema refuses is a defect at submit", () =>
    Effect.gen(function* () {
      const jobs = yield* Jobs
      yield* ensureTestUser(alice)
      const stranger = defineJobKind({ ...PingJob, name: "test.unregistered" })
      assert.isTrue(isDefect(yield* Effect.exit(jobs.submit(stranger, {}, { ownerId: alice }))))
      // past the kind's time limit: refused by the payload schema
      assert.isTrue(isDefect(yield* Effect.exit(jobs.submit(PingJob, { sleepMillis: 10_000_000 }, { ownerId: alice }))))
      assert.isTrue(isDefect(yield* Effect.exit(jobs.submitForUser(PingJob, { sleepMillis: -1 }, { ownerId: alice }))))
    })
  )

  it.effect("schedules, lists and unschedules a repeatable job", () =>
    Effect.gen(function* () {
      const jobs = yield* Jobs
      const id = `test:${crypto.randomUUID()}`
      const accountId = AccountId.make(crypto.randomUUID())
      yield* jobs.schedule(SyncTickJob, id, { everyMillis: 3_600_000, firstRun: "spread" }, { accountId })
      const found = yield* jobs.scheduler(SyncTickJob, id)
      assert.strictEqual(Option.map(found, (s) => s.everyMillis).pipe(Option.getOrNull), 3_600_000)
      const next = Option.flatMap(found, (s) => Option.fromNullishOr(s.next)).pipe(Option.getOrNull)
      assert.isNotNull(next)
      // spread: the first run falls within the first interval
      assert.isAtMost(next?.getTime() ?? 0, Date.now() + 3_600_000)
      assert.include(
        (yield* jobs.schedulers(SyncTickJob)).map((s) => s.id),
        id
      )
      yield* jobs.unschedule(SyncTickJob, id)
      assert.isTrue(Option.isNone(yield* jobs.scheduler(SyncTickJob, id)))
      assert.notInclude(
        (yield* jobs.schedulers(SyncTickJob)).map((s) => s.id),
        id
      )
    })
  )
})
