import { assert, layer } from "@effect/vitest"
import { Deferred, Effect, Fiber } from "effect"
import { SqlClient } from "effect/sql"
import { ProcessingStore } from "../../src/analysis/ProcessingStore.ts"
import { AnalyzeMailJob } from "../../src/contract/jobs/AnalyzeMailJob.ts"
import { EmbedMailJob } from "../../src/contract/jobs/EmbedMailJob.ts"
import { UserId } from "../../src/contract/users/UserId.ts"
import { Jobs } from "../../src/jobs/Jobs.ts"
import { UserScope } from "../../src/users/UserScope.ts"
import { insertMails, type MailSpec, makeMailbox } from "../emails/fixtures.ts"
import { waitForJob } from "../emails/helpers.ts"
import { holdRowLock, lockWaiters } from "../harness/rowLocks.ts"
import { baseUrl, field } from "../harness/http.ts"
import { completion, embeddings, type RecordedRequest, validAnalysis } from "./fakeOpenAi.ts"
import { FakeOpenAiServer, fakeOpenAiAppLayer } from "./fakeOpenAiApp.ts"

/*
 * Two mail.analyze (and two mail.embed) jobs of one owner over the same pending mail, through the
 * real worker and the fake OpenAI-compatible server: every message goes to the provider exactly once.
 * Before the claims (migration 0072) both jobs read the same oldest pending messages and both sent
 * them; the second save found them analysed and dropped its answer, but the tokens were spent.
 * The claims name the job that holds them (migration 0073): its next attempt takes them back at once,
 * and a release clears only its own.
 */

const MESSAGES = 12
// slow answers, so the two jobs' batches are in flight at the same time
const ANSWER_DELAY_MS = 150

const fakeLayer = fakeOpenAiAppLayer(
  { AI_TIMEOUT_MS: "5000", ANALYSIS_BATCH_SIZE: "3", ANALYSIS_CONCURRENCY: "2", EMBEDDING_BATCH_SIZE: "3" },
  (fake) => {
    fake.onChat(() => ({ ...completion(JSON.stringify(validAnalysis)), delayMs: ANSWER_DELAY_MS }))
    const embed = embeddings()
    fake.onEmbeddings((request, n) => ({ ...embed(request, n), delayMs: ANSWER_DELAY_MS }))
  }
)

const marker = (i: number) => `claimtoken${String(i).padStart(2, "0")}x`

const mails = (owner: UserId): ReadonlyArray<MailSpec> =>
  Array.from({ length: MESSAGES }, (_, i) => ({
    subject: `Invoice ${marker(i)} for ${owner.slice(0, 8)}`,
    from: { name: "Billing", address: "billing@shop.example" },
    text: `Your invoice ${marker(i)} is due next week.`
  }))

/** How often each message's marker went to the provider in `requests`. */
const sentPerMessage = (requests: ReadonlyArray<RecordedRequest>, owner: UserId) =>
  Array.from({ length: MESSAGES }, (_, i) => {
    const text = `${marker(i)} for ${owner.slice(0, 8)}`
    return requests.reduce((n, r) => n + r.rawBody.split(text).length - 1, 0)
  })

/** A fresh owner with MESSAGES pending messages in one mailbox, and what the tests work with. */
const pendingMail = Effect.gen(function* () {
  const fake = yield* FakeOpenAiServer
  const jobs = yield* Jobs
  const base = yield* baseUrl
  const sql = yield* SqlClient.SqlClient
  const scope = yield* UserScope
  const owner = UserId.make(crypto.randomUUID())
  const box = yield* makeMailbox(owner)
  const ids = yield* insertMails(box, mails(owner))
  /** The owner's messages pending analysis whose claim `holder` holds and has not expired. */
  const heldBy = (holder: string) =>
    scope
      .run(
        owner,
        sql<{ id: string }>`
          SELECT id FROM emails
          WHERE analysis_state = 'pending' AND analysis_claimed_by = ${holder}::uuid
            AND analysis_claimed_until > now()
          ORDER BY id`
      )
      .pipe(
        Effect.map((rows) => rows.map((row) => row.id)),
        Effect.orDie
      )
  return { fake, jobs, base, sql, scope, owner, box, ids, heldBy }
})

