import { assert, layer } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { Dovecot } from "../harness/dovecot.ts"
import { baseUrl, call, field } from "../harness/http.ts"
import { makeMailgen } from "../harness/mailgen.ts"
import { accountPayload, syncNow } from "../sync/support.ts"
import { appTestLayer, as } from "../emails/helpers.ts"
import { connected, eventually, openSse } from "./sseClient.ts"

const PASSWORD = "events-Passw0rd!"
const IMAP_USER = "events"

/** The real API and worker (sync, offline analysis) in this process, and a throw-away Dovecot. */
const TestLayer = Layer.mergeAll(appTestLayer(), Dovecot.layer({ users: [{ user: IMAP_USER, pass: PASSWORD }] }))

layer(TestLayer, { excludeTestServices: true, timeout: "120 seconds" })("mail events from a real sync", (it) => {
  it.effect("a Dovecot APPEND, then a sync: mail.stored, then mail.analysed, for each new message", () =>
    Effect.gen(function* () {
      const server = yield* Dovecot
      const base = yield* baseUrl
      const owner = crypto.randomUUID()
      const created = yield* call(base, "POST", "/api/v1/accounts", {
        json: accountPayload(server, { username: IMAP_USER, password: PASSWORD }),
        headers: as(owner)
      })
      assert.strictEqual(created.status, 201, created.text)
      const accountId = String(field(created.body, "id"))

      const stream = yield* openSse(`${base}/api/v1/events?types=mail.stored,mail.analysed`, as(owner))
      yield* connected(stream)

      const gen = makeMailgen({ seed: 14, domain: "events.test" })
      yield* Effect.promise(async () => {
        for (const message of gen.take(2)) await server.append(IMAP_USER, PASSWORD, "INBOX", message.raw)
      })
      const job = yield* syncNow(base, owner, accountId)
      assert.strictEqual(field(job, "state"), "succeeded", JSON.stringify(job))

      const payloads = () =>
        stream.events().map((message) => ({ type: message.event, data: JSON.parse(message.data ?? "null") }))
      yield* eventually("2 stored and 2 analysed", () => {
        const all = payloads()
        return (
          all.filter((event) => event.type === "mail.stored").length >= 2 &&
          all.filter((event) => event.type === "mail.analysed").length >= 2
        )
      })
      const stored = payloads().filter((event) => event.type === "mail.stored")
      assert.lengthOf(stored, 2)
      for (const event of stored) assert.strictEqual(field(event.data, "accountId"), accountId)
      const storedIds = stored.map((event) => String(field(event.data, "emailId")))
      const analysedIds = payloads()
        .filter((event) => event.type === "mail.analysed")
        .map((event) => String(field(event.data, "emailId")))
      assert.sameMembers(analysedIds, storedIds)
      // every message was stored before it was analysed
      const order = payloads().map((event) => `${event.type}:${String(field(event.data, "emailId"))}`)
      for (const id of storedIds)
        assert.isBelow(order.indexOf(`mail.stored:${id}`), order.indexOf(`mail.analysed:${id}`), order.join(" "))
      // the stored message is the one the API shows
      const detail = yield* call(base, "GET", `/api/v1/emails/${storedIds[0]}`, { headers: as(owner) })
      assert.strictEqual(detail.status, 200, detail.text)

      // a sync that finds nothing new says nothing
      const before = stream.events().length
      const again = yield* syncNow(base, owner, accountId)
      assert.strictEqual(field(again, "state"), "succeeded")
      assert.strictEqual(stream.events().length, before)
    }).pipe(Effect.scoped)
  )
})
