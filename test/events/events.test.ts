import { NodeHttpServer } from "@effect/platform-node"
import { assert, describe, layer } from "@effect/vitest"
import { Effect, Layer, Schedule } from "effect"
import { HttpRouter } from "effect/http"
import { AccountChanged, MailAnalysed } from "../../src/contract/events/UserEvent.ts"
import { AccountId } from "../../src/contract/accounts/Account.ts"
import { EmailId } from "../../src/contract/emails/EmailId.ts"
import { EventBus } from "../../src/events/EventBus.ts"
import { HttpAppLive } from "../../src/main/httpLayers.ts"
import { JobsLive, PlatformLive } from "../../src/main/layers.ts"
import { WorkerLive } from "../../src/main/workerLayers.ts"
import { configLayer, withTestEnv } from "../harness/TestEnv.ts"
import { TestAuthenticationLive } from "../harness/TestAuthentication.ts"
import { baseUrl, call, field } from "../harness/http.ts"
import { connected, eventually, openSse, type SseConnection } from "./sseClient.ts"

const TestLayer = withTestEnv(
  (env) =>
    Layer.mergeAll(
      HttpRouter.serve(HttpAppLive(TestAuthenticationLive), { disableLogger: true, disableListenLog: true }).pipe(
        Layer.provideMerge(NodeHttpServer.layerTest)
      ),
      WorkerLive
    ).pipe(Layer.provideMerge(JobsLive), Layer.provideMerge(PlatformLive), Layer.provide(configLayer(env))),
  // a small window (Redis trims whole nodes of 100 entries, so it holds ~100-200) and a quick heartbeat
  { EVENTS_USER_STREAM_MAXLEN: "5", EVENTS_HEARTBEAT_SECONDS: "1" }
)

/** Every test its own users (the streams are under the test file's Redis prefix). */
const newUser = () => crypto.randomUUID()
const as = (user: string) => ({ "x-test-user": user })

const analysed = (emailId: string) => new MailAnalysed({ occurredAt: new Date(), emailId: EmailId.make(emailId) })

const publishAnalysed = (user: string, count: number) =>
  Effect.gen(function* () {
    const bus = yield* EventBus
    const ids: Array<string> = []
    for (let i = 0; i < count; i++) {
      const id = crypto.randomUUID()
      ids.push(id)
      yield* bus.publish(user, analysed(id))
    }
    return ids
  })

/** The email ids of the stream's mail.analysed events, in arrival order. */
const emailIdsOf = (connection: SseConnection) =>
  connection
    .events()
    .filter((message) => message.event === "mail.analysed")
    .map((message) => String(field(JSON.parse(message.data ?? "null"), "emailId")))

const streamIdsOf = (connection: SseConnection) =>
  connection
    .events()
    .map((message) => message.id)
    .filter((id): id is string => id !== undefined)

const ascending = (ids: ReadonlyArray<string>) =>
  ids.every((id, index) => {
    if (index === 0) return true
    const [ms, seq] = id.split("-").map(BigInt)
    const [pms, pseq] = (ids[index - 1] ?? "0-0").split("-").map(BigInt)
    return ms !== undefined && pms !== undefined && (ms > pms || (ms === pms && (seq ?? 0n) > (pseq ?? 0n)))
  })

const sse = (base: string, user: string, query = "", headers: Record<string, string> = {}) =>
  openSse(`${base}/api/v1/events${query}`, { ...as(user), ...headers })

