import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import { AnalyzeMailJob } from "../../src/contract/jobs/AnalyzeMailJob.ts"
import { EmailId } from "../../src/contract/emails/EmailId.ts"
import { UserId } from "../../src/contract/users/UserId.ts"
import { Jobs } from "../../src/jobs/Jobs.ts"
import { completion, validAnalysis } from "../analysis/fakeOpenAi.ts"
import { FakeOpenAiServer, fakeOpenAiAppLayer } from "../analysis/fakeOpenAiApp.ts"
import { emailState, insertMails, makeMailbox } from "../emails/fixtures.ts"
import { as, waitForJob } from "../emails/helpers.ts"
import { baseUrl, call, field } from "../harness/http.ts"
import { connected, eventually, openSse } from "./sseClient.ts"

const CLAIM_SECONDS = 2
/**
 * The real API and worker, analysing through a scripted OpenAI-compatible server (its answers can be
 * held back). Claims are short: two jobs analyse one message only when the first one's provider call
 * outlasts its claim (src/analysis/README.md, "Claims").
 */
const TestLayer = fakeOpenAiAppLayer({ AI_TIMEOUT_MS: "20000", MAIL_CLAIM_SECONDS: String(CLAIM_SECONDS) })

layer(TestLayer, { excludeTestServices: true, timeout: "120 seconds" })("mail.analysed: once per message", (it) => {
  it.effect(
    "a message analysed by two jobs at once (a first page's job beside the owner's) is announced once and its rules queued once",
    () =>
      Effect.gen(function* () {
        const base = yield* baseUrl
        const fake = yield* FakeOpenAiServer
        const jobs = yield* Jobs
        // the first analysis is held back past its claim, so the second job reads the same message as
        // pending and saves it first; the first then finds it analysed
        fake.onChat((_request, n) => ({ ...completion(JSON.stringify(validAnalysis)), delayMs: n === 1 ? 6_000 : 0 }))
        const owner = UserId.make(crypto.randomUUID())
        const box = yield* makeMailbox(owner)
        const [id] = yield* insertMails(box, [
          { subject: "Twice analysed", from: { name: "Sender", address: "sender@events.test" }, text: "Hello." }
        ])
        assert.isDefined(id)
        const emailId = EmailId.make(id ?? "")

        // an enabled rule: analysed mail queues rules.apply
        const rule = yield* call(base, "POST", "/api/v1/rules", {
          json: {
            name: "tag it",
            priority: 10,
            conditions: [{ field: "subject", op: "contains", value: "Twice" }],
            actions: [{ type: "addTag", tag: "twice" }]
          },
          headers: as(owner)
        })
        assert.strictEqual(rule.status, 201, rule.text)

        const stream = yield* openSse(`${base}/api/v1/events?types=mail.analysed,job.changed`, as(owner))
        yield* connected(stream)
        const payloads = () =>
          stream.events().map((message) => ({ type: message.event, data: JSON.parse(message.data ?? "null") }))

        const first = yield* jobs.submit(AnalyzeMailJob, { emailIds: [emailId] }, { ownerId: owner })
        yield* eventually("the first job's analysis started", () => fake.chatRequests().length >= 1)
        // the first job's claim expires while its answer is held back: the message is due again
        yield* Effect.sleep(`${CLAIM_SECONDS * 1_000 + 500} millis`)
        const second = yield* jobs.submit(AnalyzeMailJob, {}, { ownerId: owner })
        const secondEnded = yield* waitForJob(base, owner, second.jobId)
        const firstEnded = yield* waitForJob(base, owner, first.jobId)
        assert.strictEqual(field(firstEnded, "state"), "succeeded", JSON.stringify(firstEnded))
        assert.strictEqual(field(secondEnded, "state"), "succeeded", JSON.stringify(secondEnded))
        // the precondition: both jobs really analysed the message (else this test proves nothing)
        assert.lengthOf(fake.chatRequests(), 2)
        assert.strictEqual((yield* emailState(owner, emailId)).analysis_state, "analysed")

        // both jobs have ended and published what they were going to: one event, for that message
        const rulesJobs = () =>
          new Set(
            payloads()
              .filter((event) => event.type === "job.changed" && field(event.data, "kind") === "rules.apply")
              .map((event) => String(field(event.data, "jobId")))
          )
        yield* eventually("the analysed event and the rules job", () => rulesJobs().size >= 1)
        yield* Effect.sleep("300 millis")
        const analysed = payloads()
          .filter((event) => event.type === "mail.analysed")
          .map((event) => String(field(event.data, "emailId")))
        assert.deepStrictEqual(analysed, [emailId])
        // one rules.apply for the message: the job that saved it queued it, the other did not
        assert.strictEqual(rulesJobs().size, 1, `rules.apply jobs: ${[...rulesJobs()].join(", ")}`)
      }).pipe(Effect.scoped, Effect.orDie)
  )
})
