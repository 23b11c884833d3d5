import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import { AnalyzeMailJob } from "../../src/contract/jobs/AnalyzeMailJob.ts"
import { EmbedMailJob } from "../../src/contract/jobs/EmbedMailJob.ts"
import { UserId } from "../../src/contract/users/UserId.ts"
import { Jobs } from "../../src/jobs/Jobs.ts"
import { emailState, insertMails, type MailSpec, makeMailbox } from "../emails/fixtures.ts"
import { as, getJson, waitForJob } from "../emails/helpers.ts"
import { baseUrl, call, field } from "../harness/http.ts"
import { completion, embeddings, type FakeOpenAi, validAnalysis } from "./fakeOpenAi.ts"
import { FakeOpenAiServer, fakeOpenAiAppLayer } from "./fakeOpenAiApp.ts"

// The daily AI token budget (issue 15, item 3) against the fake OpenAI-compatible server: usage is
// counted exactly as the server reports it, a job stops before the batch after the one that used the
// budget up, later jobs fail without calling the provider, and other users are not affected.

const newUser = () => UserId.make(crypto.randomUUID())
const admin = { "x-test-user": "99999999-9999-4999-8999-999999999999", "x-test-role": "admin" }

const mail = (n: number): MailSpec => ({
  subject: `Message ${n}`,
  from: { name: "Sender", address: `sender${n}@example.com` },
  text: `Hello, this is message number ${n}. Please reply by Friday.`
})

/** Chat answers that report 70 + 30 = 100 tokens, embeddings that report 7 tokens per input. */
const scripted = (fake: FakeOpenAi) => {
  fake.onChat(() =>
    completion(JSON.stringify(validAnalysis), "stop", { prompt_tokens: 70, completion_tokens: 30, total_tokens: 100 })
  )
  fake.onEmbeddings(embeddings({ tokens: (inputs) => 7 * inputs }))
}

const fakeLayer = fakeOpenAiAppLayer(
  {
    AI_TIMEOUT_MS: "5000",
    ANALYSIS_BATCH_SIZE: "2",
    ANALYSIS_CONCURRENCY: "2",
    EMBEDDING_BATCH_SIZE: "2",
    AI_DAILY_TOKEN_BUDGET: "300"
  },
  scripted
)

const submitAndWait = (kind: "analyze" | "embed", owner: UserId) =>
  Effect.gen(function* () {
    const base = yield* baseUrl
    const jobs = yield* Jobs
    const submitted = yield* (
      kind === "analyze"
        ? jobs.submit(AnalyzeMailJob, {}, { ownerId: owner })
        : jobs.submit(EmbedMailJob, {}, { ownerId: owner })
    ).pipe(Effect.orDie)
    return yield* waitForJob(base, owner, submitted.jobId)
  })

/** The chat / embedding requests whose mail belongs to `owner` (the subjects carry the owner's tag). */
const requestsMentioning = (requests: ReadonlyArray<{ readonly rawBody: string }>, tag: string) =>
  requests.filter((request) => request.rawBody.includes(tag)).length

