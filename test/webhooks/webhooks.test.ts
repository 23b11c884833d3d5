import { NodeHttpServer } from "@effect/platform-node"
import { assert, describe, layer } from "@effect/vitest"
import { Effect, Layer, Schedule } from "effect"
import { HttpRouter } from "effect/http"
import { PrometheusMetrics } from "effect/observability"
import { SqlClient } from "effect/sql"
import { createHmac, timingSafeEqual } from "node:crypto"
import { MailAnalysed, eventStreams } from "../../src/contract/events/UserEvent.ts"
import { EmailId } from "../../src/contract/emails/EmailId.ts"
import { EventBus } from "../../src/events/EventBus.ts"
import { HttpAppLive } from "../../src/main/httpLayers.ts"
import { JobsLive, PlatformLive } from "../../src/main/layers.ts"
import { WorkerLive } from "../../src/main/workerLayers.ts"
import { Redis } from "../../src/platform/Redis.ts"
import { UserScope } from "../../src/users/UserScope.ts"
import { configLayer, withTestEnv } from "../harness/TestEnv.ts"
import { TestAuthenticationLive } from "../harness/TestAuthentication.ts"
import { baseUrl, call, field } from "../harness/http.ts"
import { receiver } from "./receiver.ts"

const group = `webhooks-test-${crypto.randomUUID()}`

/** The test's consumer group goes with the test (the event stream is shared by every test run). */
const DropGroupLive = Layer.effectDiscard(
  Effect.gen(function* () {
    const redis = yield* Redis
    yield* Effect.addFinalizer(() =>
      Effect.ignore(
        redis.use("drop test group", (client) => client.xgroup("DESTROY", eventStreams.all(redis.prefix), group))
      )
    )
  })
)

const TestLayer = withTestEnv(
  (env) =>
    Layer.mergeAll(
      HttpRouter.serve(HttpAppLive(TestAuthenticationLive), { disableLogger: true, disableListenLog: true }).pipe(
        Layer.provideMerge(NodeHttpServer.layerTest)
      ),
      WorkerLive,
      DropGroupLive
    ).pipe(Layer.provideMerge(JobsLive), Layer.provideMerge(PlatformLive), Layer.provide(configLayer(env))),
  {
    WEBHOOK_ALLOW_HTTP: "true",
    // the default policy (public-only) with the receiver's loopback address admitted: deliveries still
    // go through the resolve-check-pin path; other non-public addresses stay refused
    WEBHOOK_ALLOWED_NETWORKS: "127.0.0.1/32",
    WEBHOOK_DISABLE_AFTER_FAILURES: "3",
    WEBHOOK_CONSUMER_GROUP: group
  }
)

const newUser = () => crypto.randomUUID()
const as = (user: string) => ({ "x-test-user": user })

/** Polls `check` (an effect) until it is true; generous, the machine is shared. */
const until = <E, R>(what: string, check: Effect.Effect<boolean, E, R>) =>
  check.pipe(
    Effect.flatMap((ok) => (ok ? Effect.void : Effect.fail(what))),
    Effect.retry(Schedule.spaced("100 millis").pipe(Schedule.upTo({ times: 1200 }))),
    Effect.mapError((error) => new Error(`timed out waiting: ${String(error)}`)),
    Effect.orDie
  )

/** webhook_deliveries_total by outcome, as this process (the test's worker) exports it. */
const deliveryOutcomes = PrometheusMetrics.format().pipe(
  Effect.map((text) => {
    const counts: Record<string, number> = {}
    for (const match of text.matchAll(/^webhook_deliveries_total\{outcome="([a-z_]+)"\} (\S+)$/gm))
      counts[match[1] ?? ""] = Number(match[2])
    return counts
  })
)
const increase = (before: Record<string, number>, after: Record<string, number>) =>
  Object.fromEntries(
    Object.entries(after)
      .map(([outcome, value]) => [outcome, value - (before[outcome] ?? 0)] as const)
      .filter(([, value]) => value > 0)
  )

const publishAnalysed = (user: string) =>
  Effect.gen(function* () {
    const bus = yield* EventBus
    const emailId = crypto.randomUUID()
    yield* bus.publish(user, new MailAnalysed({ occurredAt: new Date(), emailId: EmailId.make(emailId) }))
    return emailId
  })

const create = (base: string, user: string, url: string, events: ReadonlyArray<string> = ["mail.analysed"]) =>
  call(base, "POST", "/api/v1/webhooks", { headers: as(user), json: { url, events } })

