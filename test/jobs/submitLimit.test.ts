import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import { PingJob } from "../../src/contract/jobs/PingJob.ts"
import { Jobs } from "../../src/jobs/Jobs.ts"
import { UserId } from "../../src/contract/users/UserId.ts"
import { apiTestLayer } from "../harness/apiLayer.ts"
import { baseUrl, call, field } from "../harness/http.ts"
import { operationsOf, record } from "../http/openapi.ts"

/*
 * Item 13 of the hardening issue: one user could submit about 1,600 jobs in 20 s. Every submit a
 * user makes through the API spends a token of their bucket (burst 20 here, refilled at one a
 * minute, so no token comes back while the test runs); past it: 429 with Retry-After. What the
 * system submits on its own is never limited.
 */
const TestLayer = apiTestLayer({ JOB_SUBMIT_BURST: "20", JOB_SUBMIT_RATE_PER_MINUTE: "1" })

const alice = UserId.make("66666666-6666-4666-8666-666666666666")
const bob = UserId.make("77777777-7777-4777-8777-777777777777")

const burst = (base: string, user: string, n: number) =>
  Effect.forEach(
    Array.from({ length: n }, (_, i) => i),
    (i) =>
      call(base, "POST", "/api/v1/debug/ping", {
        json: { message: `burst ${i}` },
        headers: { "x-test-user": user }
      }),
    { concurrency: "unbounded" }
  )

layer(TestLayer, { excludeTestServices: true, timeout: "60 seconds" })("per-user submit limit", (it) => {
  it.effect("of many parallel submits exactly the budget passes, per user; the rest get 429 with Retry-After", () =>
    Effect.gen(function* () {
      const base = yield* baseUrl
      // two users at once: each has a bucket of their own
      const [fromAlice, fromBob] = yield* Effect.all([burst(base, alice, 60), burst(base, bob, 35)], {
        concurrency: "unbounded"
      })
      for (const [responses, total] of [
        [fromAlice, 60],
        [fromBob, 35]
      ] as const) {
        const statuses = responses.map((response) => response.status)
        assert.strictEqual(statuses.filter((status) => status === 202).length, 20, statuses.join(","))
        assert.strictEqual(statuses.filter((status) => status === 429).length, total - 20, statuses.join(","))
      }
      const refused = fromAlice.find((response) => response.status === 429)
      assert.isDefined(refused)
      if (refused === undefined) return
      assert.strictEqual(field(refused.body, "_tag"), "TooManyRequests", refused.text)
      assert.match(String(field(refused.body, "message")), /at most 1 per minute/)
      const retryAfter = Number(refused.headers.get("retry-after"))
      assert.isTrue(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 60, `Retry-After ${retryAfter}`)
      assert.strictEqual(field(refused.body, "retryAfterSeconds"), retryAfter)
      assert.include(refused.headers.get("content-type") ?? "", "application/json")
    })
  )

  it.effect("what the system submits for a user is not limited, even with the user's budget spent", () =>
    Effect.gen(function* () {
      const base = yield* baseUrl
      const carol = UserId.make("88888888-8888-4888-8888-888888888888")
      const responses = yield* burst(base, carol, 25)
      assert.strictEqual(responses.filter((response) => response.status === 429).length, 5)
      const jobs = yield* Jobs
      // e.g. a sync queueing its follow-up work: the same submit path, outside any request
      const internal = yield* Effect.forEach(
        Array.from({ length: 30 }, (_, i) => i),
        (i) => jobs.submit(PingJob, { message: `internal ${i}` }, { ownerId: carol }),
        { concurrency: 10 }
      )
      assert.strictEqual(internal.filter((submitted) => submitted.created).length, 30)
      // and the user is still limited
      const again = yield* call(base, "POST", "/api/v1/debug/ping", {
        json: {},
        headers: { "x-test-user": carol }
      })
      assert.strictEqual(again.status, 429, again.text)
    })
  )

  it.effect("every operation that queues work (202) declares the 429, and one budget covers them all", () =>
    Effect.gen(function* () {
      const base = yield* baseUrl
      const document = (yield* call(base, "GET", "/openapi.json")).body
      // a POST answered 202 queues a job (a DELETE answered 202 is a cancel, which queues nothing)
      const queuing = operationsOf(document).filter(
        (operation) => operation.method === "POST" && "202" in record(operation.operation["responses"])
      )
      // accounts sync, rules apply and undo, email reprocess, re-embed, debug ping (at least)
      assert.isAtLeast(queuing.length, 6, queuing.map((operation) => operation.key).join(", "))
      const undeclared = queuing.filter((operation) => !("429" in record(operation.operation["responses"])))
      assert.deepStrictEqual(
        undeclared.map((operation) => operation.key),
        [],
        "operations that queue work without the per-user limit"
      )
      // the same user's budget, spent on pings, also refuses a re-embed (a submit of another kind)
      const dave = UserId.make("99999999-9999-4999-8999-999999999999")
      const spent = yield* burst(base, dave, 21)
      assert.strictEqual(spent.filter((response) => response.status === 429).length, 1)
      const reembed = yield* call(base, "POST", "/api/v1/embeddings/reprocess", { headers: { "x-test-user": dave } })
      assert.strictEqual(reembed.status, 429, reembed.text)
      assert.isNotNull(reembed.headers.get("retry-after"))
    })
  )
})
