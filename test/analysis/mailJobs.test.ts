import { assert, describe, it, layer } from "@effect/vitest"
import { Effect } from "effect"
import { SqlClient } from "effect/sql"
import { AnalyzeMailJob } from "../../src/contract/jobs/AnalyzeMailJob.ts"
import { selectionKey } from "../../src/contract/jobs/MailSelection.ts"
import { enqueueNewMailProcessing } from "../../src/analysis/enqueue.ts"
import { EmailId } from "../../src/contract/emails/EmailId.ts"
import { Jobs } from "../../src/jobs/Jobs.ts"
import { UserId } from "../../src/contract/users/UserId.ts"
import { UserScope } from "../../src/users/UserScope.ts"
import { emailState, insertMails, type MailSpec, makeMailbox } from "../emails/fixtures.ts"
import { appTestLayer, as, getJson, waitForJob } from "../emails/helpers.ts"
import { baseUrl, call, field } from "../harness/http.ts"
import { completion, validAnalysis } from "./fakeOpenAi.ts"
import { FakeOpenAiServer, fakeOpenAiAppLayer } from "./fakeOpenAiApp.ts"

const newUser = () => UserId.make(crypto.randomUUID())

const invoice: MailSpec = {
  subject: "Ihre Rechnung für März 2026",
  from: { name: "Telekom Deutschland", address: "rechnung@telekom.de" },
  text: "Guten Tag,\n\nder Rechnungsbetrag von 39,95 € ist fällig am 24.03.2026.\n\nIhre Telekom",
  attachments: [{ filename: "Rechnung_2026_03.pdf", contentType: "application/pdf", size: 48_000 }]
}
const newsletter: MailSpec = {
  subject: "Our weekly newsletter: 10 tips for spring",
  from: { name: "Gardening Weekly", address: "news@gardening.example" },
  text: "Hello gardeners! This week: ten tips for spring planting. Unsubscribe any time.",
  headers: { listUnsubscribe: "<https://gardening.example/unsubscribe>", listId: "<weekly.gardening.example>" }
}
const meeting: MailSpec = {
  subject: "Can we move tomorrow's meeting?",
  from: { name: "Maria Keller", address: "maria.keller@acme.example" },
  text: "Hi, could we move tomorrow's project meeting to 3 pm? Please let me know by tonight. Maria"
}

/** Runs the owner's pending mail through both jobs, as the sync would; their final JSON. */
const processAll = (base: string, owner: UserId) =>
  Effect.gen(function* () {
    const { analyze, embed } = yield* enqueueNewMailProcessing(owner).pipe(Effect.orDie)
    const analyzed = yield* waitForJob(base, owner, analyze.jobId)
    const embedded = yield* waitForJob(base, owner, embed.jobId)
    return { analyzed, embedded }
  })

describe("mail.analyze / mail.embed keys", () => {
  it("de-duplicate per owner, account and set of ids", () => {
    const alice = "11111111-1111-4111-8111-111111111111"
    const bob = "22222222-2222-4222-8222-222222222222"
    const id = "33333333-3333-4333-8333-333333333333"
    const other = "44444444-4444-4444-8444-444444444444"
    assert.strictEqual(selectionKey("pending", { owner: alice }), selectionKey("pending", { owner: alice }))
    assert.notStrictEqual(selectionKey("pending", { owner: alice }), selectionKey("pending", { owner: bob }))
    assert.notStrictEqual(
      selectionKey("pending", { owner: alice, accountId: id }),
      selectionKey("pending", { owner: alice })
    )
    // the same ids in any order are the same job; other ids are not
    assert.strictEqual(
      selectionKey("pending", { owner: alice, emailIds: [id, other] }),
      selectionKey("pending", { owner: alice, emailIds: [other, id] })
    )
    assert.notStrictEqual(
      selectionKey("pending", { owner: alice, emailIds: [id] }),
      selectionKey("pending", { owner: alice, emailIds: [other] })
    )
  })
})

