import { assert, layer } from "@effect/vitest"
import { Effect, Layer, Schema } from "effect"
import { UserEventJson } from "../../src/contract/events/UserEvent.ts"
import { Dovecot } from "../harness/dovecot.ts"
import { baseUrl, call, field } from "../harness/http.ts"
import { accountPayload } from "../sync/support.ts"
import { appTestLayer, as } from "../emails/helpers.ts"
import { connected, eventually, openSse, type SseConnection } from "./sseClient.ts"

const PASSWORD = "account-events-Passw0rd!"
const IMAP_USER = "account-events"

/** The real API and worker (watchers on, every account watched by this worker) and a throw-away Dovecot. */
const TestLayer = Layer.mergeAll(
  appTestLayer({ WATCH_ENABLED: "true", WATCH_OWNERSHIP: "local", WATCH_REFRESH_SECONDS: "1" }),
  Dovecot.layer({ users: [{ user: IMAP_USER, pass: PASSWORD }] })
)

/** The stream's account.changed events, decoded as a client would. */
const accountEvents = (stream: SseConnection) =>
  stream
    .events()
    .filter((message) => message.event === "account.changed")
    .map((message) => JSON.parse(message.data ?? "null"))

const changesOf = (stream: SseConnection, accountId: string) =>
  accountEvents(stream)
    .filter((event) => field(event, "accountId") === accountId)
    .map((event) => {
      const watching = field(event, "watching")
      return `${String(field(event, "change"))}${watching === undefined ? "" : `:${String(watching)}`}`
    })

layer(TestLayer, { excludeTestServices: true, timeout: "120 seconds" })("account.changed", (it) => {
  it.effect(
    "the accounts API's create, update (watched folders, credentials) and remove, and the watcher, over SSE",
    () =>
      Effect.gen(function* () {
        const server = yield* Dovecot
        const base = yield* baseUrl
        const owner = crypto.randomUUID()
        const stream = yield* openSse(`${base}/api/v1/events?types=account.changed`, as(owner))
        yield* connected(stream)

        const created = yield* call(base, "POST", "/api/v1/accounts", {
          json: accountPayload(server, { username: IMAP_USER, password: PASSWORD }),
          headers: as(owner)
        })
        assert.strictEqual(created.status, 201, created.text)
        const accountId = String(field(created.body, "id"))
        yield* eventually("created", () => changesOf(stream, accountId).includes("created"))
        const first = accountEvents(stream).find((event) => field(event, "change") === "created")
        assert.strictEqual(field(first, "status"), "active")
        assert.notInclude(JSON.stringify(accountEvents(stream)), PASSWORD)

        // the watcher (WATCH_ENABLED) connects: its state is an account.changed too
        yield* eventually("watching", () => changesOf(stream, accountId).includes("watch:true"))

        const folders = yield* call(base, "PATCH", `/api/v1/accounts/${accountId}`, {
          json: { watchFolders: ["Archive"] },
          headers: as(owner)
        })
        assert.strictEqual(folders.status, 200, folders.text)
        yield* eventually(
          "updated (folders)",
          () => changesOf(stream, accountId).filter((c) => c === "updated").length >= 1
        )

        const credentials = yield* call(base, "PATCH", `/api/v1/accounts/${accountId}`, {
          json: { password: PASSWORD },
          headers: as(owner)
        })
        assert.strictEqual(credentials.status, 200, credentials.text)
        yield* eventually(
          "updated (credentials)",
          () => changesOf(stream, accountId).filter((c) => c === "updated").length >= 2
        )

        const removed = yield* call(base, "DELETE", `/api/v1/accounts/${accountId}`, { headers: as(owner) })
        assert.strictEqual(removed.status, 204, removed.text)
        yield* eventually("removed", () => changesOf(stream, accountId).includes("removed"))
        // the watcher lets go of the removed account: its connection's end is announced
        yield* eventually("not watching", () => changesOf(stream, accountId).includes("watch:false"))
        const apiChanges = changesOf(stream, accountId).filter((change) => !change.startsWith("watch"))
        assert.deepStrictEqual(apiChanges, ["created", "updated", "updated", "removed"])

        // another user hears nothing of it
        const other = yield* openSse(`${base}/api/v1/events?types=account.changed`, as(crypto.randomUUID()))
        yield* connected(other)
        assert.lengthOf(other.events(), 0)
      }).pipe(Effect.scoped)
  )

  it.effect("an account.changed published before `change` existed still decodes", () =>
    Effect.gen(function* () {
      const old = JSON.stringify({
        _tag: "account.changed",
        occurredAt: new Date().toISOString(),
        accountId: crypto.randomUUID(),
        status: "auth_failed",
        message: "login refused"
      })
      const decoded = yield* Schema.decodeUnknownEffect(UserEventJson)(old)
      assert.strictEqual(decoded._tag, "account.changed")
    })
  )
})