/** The receiver's recipe of docs/webhooks.md: recompute, compare in constant time, reject old timestamps. */
const verify = (secret: string, header: string | undefined, body: string, nowSeconds: number): boolean => {
  const parts = new Map(
    (header ?? "").split(",").map((part) => [part.slice(0, part.indexOf("=")), part.slice(part.indexOf("=") + 1)])
  )
  const t = Number(parts.get("t"))
  const v1 = parts.get("v1") ?? ""
  if (!Number.isInteger(t) || Math.abs(nowSeconds - t) > 300) return false
  const expected = createHmac("sha256", secret).update(`${t}.${body}`).digest("hex")
  return v1.length === expected.length && timingSafeEqual(Buffer.from(v1), Buffer.from(expected))
}

layer(TestLayer, { excludeTestServices: true, timeout: "180 seconds" })("webhooks", (it) => {
  describe("delivery", () => {
    it.effect("signs each delivery so that the documented recipe verifies it; the secret is shown only once", () =>
      Effect.scoped(
        Effect.gen(function* () {
          const base = yield* baseUrl
          const sink = yield* receiver
          const user = newUser()
          const created = yield* create(base, user, sink.url("/signed"))
          assert.strictEqual(created.status, 201, created.text)
          const secret = String(field(created.body, "secret"))
          const id = String(field(created.body, "webhook", "id"))
          assert.match(secret, /^whsec_/)

          const countedBefore = yield* deliveryOutcomes
          const emailId = yield* publishAnalysed(user)
          yield* until(
            "delivered",
            Effect.sync(() => sink.received.some((r) => r.path === "/signed"))
          )
          yield* until(
            "delivery counted",
            Effect.map(deliveryOutcomes, (after) => (after["delivered"] ?? 0) > (countedBefore["delivered"] ?? 0))
          )
          const request = sink.received.find((r) => r.path === "/signed")
          assert.isDefined(request)
          if (request === undefined) return
          const header = request.headers["x-mailhelper-signature"]
          assert.isTrue(
            verify(secret, typeof header === "string" ? header : undefined, request.body, Date.now() / 1000)
          )
          // a changed body or another secret does not verify
          assert.isFalse(
            verify(secret, typeof header === "string" ? header : undefined, `${request.body} `, Date.now() / 1000)
          )
          assert.isFalse(
            verify(`${secret}x`, typeof header === "string" ? header : undefined, request.body, Date.now() / 1000)
          )
          assert.strictEqual(request.headers["x-mailhelper-event"], "mail.analysed")
          assert.strictEqual(field(JSON.parse(request.body), "emailId"), emailId)

          yield* until(
            "logged as delivered",
            call(base, "GET", `/api/v1/webhooks/${id}/deliveries`, { headers: as(user) }).pipe(
              Effect.map((r) => field(r.body, "items", 0, "state") === "delivered")
            )
          )
          const log = yield* call(base, "GET", `/api/v1/webhooks/${id}/deliveries`, { headers: as(user) })
          assert.strictEqual(field(log.body, "items", 0, "lastStatus"), 200)
          assert.strictEqual(field(log.body, "items", 0, "attempts"), 1)
          assert.strictEqual(request.headers["x-mailhelper-delivery"], field(log.body, "items", 0, "id"))

          // never again: not in the reads, not in the job payloads, not in the table in clear
          const reads = yield* Effect.all([
            call(base, "GET", "/api/v1/webhooks", { headers: as(user) }),
            call(base, "GET", `/api/v1/webhooks/${id}`, { headers: as(user) }),
            call(base, "PATCH", `/api/v1/webhooks/${id}`, {
              headers: as(user),
              json: { events: ["mail.analysed", "mail.stored"] }
            })
          ])
          for (const read of reads) {
            assert.strictEqual(read.status, 200, read.text)
            assert.notInclude(read.text, secret)
          }
          const sql = yield* SqlClient.SqlClient
          const scope = yield* UserScope
          const rows = yield* scope.system(
            "test: stored payloads and secrets",
            sql<{ text: string }>`
              SELECT payload::text AS text FROM jobs WHERE kind = 'webhook.deliver' AND user_id = ${user}
              UNION ALL SELECT sealed_secret FROM webhooks WHERE id = ${id}`
          )
          assert.isAbove(rows.length, 1)
          for (const row of rows) assert.notInclude(row.text, secret.slice(6))

          // rotation: a new secret, shown once, signs the next delivery
          const rotated = yield* call(base, "POST", `/api/v1/webhooks/${id}/rotate-secret`, { headers: as(user) })
          assert.strictEqual(rotated.status, 200, rotated.text)
          const next = String(field(rotated.body, "secret"))
          assert.notStrictEqual(next, secret)
          const before = sink.received.length
          yield* publishAnalysed(user)
          yield* until(
            "delivered again",
            Effect.sync(() => sink.received.length > before)
          )
          const again = sink.received[before]
          const againHeader = again?.headers["x-mailhelper-signature"]
          assert.isTrue(
            verify(
              next,
              typeof againHeader === "string" ? againHeader : undefined,
              again?.body ?? "",
              Date.now() / 1000
            )
          )
        })
      )
    )

    it.effect("retries while the receiver is down, then delivers", () =>
      Effect.scoped(
        Effect.gen(function* () {
          const base = yield* baseUrl
          const sink = yield* receiver
          const user = newUser()
          sink.behaviours.set("/flaky", "drop")
          const created = yield* create(base, user, sink.url("/flaky"))
          assert.strictEqual(created.status, 201, created.text)
          const id = String(field(created.body, "webhook", "id"))
          yield* publishAnalysed(user)
          yield* until(
            "two failed attempts",
            Effect.sync(() => sink.received.filter((r) => r.path === "/flaky").length >= 2)
          )
          sink.behaviours.set("/flaky", "ok")
          yield* until(
            "delivered after retries",
            call(base, "GET", `/api/v1/webhooks/${id}/deliveries`, { headers: as(user) }).pipe(
              Effect.map((r) => field(r.body, "items", 0, "state") === "delivered")
            )
          )
          const log = yield* call(base, "GET", `/api/v1/webhooks/${id}/deliveries`, { headers: as(user) })
          assert.isAtLeast(Number(field(log.body, "items", 0, "attempts")), 3)
          const webhook = yield* call(base, "GET", `/api/v1/webhooks/${id}`, { headers: as(user) })
          assert.strictEqual(field(webhook.body, "enabled"), true)
          assert.strictEqual(field(webhook.body, "consecutiveFailures"), 0)
        })
      )
    )

    it.effect("disables a webhook that keeps failing, with the reason shown", () =>
      Effect.scoped(
        Effect.gen(function* () {
          const base = yield* baseUrl
          const sink = yield* receiver
          const user = newUser()
          sink.behaviours.set("/broken", "fail")
          const created = yield* create(base, user, sink.url("/broken"))
          const id = String(field(created.body, "webhook", "id"))
          const countedBefore = yield* deliveryOutcomes
          yield* publishAnalysed(user)
          yield* until(
            "disabled",
            call(base, "GET", `/api/v1/webhooks/${id}`, { headers: as(user) }).pipe(
              Effect.map((r) => field(r.body, "enabled") === false)
            )
          )
          const webhook = yield* call(base, "GET", `/api/v1/webhooks/${id}`, { headers: as(user) })
          assert.match(String(field(webhook.body, "disabledReason")), /3 failed deliveries in a row.*answered 500/)
          const attempts = sink.received.filter((r) => r.path === "/broken").length
          assert.strictEqual(attempts, 3)
          // two failures retried, the third disabled the webhook (webhook_deliveries_total)
          assert.deepStrictEqual(increase(countedBefore, yield* deliveryOutcomes), { retrying: 2, disabled: 1 })
          // disabled: a new event is not delivered
          const logBefore = yield* call(base, "GET", `/api/v1/webhooks/${id}/deliveries`, { headers: as(user) })
          assert.strictEqual(field(logBefore.body, "items", 0, "lastStatus"), 500)
        })
      )
    )

    it.effect("does not follow a redirect", () =>
      Effect.scoped(
        Effect.gen(function* () {
          const base = yield* baseUrl
          const sink = yield* receiver
          const user = newUser()
          sink.behaviours.set("/moved", "redirect")
          const created = yield* create(base, user, sink.url("/moved"))
          const id = String(field(created.body, "webhook", "id"))
          yield* publishAnalysed(user)
          yield* until(
            "the 302 logged",
            call(base, "GET", `/api/v1/webhooks/${id}/deliveries`, { headers: as(user) }).pipe(
              Effect.map((r) => field(r.body, "items", 0, "lastStatus") === 302)
            )
          )
          const log = yield* call(base, "GET", `/api/v1/webhooks/${id}/deliveries`, { headers: as(user) })
          assert.notStrictEqual(field(log.body, "items", 0, "state"), "delivered")
          assert.isFalse(sink.received.some((r) => r.path.includes("elsewhere")))
        })
      )
    )
  })

  describe("destinations", () => {
    it.effect("refuses private, loopback and link-local destinations, and non-https elsewhere", () =>
      Effect.gen(function* () {
        const base = yield* baseUrl
        const user = newUser()
        for (const url of [
          "https://10.1.2.3/hook",
          "https://192.168.0.10/hook",
          "https://169.254.169.254/latest/meta-data",
          "https://[::1]/hook",
          "https://[::ffff:10.0.0.1]/hook",
          "https://0x7f000002/hook",
          "ftp://example.com/hook"
        ]) {
          const answer = yield* create(base, user, url)
          assert.strictEqual(answer.status, 400, `${url}: ${answer.text}`)
          assert.strictEqual(field(answer.body, "_tag"), "WebhookUrlRefused", url)
        }
        const list = yield* call(base, "GET", "/api/v1/webhooks", { headers: as(user) })
        assert.deepStrictEqual(field(list.body, "items"), [])
      })
    )
  })

  describe("isolation", () => {
    it.effect("events of users without a webhook write no delivery, queue no job and cost no per-event query", () =>
      Effect.scoped(
        Effect.gen(function* () {
          const base = yield* baseUrl
          const sink = yield* receiver
          const sql = yield* SqlClient.SqlClient
          const scope = yield* UserScope
          const subscriber = newUser()
          const created = yield* create(base, subscriber, sink.url("/marker"))
          assert.strictEqual(created.status, 201, created.text)
          // a user whose only webhook receives other types is one "without a webhook" for these events
          const otherTypes = newUser()
          assert.strictEqual((yield* create(base, otherTypes, sink.url("/other"), ["rule.applied"])).status, 201)
          // transactions committed in this database (every per-event insert was one)
          const committed = scope
            .system(
              "test: transactions committed",
              sql<{ n: string }>`SELECT pg_stat_clear_snapshot()::text AS n UNION ALL
              SELECT xact_commit::text FROM pg_stat_database WHERE datname = current_database()`
            )
            .pipe(Effect.map((rows) => Number(rows[1]?.n ?? Number.NaN)))
          yield* Effect.sleep("1500 millis")
          const before = yield* committed
          const silent = Array.from({ length: 400 }, (_, i) => (i === 0 ? otherTypes : newUser()))
          for (const user of silent) yield* publishAnalysed(user)
          // dispatched in order: once the subscriber's later event is delivered, the others were handled
          const marker = yield* publishAnalysed(subscriber)
          yield* until(
            "marker delivered",
            Effect.sync(() => sink.received.some((r) => r.body.includes(marker)))
          )
          // statistics reach the shared counters within a second or so of a backend going idle
          yield* Effect.sleep("1500 millis")
          const spent = (yield* committed) - before
          assert.isBelow(spent, 200, `${spent} transactions for 400 events of users without a webhook`)

          const rows = yield* scope.system(
            "test: deliveries and jobs of the silent users",
            sql<{ n: string }>`
              SELECT count(*)::text AS n FROM webhook_deliveries WHERE user_id = ANY(${`{${silent.join(",")}}`}::uuid[])
              UNION ALL SELECT count(*)::text FROM jobs
              WHERE kind = 'webhook.deliver' AND user_id = ANY(${`{${silent.join(",")}}`}::uuid[])`
          )
          assert.deepStrictEqual(
            rows.map((row) => row.n),
            ["0", "0"]
          )
        })
      )
    )

    it.effect("another user's webhooks and deliveries are not found, and their events never reach my webhook", () =>
      Effect.scoped(
        Effect.gen(function* () {
          const base = yield* baseUrl
          const sink = yield* receiver
          const owner = newUser()
          const other = newUser()
          const created = yield* create(base, owner, sink.url("/mine"))
          const id = String(field(created.body, "webhook", "id"))
          for (const [method, path] of [
            ["GET", `/api/v1/webhooks/${id}`],
            ["GET", `/api/v1/webhooks/${id}/deliveries`],
            ["PATCH", `/api/v1/webhooks/${id}`],
            ["DELETE", `/api/v1/webhooks/${id}`],
            ["POST", `/api/v1/webhooks/${id}/rotate-secret`]
          ] as const) {
            const answer = yield* call(base, method, path, {
              headers: as(other),
              ...(method === "PATCH" ? { json: { enabled: false } } : {})
            })
            assert.strictEqual(answer.status, 404, `${method} ${path}: ${answer.text}`)
          }
          const list = yield* call(base, "GET", "/api/v1/webhooks", { headers: as(other) })
          assert.deepStrictEqual(field(list.body, "items"), [])

          // the other user's event does not reach the owner's webhook; the owner's own does (and comes after)
          const otherEmail = yield* publishAnalysed(other)
          const ownEmail = yield* publishAnalysed(owner)
          yield* until(
            "own event delivered",
            Effect.sync(() => sink.received.some((r) => r.body.includes(ownEmail)))
          )
          assert.isFalse(sink.received.some((r) => r.body.includes(otherEmail)))
          const still = yield* call(base, "GET", `/api/v1/webhooks/${id}`, { headers: as(owner) })
          assert.strictEqual(field(still.body, "enabled"), true)
        })
      )
    )
  })
})