layer(appTestLayer({ ANALYSIS_BATCH_SIZE: "2" }), { excludeTestServices: true, timeout: "90 seconds" })(
  "mail.analyze and mail.embed with the offline provider",
  (it) => {
    it.effect("analyses and embeds pending mail in batches, with progress, and redoes nothing", () =>
      Effect.gen(function* () {
        const base = yield* baseUrl
        const owner = newUser()
        const box = yield* makeMailbox(owner)
        const ids = yield* insertMails(box, [
          invoice,
          newsletter,
          meeting,
          { ...meeting, subject: "Re: meeting" },
          invoice
        ])
        const { analyzed, embedded } = yield* processAll(base, owner)
        assert.strictEqual(field(analyzed, "state"), "succeeded", JSON.stringify(analyzed))
        assert.deepStrictEqual(field(analyzed, "result"), { analysed: 5, failed: 0 })
        assert.deepStrictEqual(field(analyzed, "progress", "done"), 5)
        assert.deepStrictEqual(field(analyzed, "progress", "total"), 5)
        assert.strictEqual(field(embedded, "state"), "succeeded", JSON.stringify(embedded))
        assert.deepStrictEqual(field(embedded, "result"), { embedded: 5, failed: 0, model: "offline-hash-v1-384" })

        const detail = yield* getJson(base, owner, `/api/v1/emails/${ids[0]}`)
        assert.strictEqual(field(detail, "analysisState"), "analysed")
        assert.strictEqual(field(detail, "analysisAttempts"), 1)
        assert.strictEqual(field(detail, "analysis", "provider"), "offline")
        assert.strictEqual(field(detail, "analysis", "model"), "offline-rules-v1")
        assert.strictEqual(field(detail, "analysis", "category"), "finance")
        assert.isNumber(field(detail, "analysis", "confidence"))
        assert.strictEqual(field(detail, "embeddingState"), "embedded")
        const urgency = Number(field(detail, "analysis", "urgency"))
        const importance = Number(field(detail, "analysis", "importance"))
        assert.strictEqual(field(detail, "analysis", "score"), 2 * urgency + importance)
        assert.strictEqual(field(detail, "score"), 2 * urgency + importance)
        const newsletterDetail = yield* getJson(base, owner, `/api/v1/emails/${ids[1]}`)
        assert.strictEqual(field(newsletterDetail, "category"), "newsletter")
        assert.strictEqual(field(newsletterDetail, "band"), "green")

        const sql = yield* SqlClient.SqlClient
        const scope = yield* UserScope
        const vectors = yield* scope.run(
          owner,
          sql<{ model: string; dimension: number; n: number }>`
            SELECT model, dimension, count(*)::int AS n FROM embeddings GROUP BY model, dimension`
        )
        assert.deepStrictEqual(
          vectors.map((v) => ({ ...v })),
          [{ model: "offline-hash-v1-384", dimension: 384, n: 5 }]
        )
        const before = yield* scope.run(
          owner,
          sql<{ analysed_at: Date }>`SELECT analysed_at FROM email_analysis ORDER BY email_id`
        )

        // again: nothing is pending, nothing is redone
        const again = yield* processAll(base, owner)
        assert.deepStrictEqual(field(again.analyzed, "result"), { analysed: 0, failed: 0 })
        assert.deepStrictEqual(field(again.embedded, "result"), {
          embedded: 0,
          failed: 0,
          model: "offline-hash-v1-384"
        })
        const after = yield* scope.run(
          owner,
          sql<{ analysed_at: Date }>`SELECT analysed_at FROM email_analysis ORDER BY email_id`
        )
        assert.deepStrictEqual(after, before)
      }).pipe(Effect.orDie)
    )

    it.effect("reprocess re-analyses and re-embeds one message (202), for its owner only", () =>
      Effect.gen(function* () {
        const base = yield* baseUrl
        const owner = newUser()
        const stranger = newUser()
        const box = yield* makeMailbox(owner)
        const [id] = yield* insertMails(box, [meeting])
        yield* processAll(base, owner)
        const sql = yield* SqlClient.SqlClient
        const scope = yield* UserScope
        const [first] = yield* scope.run(
          owner,
          sql<{ analysed_at: Date; seq: string }>`
          SELECT a.analysed_at, m.seq::text AS seq FROM email_analysis a JOIN embeddings m USING (email_id)`
        )

        const foreign = yield* call(base, "POST", `/api/v1/emails/${id}/reprocess`, { headers: as(stranger) })
        assert.strictEqual(foreign.status, 404, foreign.text)
        assert.strictEqual(field(foreign.body, "_tag"), "EmailNotFound")

        const accepted = yield* call(base, "POST", `/api/v1/emails/${id}/reprocess`, { headers: as(owner) })
        assert.strictEqual(accepted.status, 202, accepted.text)
        assert.strictEqual(field(accepted.body, "state"), "queued")
        const analyzeJob = yield* waitForJob(base, owner, String(field(accepted.body, "jobId")))
        const embedJob = yield* waitForJob(base, owner, String(field(accepted.body, "embedding", "jobId")))
        assert.strictEqual(field(analyzeJob, "kind"), "mail.analyze")
        assert.deepStrictEqual(field(analyzeJob, "result"), { analysed: 1, failed: 0 })
        assert.deepStrictEqual(field(embedJob, "result"), { embedded: 1, failed: 0, model: "offline-hash-v1-384" })
        const [second] = yield* scope.run(
          owner,
          sql<{ analysed_at: Date; seq: string }>`
          SELECT a.analysed_at, m.seq::text AS seq FROM email_analysis a JOIN embeddings m USING (email_id)`
        )
        assert.isTrue((second?.analysed_at.getTime() ?? 0) > (first?.analysed_at.getTime() ?? 0))
        assert.isTrue(BigInt(second?.seq ?? "0") > BigInt(first?.seq ?? "0"))

        const unknown = yield* call(base, "POST", `/api/v1/emails/${crypto.randomUUID()}/reprocess`, {
          headers: as(owner)
        })
        assert.strictEqual(unknown.status, 404)
        const malformed = yield* call(base, "POST", "/api/v1/emails/nope/reprocess", { headers: as(owner) })
        assert.strictEqual(malformed.status, 400)
      }).pipe(Effect.orDie)
    )

    it.effect("re-embeds all of a user's mail on request, with progress", () =>
      Effect.gen(function* () {
        const base = yield* baseUrl
        const owner = newUser()
        const box = yield* makeMailbox(owner)
        yield* insertMails(box, [invoice, newsletter, meeting])
        yield* processAll(base, owner)
        const accepted = yield* call(base, "POST", "/api/v1/embeddings/reprocess", { headers: as(owner) })
        assert.strictEqual(accepted.status, 202, accepted.text)
        const job = yield* waitForJob(base, owner, String(field(accepted.body, "jobId")))
        assert.strictEqual(field(job, "kind"), "mail.embed")
        assert.deepStrictEqual(field(job, "result"), { embedded: 3, failed: 0, model: "offline-hash-v1-384" })
        assert.deepStrictEqual(field(job, "progress", "phase"), "re-embedding")
        assert.deepStrictEqual(field(job, "progress", "done"), 3)
        assert.deepStrictEqual(field(job, "progress", "total"), 3)
      }).pipe(Effect.orDie)
    )

    it.effect("runs for the job's owner only, whatever owner a payload names", () =>
      Effect.gen(function* () {
        const base = yield* baseUrl
        const owner = newUser()
        const other = newUser()
        const [mine] = yield* insertMails(yield* makeMailbox(owner), [invoice])
        const [theirs] = yield* insertMails(yield* makeMailbox(other), [invoice])
        const jobs = yield* Jobs
        // the shape of a payload queued before the owner left payloads (issue 13): an `owner` field
        // naming someone else, and ids of both users' messages
        const stale = { owner: other, emailIds: [EmailId.make(mine ?? ""), EmailId.make(theirs ?? "")] as const }
        const submitted = yield* jobs.submit(AnalyzeMailJob, stale, { ownerId: owner }).pipe(Effect.orDie)
        const job = yield* waitForJob(base, owner, submitted.jobId)
        assert.strictEqual(field(job, "state"), "succeeded", JSON.stringify(job))
        assert.deepStrictEqual(field(job, "result"), { analysed: 1, failed: 0 })
        assert.strictEqual((yield* emailState(owner, mine ?? "")).analysis_state, "analysed")
        assert.strictEqual((yield* emailState(other, theirs ?? "")).analysis_state, "pending")
      }).pipe(Effect.orDie)
    )
  }
)