layer(fakeLayer, { excludeTestServices: true, timeout: "120 seconds" })("daily AI token budget", (it) => {
  it.effect("counts reported usage, stops at the batch after the limit, later jobs make no call, others go on", () =>
    Effect.gen(function* () {
      const base = yield* baseUrl
      const fake = yield* FakeOpenAiServer
      const alice = newUser()
      const bob = newUser()
      const aliceTag = `alice-${alice.slice(0, 8)}`
      const box = yield* makeMailbox(alice)
      const ids = yield* insertMails(
        box,
        [1, 2, 3, 4, 5, 6].map((n) => ({ ...mail(n), subject: `${aliceTag} message ${n}` }))
      )

      // budget 300, 100 tokens a call, batches of 2: batch 1 -> 200, batch 2 -> 400, then stop
      const analysed = yield* submitAndWait("analyze", alice)
      assert.strictEqual(field(analysed, "state"), "failed", JSON.stringify(analysed))
      assert.strictEqual(field(analysed, "error", "code"), "token_budget_exhausted")
      assert.strictEqual(field(analysed, "attempts"), 1, "a permanent failure: no retry loop")
      assert.strictEqual(requestsMentioning(fake.chatRequests(), aliceTag), 4)
      const states = yield* Effect.forEach(ids, (id) => emailState(alice, id))
      assert.strictEqual(states.filter((s) => s.analysis_state === "analysed").length, 4)
      assert.strictEqual(states.filter((s) => s.analysis_state === "pending").length, 2, "the rest stays pending")

      const budget = yield* getJson(base, alice, "/api/v1/analysis/budget")
      assert.strictEqual(field(budget, "limit"), 300)
      assert.strictEqual(field(budget, "used"), 400, "exactly the usage the server reported")
      assert.strictEqual(field(budget, "remaining"), 0)
      const resetAt = new Date(String(field(budget, "resetAt")))
      assert.strictEqual(resetAt.getUTCHours() + resetAt.getUTCMinutes() + resetAt.getUTCSeconds(), 0)
      assert.isTrue(resetAt.getTime() > Date.now() && resetAt.getTime() - Date.now() <= 86_400_000)

      // later jobs of alice's fail at once, without a provider call
      const chatsBefore = fake.chatRequests().length
      const embedsBefore = fake.embeddingRequests().length
      const again = yield* submitAndWait("analyze", alice)
      assert.strictEqual(field(again, "error", "code"), "token_budget_exhausted")
      const embedded = yield* submitAndWait("embed", alice)
      assert.strictEqual(field(embedded, "state"), "failed")
      assert.strictEqual(field(embedded, "error", "code"), "token_budget_exhausted")
      assert.strictEqual(requestsMentioning(fake.chatRequests().slice(chatsBefore), aliceTag), 0)
      assert.strictEqual(requestsMentioning(fake.embeddingRequests().slice(embedsBefore), aliceTag), 0)

      // bob has his own budget
      const bobBox = yield* makeMailbox(bob)
      yield* insertMails(bobBox, [mail(7), mail(8)])
      const bobAnalysed = yield* submitAndWait("analyze", bob)
      assert.strictEqual(field(bobAnalysed, "state"), "succeeded", JSON.stringify(bobAnalysed))
      assert.deepStrictEqual(field(bobAnalysed, "result"), { analysed: 2, failed: 0 })
      const bobEmbedded = yield* submitAndWait("embed", bob)
      assert.strictEqual(field(bobEmbedded, "state"), "succeeded", JSON.stringify(bobEmbedded))
      // 2 chat calls of 100 + one embeddings call of 2 inputs x 7
      const bobBudget = yield* getJson(base, bob, "/api/v1/analysis/budget")
      assert.strictEqual(field(bobBudget, "used"), 214)
      assert.strictEqual(field(bobBudget, "remaining"), 86)
      // and alice's figures are not bob's
      assert.strictEqual(field(yield* getJson(base, alice, "/api/v1/analysis/budget"), "used"), 400)
    }).pipe(Effect.orDie)
  )

  it.effect("an admin override lifts the budget (GET/PUT), others get 403, an unknown user 404", () =>
    Effect.gen(function* () {
      const base = yield* baseUrl
      const carol = newUser()
      const box = yield* makeMailbox(carol)
      const [firstId] = yield* insertMails(box, [mail(1), mail(2), mail(3)])

      const shown = yield* call(base, "GET", `/api/v1/admin/users/${carol}/token-budget`, { headers: admin })
      assert.strictEqual(shown.status, 200, shown.text)
      assert.strictEqual(field(shown.body, "override"), null)
      assert.strictEqual(field(shown.body, "default"), 300)
      assert.strictEqual(field(shown.body, "budget", "limit"), 300)

      const set = yield* call(base, "PUT", `/api/v1/admin/users/${carol}/token-budget`, {
        headers: admin,
        json: { dailyTokens: 1000 }
      })
      assert.strictEqual(set.status, 200, set.text)
      assert.strictEqual(field(set.body, "override"), 1000)
      assert.strictEqual(field(set.body, "budget", "limit"), 1000)

      const analysed = yield* submitAndWait("analyze", carol)
      assert.strictEqual(field(analysed, "state"), "succeeded", JSON.stringify(analysed))
      const own = yield* getJson(base, carol, "/api/v1/analysis/budget")
      assert.strictEqual(field(own, "limit"), 1000)
      assert.strictEqual(field(own, "used"), 300)

      // back to the default: 300 used of 300, the next job stops before its first batch
      const reset = yield* call(base, "PUT", `/api/v1/admin/users/${carol}/token-budget`, {
        headers: admin,
        json: { dailyTokens: null }
      })
      assert.strictEqual(reset.status, 200, reset.text)
      assert.strictEqual(field(reset.body, "budget", "remaining"), 0)
      const embedded = yield* submitAndWait("embed", carol)
      assert.strictEqual(field(embedded, "error", "code"), "token_budget_exhausted")
      assert.strictEqual((yield* emailState(carol, firstId ?? "")).embedding_state, "pending")

      // not an admin: 403, also for the user's own id
      for (const [method, json] of [
        ["GET", undefined],
        ["PUT", { dailyTokens: 5 }]
      ] as const) {
        const refused = yield* call(base, method, `/api/v1/admin/users/${carol}/token-budget`, {
          headers: as(carol),
          ...(json === undefined ? {} : { json })
        })
        assert.strictEqual(refused.status, 403, refused.text)
      }
      // an unknown user: 404 UserNotFound
      const nobody = newUser()
      for (const [method, json] of [
        ["GET", undefined],
        ["PUT", { dailyTokens: 5 }]
      ] as const) {
        const missing = yield* call(base, method, `/api/v1/admin/users/${nobody}/token-budget`, {
          headers: admin,
          ...(json === undefined ? {} : { json })
        })
        assert.strictEqual(missing.status, 404, missing.text)
        assert.strictEqual(field(missing.body, "_tag"), "UserNotFound")
      }
    }).pipe(Effect.orDie)
  )
})