/** The store the jobs claim through, as a test calls it directly (a job that died, another job). */
const withStore = <A, E>(use: (store: typeof ProcessingStore.Service) => Effect.Effect<A, E>) =>
  Effect.gen(function* () {
    return yield* use(yield* ProcessingStore)
  }).pipe(Effect.provide(ProcessingStore.layer), Effect.orDie)

const sorted = (ids: ReadonlyArray<string>) => [...ids].sort()

/** Every message of `owner` went to the provider exactly once in `requests`. */
const assertSentOnce = (requests: ReadonlyArray<RecordedRequest>, owner: UserId, what: string) =>
  assert.deepStrictEqual(
    sentPerMessage(requests, owner),
    Array.from({ length: MESSAGES }, () => 1),
    what
  )

const overlapped = (a: unknown, b: unknown) => {
  const time = (job: unknown, key: "startedAt" | "finishedAt") => new Date(String(field(job, key))).getTime()
  return time(a, "startedAt") < time(b, "finishedAt") && time(b, "startedAt") < time(a, "finishedAt")
}

layer(fakeLayer, { excludeTestServices: true, timeout: "120 seconds" })("claims on pending mail", (it) => {
  it.effect("two analyze and two embed jobs of one owner over the same mail: each message sent once", () =>
    Effect.gen(function* () {
      const { fake, jobs, base, sql, scope, owner, box } = yield* pendingMail
      const chatBefore = fake.chatRequests().length
      const embedBefore = fake.embeddingRequests().length
      // two selections of the same mail (all pending, and the account's): two keys, two jobs at once
      const submitted = yield* Effect.all([
        jobs.submit(AnalyzeMailJob, {}, { ownerId: owner }),
        jobs.submit(AnalyzeMailJob, { accountId: box.accountId }, { ownerId: owner }),
        jobs.submit(EmbedMailJob, {}, { ownerId: owner }),
        jobs.submit(EmbedMailJob, { accountId: box.accountId }, { ownerId: owner })
      ]).pipe(Effect.orDie)
      const ended = yield* Effect.forEach(submitted, (s) => waitForJob(base, owner, s.jobId), { concurrency: 4 })
      for (const job of ended) assert.strictEqual(field(job, "state"), "succeeded", JSON.stringify(job))
      const [analyzeA, analyzeB, embedA, embedB] = ended
      // the two of each kind ran at the same time (else the test shows nothing)
      assert.isTrue(overlapped(analyzeA, analyzeB), "the analyze jobs did not overlap")
      assert.isTrue(overlapped(embedA, embedB), "the embed jobs did not overlap")

      const analysed = [field(analyzeA, "result", "analysed"), field(analyzeB, "result", "analysed")].map(Number)
      assert.strictEqual(
        analysed.reduce((a, b) => a + b, 0),
        MESSAGES
      )
      assertSentOnce(fake.chatRequests().slice(chatBefore), owner, "chat requests per message")
      assertSentOnce(fake.embeddingRequests().slice(embedBefore), owner, "embedded texts per message")
      // both jobs took a share (each claims its own batches; neither waited for the other to end)
      assert.isTrue(
        analysed.every((n) => n > 0),
        `analysed per job: ${analysed.join(", ")}`
      )

      // every claim was cleared by the write of its outcome, its holder too
      const claims = yield* scope
        .run(
          owner,
          sql<{ n: number }>`
            SELECT count(*)::int AS n FROM emails
            WHERE analysis_claimed_until IS NOT NULL OR embedding_claimed_until IS NOT NULL
              OR analysis_claimed_by IS NOT NULL OR embedding_claimed_by IS NOT NULL`
        )
        .pipe(Effect.orDie)
      assert.strictEqual(claims[0]?.n, 0)
    })
  )

  it.effect(
    "a message another transaction holds locked when the job reads it is analysed by that job once the lock goes",
    () =>
      Effect.gen(function* () {
        const { jobs, base, sql, scope, owner, ids } = yield* pendingMail
        const lockedId = ids[0] ?? ""
        // another writer (an embedding job's save, a sync's flag update) holds the oldest message's row
        // for 2 s; the claim skips locked rows rather than wait, and the job once ended without it,
        // leaving it pending until some later job (CI: an embed job that embedded 0 of 2)
        const holder = yield* holdRowLock(sql, scope, owner, lockedId, Effect.sleep("2 seconds"))
        const submitted = yield* jobs.submit(AnalyzeMailJob, {}, { ownerId: owner }).pipe(Effect.orDie)
        const job = yield* waitForJob(base, owner, submitted.jobId)
        yield* Fiber.join(holder).pipe(Effect.orDie)
        assert.strictEqual(field(job, "state"), "succeeded", JSON.stringify(job))
        assert.strictEqual(Number(field(job, "result", "analysed")), MESSAGES, "the one job analysed every message")
        const pending = yield* scope
          .run(owner, sql<{ n: number }>`SELECT count(*)::int AS n FROM emails WHERE analysis_state = 'pending'`)
          .pipe(Effect.orDie)
        assert.strictEqual(pending[0]?.n, 0)
      })
  )

  it.effect("a job that died with a claimed batch: the batch is skipped while claimed, analysed once it expired", () =>
    Effect.gen(function* () {
      const { fake, jobs, base, sql, scope, owner } = yield* pendingMail
      const chatBefore = fake.chatRequests().length
      // another job that claimed the 5 oldest and was SIGKILLed before writing: nothing releases its
      // claim, and only that job's next attempt would take the batch back before the claim expires
      const dead = yield* withStore((store) =>
        store.claimAnalysis(owner, {}, 5, { holder: crypto.randomUUID(), seconds: 3 })
      )
      assert.strictEqual(dead.length, 5)

      const analyze = () =>
        Effect.gen(function* () {
          const submitted = yield* jobs.submit(AnalyzeMailJob, {}, { ownerId: owner }).pipe(Effect.orDie)
          const job = yield* waitForJob(base, owner, submitted.jobId)
          assert.strictEqual(field(job, "state"), "succeeded", JSON.stringify(job))
          return Number(field(job, "result", "analysed"))
        })
      // while the claim runs, another job takes the rest and leaves the claimed five pending
      const first = yield* analyze()
      const held = yield* scope
        .run(
          owner,
          sql<{ n: number }>`
            SELECT count(*)::int AS n FROM emails
            WHERE analysis_state = 'pending' AND id = ANY(${dead.map((m) => m.id)}::uuid[])`
        )
        .pipe(Effect.orDie)
      assert.strictEqual(held[0]?.n, 5)
      assert.strictEqual(first, MESSAGES - 5)

      // once the claim expired the messages are due again: nothing was lost
      const claimedNow = scope
        .run(owner, sql<{ n: number }>`SELECT count(*)::int AS n FROM emails WHERE analysis_claimed_until > now()`)
        .pipe(
          Effect.map((rows) => rows[0]?.n ?? 0),
          Effect.orDie
        )
      while ((yield* claimedNow) > 0) yield* Effect.sleep("200 millis")
      const second = yield* analyze()
      assert.strictEqual(second, 5)
      assertSentOnce(fake.chatRequests().slice(chatBefore), owner, "chat requests per message")
    })
  )

  it.effect("a job's next attempt takes back the batch its dead attempt claimed at once, other jobs skip it", () =>
    Effect.gen(function* () {
      const { owner, heldBy } = yield* pendingMail
      const job = crypto.randomUUID()
      const claim = { holder: job, seconds: 900 }
      yield* withStore((store) =>
        Effect.gen(function* () {
          // the job's first attempt claimed the 5 oldest for 900 s, and its process was SIGKILLed
          const dead = yield* store.claimAnalysis(owner, {}, 5, claim)
          assert.strictEqual(dead.length, 5)
          // another job skips them
          const other = yield* store.claimAnalysis(owner, {}, MESSAGES, { holder: crypto.randomUUID(), seconds: 900 })
          assert.strictEqual(other.length, MESSAGES - 5)
          assert.isTrue(other.every((m) => !dead.some((d) => d.id === m.id)))
          // the job's next attempt (BullMQ retries the stalled job under the same record) takes them now
          const again = yield* store.claimAnalysis(owner, {}, 5, claim)
          assert.deepStrictEqual(sorted(again.map((m) => m.id)), sorted(dead.map((m) => m.id)))
          // nothing else is due for it, and it sees nothing locked out
          assert.isFalse(yield* store.analysisLockedOut(owner, {}, job, sorted(again.map((m) => m.id))))
          // the same for embeddings
          const embedDead = yield* store.embeddingCandidates(owner, {}, { _tag: "pending" }, 4, 200, claim)
          const embedAgain = yield* store.embeddingCandidates(owner, {}, { _tag: "pending" }, 4, 200, claim)
          assert.strictEqual(embedDead.length, 4)
          assert.deepStrictEqual(sorted(embedAgain.map((m) => m.id)), sorted(embedDead.map((m) => m.id)))
        })
      )
      assert.strictEqual((yield* heldBy(job)).length, 5)
    })
  )

  it.effect("a release gives up only its own job's claims: one another job took after expiry stays", () =>
    Effect.gen(function* () {
      const { owner, heldBy } = yield* pendingMail
      const jobX = crypto.randomUUID()
      const jobY = crypto.randomUUID()
      yield* withStore((store) =>
        Effect.gen(function* () {
          // X claims 5 for 1 s and is slow; its claim expires and Y takes the same 5
          const byX = yield* store.claimAnalysis(owner, {}, 5, { holder: jobX, seconds: 1 })
          yield* Effect.sleep("1100 millis")
          const byY = yield* store.claimAnalysis(owner, {}, 5, { holder: jobY, seconds: 900 })
          assert.deepStrictEqual(sorted(byY.map((m) => m.id)), sorted(byX.map((m) => m.id)))
          // X ends and releases what it read: Y's claims stay
          yield* store.releaseAnalysisClaims(
            owner,
            jobX,
            byX.map((m) => m.id)
          )
          assert.deepStrictEqual(yield* heldBy(jobY), sorted(byY.map((m) => m.id)))
          // Y's own release clears them, holder and all
          yield* store.releaseAnalysisClaims(
            owner,
            jobY,
            byY.map((m) => m.id)
          )
          assert.deepStrictEqual(yield* heldBy(jobY), [])
        })
      )
    })
  )

  it.effect("a release waits for a row another writer holds locked and clears its claim once the lock goes", () =>
    Effect.gen(function* () {
      const { sql, scope, owner, heldBy } = yield* pendingMail
      const job = crypto.randomUUID()
      yield* withStore((store) =>
        Effect.gen(function* () {
          const read = yield* store.claimAnalysis(owner, {}, 5, { holder: job, seconds: 900 })
          assert.strictEqual(read.length, 5)
          const lockedId = read[0]?.id ?? ""
          // the mail.embed job of the same mail is saving this row (its save clears only embedding
          // claims): the analysis job's release meets the lock. It used to skip the row, and the
          // claim stayed MAIL_CLAIM_SECONDS (900 s) with no job left to take the message
          const letGo = yield* Deferred.make<void>()
          const other = yield* holdRowLock(sql, scope, owner, lockedId, Deferred.await(letGo))
          const release = yield* Effect.forkChild(
            store.releaseAnalysisClaims(
              owner,
              job,
              read.map((m) => m.id)
            )
          )
          // the release waits for the lock (a release that skipped the row is done by now)
          yield* Effect.sleep("1 second")
          assert.isUndefined(release.pollUnsafe(), "the release did not wait for the locked row")
          yield* Deferred.succeed(letGo, undefined)
          yield* Fiber.join(other)
          yield* Fiber.join(release)
        })
      )
      assert.deepStrictEqual(yield* heldBy(job), [])
    })
  )

  it.effect("a release writes only the rows it locked: a claim its job takes meanwhile closes no deadlock cycle", () =>
    Effect.gen(function* () {
      const { sql, scope, owner, heldBy } = yield* pendingMail
      const job = crypto.randomUUID()
      const claimFor = (id: string, holder: string | null) =>
        scope
          .run(
            owner,
            sql`UPDATE emails SET analysis_claimed_by = ${holder}::uuid,
              analysis_claimed_until = ${holder === null ? null : sql`now() + interval '900 seconds'`}
              WHERE id = ${id}`
          )
          .pipe(Effect.orDie)
      yield* withStore((store) =>
        Effect.gen(function* () {
          const read = yield* store.claimAnalysis(owner, {}, 2, { holder: job, seconds: 900 })
          const [low, high] = sorted(read.map((m) => m.id))
          assert.isDefined(low)
          assert.isDefined(high)
          if (low === undefined || high === undefined) return
          // `low` is not the job's when its release starts
          yield* claimFor(low, null)
          // another writer holds `high`: the release's lock statement queues for it, holding nothing
          const letGo = yield* Deferred.make<void>()
          const other = yield* holdRowLock(sql, scope, owner, high, Deferred.await(letGo))
          const release = yield* Effect.forkChild(store.releaseAnalysisClaims(owner, job, [low, high]))
          yield* lockWaiters(sql, 1)
          // meanwhile the job claims `low` again (a stalled attempt's retry runs under the same job)
          yield* claimFor(low, job)
          // and a save over both rows locks `low`, then queues for `high` behind the release
          const deferred = (id: string) => ({ _tag: "deferred" as const, id, reason: "lock order" })
          const save = yield* Effect.forkChild(store.saveAnalysis(owner, [deferred(low), deferred(high)]))
          yield* lockWaiters(sql, 2)
          // the release gets `high` first; had it written `low` too (its claim matched the UPDATE's
          // later snapshot, not the lock's), it would wait on the save that waits on it: a deadlock
          yield* Deferred.succeed(letGo, undefined)
          yield* Fiber.join(other)
          yield* Fiber.join(release)
          yield* Fiber.join(save)
        })
      )
      // the save cleared both claims
      assert.deepStrictEqual(yield* heldBy(job), [])
    })
  )

  it.effect("the worker's claims name the job's record", () =>
    Effect.gen(function* () {
      const { jobs, base, sql, scope, owner } = yield* pendingMail
      const submitted = yield* jobs.submit(AnalyzeMailJob, {}, { ownerId: owner }).pipe(Effect.orDie)
      const holders = new Set<string>()
      // the fake answers slowly: the claims are seen while the job runs
      const watching = yield* Effect.forkChild(
        Effect.forever(
          scope
            .run(
              owner,
              sql<{ holder: string }>`
                SELECT DISTINCT analysis_claimed_by::text AS holder FROM emails WHERE analysis_claimed_by IS NOT NULL`
            )
            .pipe(
              Effect.tap((rows) =>
                Effect.sync(() => {
                  for (const row of rows) holders.add(row.holder)
                })
              ),
              Effect.andThen(Effect.sleep("30 millis")),
              Effect.orDie
            )
        )
      )
      const job = yield* waitForJob(base, owner, submitted.jobId)
      yield* Fiber.interrupt(watching)
      assert.strictEqual(field(job, "state"), "succeeded", JSON.stringify(job))
      assert.deepStrictEqual([...holders], [submitted.jobId])
    })
  )
})