layer(TestLayer, { excludeTestServices: true, timeout: "90 seconds" })("user events over SSE", (it) => {
  describe("stream", () => {
    it.effect("delivers a user's events in order, as id/event/data messages of text/event-stream", () =>
      Effect.gen(function* () {
        const base = yield* baseUrl
        const user = newUser()
        const stream = yield* sse(base, user)
        assert.strictEqual(stream.status, 200)
        assert.match(stream.contentType ?? "", /^text\/event-stream/)
        yield* connected(stream)
        const sent = yield* publishAnalysed(user, 60)
        yield* eventually("60 events", () => emailIdsOf(stream).length >= 60)
        assert.deepStrictEqual(emailIdsOf(stream), sent)
        assert.isTrue(ascending(streamIdsOf(stream)), "ids ascending")
        // the data is the contract's UserEventJson
        const first = stream.events()[0]
        assert.strictEqual(first?.event, "mail.analysed")
        assert.deepStrictEqual(JSON.parse(first?.data ?? "null")._tag, "mail.analysed")
      }).pipe(Effect.scoped)
    )

    it.effect("sends a heartbeat comment while idle", () =>
      Effect.gen(function* () {
        const base = yield* baseUrl
        const stream = yield* sse(base, newUser())
        yield* eventually("heartbeat", () => stream.messages.some((message) => message.comment === "heartbeat"))
      }).pipe(Effect.scoped)
    )

    it.effect("filters by types", () =>
      Effect.gen(function* () {
        const base = yield* baseUrl
        const user = newUser()
        const stream = yield* sse(base, user, "?types=account.changed")
        yield* connected(stream)
        const bus = yield* EventBus
        yield* publishAnalysed(user, 3)
        yield* bus.publish(
          user,
          new AccountChanged({
            occurredAt: new Date(),
            accountId: AccountId.make(crypto.randomUUID()),
            status: "auth_failed",
            message: "login refused"
          })
        )
        yield* eventually("account.changed", () => stream.events().length >= 1)
        yield* publishAnalysed(user, 2)
        yield* bus.publish(
          user,
          new AccountChanged({
            occurredAt: new Date(),
            accountId: AccountId.make(crypto.randomUUID()),
            status: "active",
            message: null
          })
        )
        yield* eventually("second account.changed", () => stream.events().length >= 2)
        assert.deepStrictEqual(
          stream.events().map((message) => message.event),
          ["account.changed", "account.changed"]
        )
        const bad = yield* call(base, "GET", "/api/v1/events?types=mail.stored,nope", { headers: as(user) })
        assert.strictEqual(bad.status, 400, bad.text)
      }).pipe(Effect.scoped)
    )
  })

  describe("resume", () => {
    it.effect("Last-Event-ID gives exactly the missed events, then the live ones, without duplicates", () =>
      Effect.gen(function* () {
        const base = yield* baseUrl
        const user = newUser()
        const seen = yield* Effect.scoped(
          Effect.gen(function* () {
            const stream = yield* sse(base, user)
            yield* connected(stream)
            yield* publishAnalysed(user, 3)
            yield* eventually("3 events", () => stream.events().length >= 3)
            return streamIdsOf(stream)
          })
        )
        const lastSeen = seen.at(-1) ?? ""
        const missed = yield* publishAnalysed(user, 4)
        // the header, as a browser's EventSource sends it
        const resumed = yield* sse(base, user, "", { "last-event-id": lastSeen })
        yield* connected(resumed)
        const live = yield* publishAnalysed(user, 2)
        yield* eventually("missed and live", () => emailIdsOf(resumed).length >= 6)
        assert.deepStrictEqual(emailIdsOf(resumed), [...missed, ...live])
        assert.isTrue(ascending(streamIdsOf(resumed)))
        assert.isFalse(resumed.events().some((message) => message.event === "reset"))

        // the query parameter, for clients that cannot set headers: the same window
        const byQuery = yield* sse(base, user, `?lastEventId=${lastSeen}`)
        yield* eventually("backlog by query", () => emailIdsOf(byQuery).length >= 6)
        assert.deepStrictEqual(emailIdsOf(byQuery), [...missed, ...live])
      }).pipe(Effect.scoped)
    )

    it.effect("a position older than the window gets `event: reset` first, then live events", () =>
      Effect.gen(function* () {
        const base = yield* baseUrl
        const user = newUser()
        const bus = yield* EventBus
        yield* bus.publish(user, analysed(crypto.randomUUID()))
        const first = yield* Effect.scoped(
          Effect.gen(function* () {
            const stream = yield* sse(base, user, "?lastEventId=0-1")
            yield* eventually("the first event", () => streamIdsOf(stream).length >= 1)
            return streamIdsOf(stream)[0] ?? ""
          })
        )
        // far past the window (5, trimmed by whole nodes of 100)
        yield* publishAnalysed(user, 350)
        const stale = yield* sse(base, user, "", { "last-event-id": first })
        yield* connected(stale)
        const live = yield* publishAnalysed(user, 1)
        yield* eventually("reset then live", () => emailIdsOf(stale).length >= 1)
        assert.strictEqual(stale.events()[0]?.event, "reset")
        assert.deepStrictEqual(emailIdsOf(stale), live)

        // an id the stream never gave (ahead of it) is not a position either
        const future = yield* sse(base, user, "?lastEventId=99999999999999-0")
        yield* eventually("reset", () => future.events().length >= 1)
        assert.strictEqual(future.events()[0]?.event, "reset")

        const malformed = yield* call(base, "GET", "/api/v1/events?lastEventId=abc", { headers: as(user) })
        assert.strictEqual(malformed.status, 400, malformed.text)
      }).pipe(Effect.scoped)
    )
  })

  describe("isolation", () => {
    it.effect("a user never sees another user's events, also with the other's ids as Last-Event-ID", () =>
      Effect.gen(function* () {
        const base = yield* baseUrl
        const alice = newUser()
        const bob = newUser()
        const aliceStream = yield* sse(base, alice)
        const bobStream = yield* sse(base, bob)
        yield* Effect.all([connected(aliceStream), connected(bobStream)])
        const aliceIds = yield* publishAnalysed(alice, 5)
        const bobIds = yield* publishAnalysed(bob, 1)
        yield* eventually(
          "alice's and bob's",
          () => emailIdsOf(aliceStream).length >= 5 && emailIdsOf(bobStream).length >= 1
        )
        assert.deepStrictEqual(emailIdsOf(bobStream), bobIds)
        assert.deepStrictEqual(emailIdsOf(aliceStream), aliceIds)

        // bob forges a position from alice's stream: he reads his own stream from it, never hers
        const aliceFirst = streamIdsOf(aliceStream)[0] ?? ""
        const forged = yield* sse(base, bob, `?lastEventId=${aliceFirst}`)
        yield* connected(forged)
        const bobLater = yield* publishAnalysed(bob, 1)
        yield* eventually("bob's later event", () => emailIdsOf(forged).includes(bobLater[0] ?? ""))
        for (const id of emailIdsOf(forged)) assert.notInclude(aliceIds, id)
        // a position before bob's first event: his own backlog only
        const fromStart = yield* sse(base, bob, "?lastEventId=0-1")
        yield* eventually("bob's backlog", () => emailIdsOf(fromStart).length >= 2)
        yield* Effect.sleep("200 millis")
        assert.deepStrictEqual(emailIdsOf(fromStart), [...bobIds, ...bobLater])
      }).pipe(Effect.scoped)
    )

    it.effect("without a session: 401", () =>
      Effect.gen(function* () {
        const base = yield* baseUrl
        const response = yield* call(base, "GET", "/api/v1/events")
        assert.strictEqual(response.status, 401)
      })
    )
  })

  describe("publishers", () => {
    it.effect("a job's job.changed sequence: queued, running (with progress), succeeded", () =>
      Effect.gen(function* () {
        const base = yield* baseUrl
        const user = newUser()
        const stream = yield* sse(base, user, "?types=job.changed")
        yield* connected(stream)
        const response = yield* call(base, "POST", "/api/v1/debug/ping", {
          json: { steps: 4, sleepMillis: 400 },
          headers: as(user)
        })
        assert.strictEqual(response.status, 202, response.text)
        const jobId = String(field(response.body, "jobId"))
        const changes = () =>
          stream
            .events()
            .map((message) => JSON.parse(message.data ?? "null"))
            .filter((event) => field(event, "jobId") === jobId)
        yield* eventually("the job's end", () => changes().some((event) => field(event, "state") === "succeeded"))
        const states = changes().map((event) => String(field(event, "state")))
        assert.strictEqual(states[0], "queued", states.join(","))
        assert.strictEqual(states.at(-1), "succeeded", states.join(","))
        assert.deepStrictEqual(
          [...new Set(states)],
          ["queued", "running", "succeeded"],
          `states in order: ${states.join(",")}`
        )
        assert.isTrue(
          changes().some(
            (event) => field(event, "state") === "running" && field(event, "progress", "done") !== undefined
          ),
          "a progress report"
        )
        for (const event of changes()) assert.strictEqual(field(event, "kind"), "debug.ping")
      }).pipe(Effect.scoped)
    )
  })

  describe("hang-up", () => {
    it.effect("a client that hangs up frees its registration at once", () =>
      Effect.gen(function* () {
        const base = yield* baseUrl
        const bus = yield* EventBus
        const user = newUser()
        assert.strictEqual(yield* bus.subscribersOf(user), 0)
        const stream = yield* sse(base, user)
        yield* connected(stream)
        assert.strictEqual(yield* bus.subscribersOf(user), 1)
        assert.isAtLeast(yield* bus.subscribers, 1)
        stream.close()
        yield* bus.subscribersOf(user).pipe(
          Effect.flatMap((open) => (open === 0 ? Effect.void : Effect.fail(`still ${open} open`))),
          Effect.retry(Schedule.spaced("20 millis").pipe(Schedule.upTo({ times: 500 }))),
          Effect.orDie
        )
      }).pipe(Effect.scoped)
    )
  })
})