const fakeLayer = fakeOpenAiAppLayer({ AI_TIMEOUT_MS: "2000" })

layer(fakeLayer, { excludeTestServices: true, timeout: "90 seconds" })(
  "mail.analyze and mail.embed against an OpenAI-compatible server",
  (it) => {
    it.effect("stores the model's answer with provider, model and confidence; vectors with model and dimension", () =>
      Effect.gen(function* () {
        const base = yield* baseUrl
        const fake = yield* FakeOpenAiServer
        fake.onChat(() => completion(JSON.stringify(validAnalysis)))
        const owner = newUser()
        const box = yield* makeMailbox(owner)
        const [id] = yield* insertMails(box, [invoice])
        const { analyzed, embedded } = yield* processAll(base, owner)
        assert.deepStrictEqual(field(analyzed, "result"), { analysed: 1, failed: 0 })
        assert.deepStrictEqual(field(embedded, "result"), { embedded: 1, failed: 0, model: "fake-embed" })
        const detail = yield* getJson(base, owner, `/api/v1/emails/${id}`)
        assert.strictEqual(field(detail, "analysis", "provider"), "openai-compatible")
        assert.strictEqual(field(detail, "analysis", "model"), "fake-model")
        assert.strictEqual(field(detail, "analysis", "confidence"), Math.fround(validAnalysis.confidence))
        assert.strictEqual(field(detail, "analysis", "summary"), validAnalysis.summary)
        assert.strictEqual(field(detail, "band"), "yellow") // 2 x 2 + 3 = 7
        const sql = yield* SqlClient.SqlClient
        const scope = yield* UserScope
        const [vector] = yield* scope.run(
          owner,
          sql<{ model: string; dimension: number; n: number }>`
          SELECT model, dimension, cardinality(vector) AS n FROM embeddings`
        )
        assert.deepStrictEqual({ ...vector }, { model: "fake-embed", dimension: 8, n: 8 })
        // the mail went to the model as delimited data
        const prompt = JSON.stringify(fake.chatRequests().at(-1)?.body)
        assert.include(prompt, "MAIL_DATA")
        assert.include(prompt, "Rechnungsbetrag")
      }).pipe(Effect.orDie)
    )

    it.effect("retries a transient provider failure as a job retry; finished work is kept", () =>
      Effect.gen(function* () {
        const base = yield* baseUrl
        const fake = yield* FakeOpenAiServer
        // the first request fails (503), every later one answers
        fake.onChat((_request, n) =>
          n === 1
            ? { status: 503, json: { error: { message: "overloaded" } } }
            : completion(JSON.stringify(validAnalysis))
        )
        const owner = newUser()
        const box = yield* makeMailbox(owner)
        const [id] = yield* insertMails(box, [meeting])
        const { analyzed } = yield* processAll(base, owner)
        assert.strictEqual(field(analyzed, "state"), "succeeded", JSON.stringify(analyzed))
        assert.strictEqual(field(analyzed, "attempts"), 2)
        assert.deepStrictEqual(field(analyzed, "result"), { analysed: 1, failed: 0 })
        const state = yield* emailState(owner, id ?? "")
        assert.strictEqual(state.analysis_state, "analysed")
        assert.strictEqual(state.analysis_attempts, 2)
        assert.isNull(state.analysis_error)
      }).pipe(Effect.orDie)
    )

    it.effect("marks a message failed with the reason when the output does not match the schema", () =>
      Effect.gen(function* () {
        const base = yield* baseUrl
        const fake = yield* FakeOpenAiServer
        fake.onChat(() => completion('{"urgency": 7, "category": "whatever"'))
        const owner = newUser()
        const box = yield* makeMailbox(owner)
        const [id] = yield* insertMails(box, [newsletter])
        const { analyzed } = yield* processAll(base, owner)
        assert.strictEqual(field(analyzed, "state"), "succeeded")
        assert.deepStrictEqual(field(analyzed, "result"), { analysed: 0, failed: 1 })
        // retried once inside the provider, then given up: never a made-up default
        assert.strictEqual(fake.chatRequests().length >= 2, true)
        const detail = yield* getJson(base, owner, `/api/v1/emails/${id}`)
        assert.strictEqual(field(detail, "analysisState"), "failed")
        assert.strictEqual(field(detail, "analysisAttempts"), 1)
        assert.include(String(field(detail, "analysisError")), "invalid_output")
        assert.isNull(field(detail, "analysis"))
        assert.isNull(field(detail, "score"))
        // a failed message is not pending: the next run leaves it alone
        const again = yield* processAll(base, owner)
        assert.deepStrictEqual(field(again.analyzed, "result"), { analysed: 0, failed: 0 })
      }).pipe(Effect.orDie)
    )

    it.effect("fails the job on a rejected key and leaves the mail pending", () =>
      Effect.gen(function* () {
        const base = yield* baseUrl
        const fake = yield* FakeOpenAiServer
        fake.onChat(() => ({ status: 401, json: { error: { message: "Incorrect API key provided" } } }))
        const owner = newUser()
        const box = yield* makeMailbox(owner)
        const [id] = yield* insertMails(box, [meeting])
        const { analyzed } = yield* processAll(base, owner)
        assert.strictEqual(field(analyzed, "state"), "failed")
        assert.strictEqual(field(analyzed, "attempts"), 1)
        assert.strictEqual(field(analyzed, "error", "code"), "provider_configuration")
        const state = yield* emailState(owner, id ?? "")
        assert.strictEqual(state.analysis_state, "pending")
        assert.include(state.analysis_error ?? "", "401")
      }).pipe(Effect.orDie)
    )

    it.effect("marks a message failed when the provider refuses it (400), and goes on with the others", () =>
      Effect.gen(function* () {
        const base = yield* baseUrl
        const fake = yield* FakeOpenAiServer
        fake.onChat((request) =>
          request.rawBody.includes("POISON")
            ? { status: 400, json: { error: { message: "context length exceeded" } } }
            : completion(JSON.stringify(validAnalysis))
        )
        fake.onEmbeddings((request) => {
          if (request.rawBody.includes("POISON")) return { status: 400, json: { error: { message: "input too long" } } }
          const input =
            typeof request.body === "object" && request.body !== null && "input" in request.body
              ? request.body.input
              : []
          const texts = Array.isArray(input) ? input : []
          return {
            json: {
              object: "list",
              data: texts.map((_t: unknown, index: number) => ({ index, embedding: [1, 0, 0, 0, 0, 0, 0, index] }))
            }
          }
        })
        const owner = newUser()
        const box = yield* makeMailbox(owner)
        const [good, poison] = yield* insertMails(box, [meeting, { ...meeting, text: "POISON pill" }])
        const { analyzed, embedded } = yield* processAll(base, owner)
        assert.deepStrictEqual(field(analyzed, "result"), { analysed: 1, failed: 1 })
        assert.deepStrictEqual(field(embedded, "result"), { embedded: 1, failed: 1, model: "fake-embed" })
        const goodState = yield* emailState(owner, good ?? "")
        assert.strictEqual(goodState.analysis_state, "analysed")
        assert.strictEqual(goodState.embedding_state, "embedded")
        const poisonState = yield* emailState(owner, poison ?? "")
        assert.strictEqual(poisonState.analysis_state, "failed")
        assert.include(poisonState.analysis_error ?? "", "context length exceeded")
        assert.strictEqual(poisonState.embedding_state, "failed")
        assert.include(poisonState.embedding_error ?? "", "input too long")
      }).pipe(Effect.orDie)
    )
  }
)
