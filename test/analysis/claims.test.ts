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
import { baseUrl, field } from "../harness/http.ts"
import { completion, embeddings, type RecordedRequest, validAnalysis } from "./fakeOpenAi.ts"
import { FakeOpenAiServer, fakeOpenAiAppLayer } from "./fakeOpenAiApp.ts"

/*
 * Two mail.analyze (and two mail.embed) jobs of one owner over the same pending mail, through the
 * real worker and the fake OpenAI-compatible server: every message goes to the provider exactly once.
 * Before the claims (migration 0072) both jobs read the same oldest pending messages and both sent
 * them; the second save found them analysed and dropped its answer, but the tokens were spent.
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

const overlapped = (a: unknown, b: unknown) => {
  const time = (job: unknown, key: "startedAt" | "finishedAt") => new Date(String(field(job, key))).getTime()
  return time(a, "startedAt") < time(b, "finishedAt") && time(b, "startedAt") < time(a, "finishedAt")
}

layer(fakeLayer, { excludeTestServices: true, timeout: "120 seconds" })("claims on pending mail", (it) => {
  it.effect("two analyze and two embed jobs of one owner over the same mail: each message sent once", () =>
    Effect.gen(function* () {
      const fake = yield* FakeOpenAiServer
      const jobs = yield* Jobs
      const base = yield* baseUrl
      const owner = UserId.make(crypto.randomUUID())
      const box = yield* makeMailbox(owner)
      yield* insertMails(box, mails(owner))
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
      assert.deepStrictEqual(
        sentPerMessage(fake.chatRequests().slice(chatBefore), owner),
        Array.from({ length: MESSAGES }, () => 1),
        "chat requests per message"
      )
      assert.deepStrictEqual(
        sentPerMessage(fake.embeddingRequests().slice(embedBefore), owner),
        Array.from({ length: MESSAGES }, () => 1),
        "embedded texts per message"
      )
      // both jobs took a share (each claims its own batches; neither waited for the other to end)
      assert.isTrue(
        analysed.every((n) => n > 0),
        `analysed per job: ${analysed.join(", ")}`
      )

      // every claim was cleared by the write of its outcome
      const sql = yield* SqlClient.SqlClient
      const scope = yield* UserScope
      const claims = yield* scope
        .run(
          owner,
          sql<{ n: number }>`
            SELECT count(*)::int AS n FROM emails
            WHERE analysis_claimed_until IS NOT NULL OR embedding_claimed_until IS NOT NULL`
        )
        .pipe(Effect.orDie)
      assert.strictEqual(claims[0]?.n, 0)
    })
  )

  it.effect(
    "a message another transaction holds locked when the job reads it is analysed by that job once the lock goes",
    () =>
      Effect.gen(function* () {
        const jobs = yield* Jobs
        const base = yield* baseUrl
        const sql = yield* SqlClient.SqlClient
        const scope = yield* UserScope
        const owner = UserId.make(crypto.randomUUID())
        const box = yield* makeMailbox(owner)
        const ids = yield* insertMails(box, mails(owner))
        const lockedId = ids[0] ?? ""
        // another writer (an embedding job's save, a sync's flag update) holds the oldest message's row
        // for 2 s; the claim skips locked rows rather than wait, and the job once ended without it,
        // leaving it pending until some later job (CI: an embed job that embedded 0 of 2)
        const holding = yield* Deferred.make<void>()
        const holder = yield* Effect.forkChild(
          scope.run(
            owner,
            Effect.gen(function* () {
              yield* sql`SELECT id FROM emails WHERE id = ${lockedId} FOR NO KEY UPDATE`
              yield* Deferred.succeed(holding, undefined)
              yield* Effect.sleep("2 seconds")
            })
          )
        )
        yield* Deferred.await(holding)
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
      const fake = yield* FakeOpenAiServer
      const jobs = yield* Jobs
      const base = yield* baseUrl
      const sql = yield* SqlClient.SqlClient
      const scope = yield* UserScope
      const owner = UserId.make(crypto.randomUUID())
      const box = yield* makeMailbox(owner)
      yield* insertMails(box, mails(owner))
      const chatBefore = fake.chatRequests().length
      // a job that claimed the 5 oldest and was SIGKILLed before writing: nothing releases its claim
      const dead = yield* Effect.gen(function* () {
        const store = yield* ProcessingStore
        return yield* store.claimAnalysis(owner, {}, 5, 3)
      }).pipe(Effect.provide(ProcessingStore.layer), Effect.orDie)
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
      assert.deepStrictEqual(
        sentPerMessage(fake.chatRequests().slice(chatBefore), owner),
        Array.from({ length: MESSAGES }, () => 1),
        "chat requests per message"
      )
    })
  )
})
