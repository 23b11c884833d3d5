import * as fs from "node:fs"
import * as path from "node:path"
import { assert, describe, layer } from "@effect/vitest"
import { Effect, Option, Redacted, Schedule, Schema } from "effect"
import { Redis as IORedis } from "ioredis"
import { AccountId } from "../../src/contract/accounts/Account.ts"
import { AccountSchedules, runTick } from "../../src/accounts/AccountSchedules.ts"
import { AccountStore, passwordAssociatedData } from "../../src/accounts/AccountStore.ts"
import { Crypto } from "../../src/platform/Crypto.ts"
import { MailSync } from "../../src/sync/MailSync.ts"
import { UserId } from "../../src/contract/users/UserId.ts"
import { UserScope } from "../../src/users/UserScope.ts"
import { SqlClient } from "effect/sql"
import { Dovecot, type DovecotServer, dovecotScoped, dovecotTlsScoped } from "../harness/dovecot.ts"
import { generateMessages } from "../harness/mailgen.ts"
import { closedPort, silentServer } from "../harness/sockets.ts"
import {
  accountPayload,
  api,
  capturedLogs,
  createAccount,
  Env,
  expectSucceeded,
  field,
  OwnerDb,
  ownerQuery,
  seenResponses,
  syncNow,
  syncTestLayer,
  waitForJob
} from "../sync/support.ts"
import { baseUrl } from "../harness/http.ts"

const PASSWORD = "acc0unt-Secret-Pw"
const USERS = ["plain", "patch", "remove", "isolated", "authfail", "schedule", "secrets"]
const alice = "a2222222-2222-4222-8222-222222222222"
const bob = "b2222222-2222-4222-8222-222222222222"

const TestLayer = syncTestLayer({
  worker: true,
  env: { IMAP_VERIFY_TIMEOUT_MS: "1500" },
  dovecot: { users: USERS.map((user) => ({ user, pass: PASSWORD })) }
})

/** Rewrites a Dovecot user's password and waits until Dovecot re-reads the file (once a second). */
const changeServerPassword = (server: DovecotServer, user: string, password: string) =>
  Effect.promise(async () => {
    const file = path.join(server.root, "users")
    const lines = fs
      .readFileSync(file, "utf8")
      .split("\n")
      .map((line) => (line.startsWith(`${user}:`) ? `${user}:{PLAIN}${password}::::::` : line))
    fs.writeFileSync(file, lines.join("\n"))
    await new Promise((resolve) => setTimeout(resolve, 1_100))
  })

/** Waits until none of the user's syncs is queued, running or retrying. */
const idle = (base: string, user: string) =>
  api(base, user, "GET", "/api/v1/jobs?kind=mail.sync&limit=100").pipe(
    Effect.flatMap((response) =>
      (field(response.body, "items") as Array<unknown>).some((job) =>
        ["queued", "running", "retrying"].includes(String(field(job, "state")))
      )
        ? Effect.fail("busy")
        : Effect.void
    ),
    Effect.retry(Schedule.spaced("100 millis").pipe(Schedule.upTo({ times: 300 }))),
    Effect.orDie
  )

const decodeUser = Schema.decodeUnknownSync(UserId)
const decodeAccount = Schema.decodeUnknownSync(AccountId)

layer(TestLayer, { excludeTestServices: true, timeout: "120 seconds" })("accounts API", (it) => {
  describe("create", () => {
    it.effect("verifies the login, stores the account and never returns the password", () =>
      Effect.gen(function* () {
        const server = yield* Dovecot
        const base = yield* baseUrl
        const created = yield* api(base, alice, "POST", "/api/v1/accounts", {
          ...accountPayload(server, { username: "plain", password: PASSWORD }),
          label: "Work",
          syncIntervalMinutes: 10
        })
        assert.strictEqual(created.status, 201, created.text)
        assert.notInclude(created.text, PASSWORD)
        assert.strictEqual(field(created.body, "label"), "Work")
        assert.strictEqual(field(created.body, "status"), "active")
        assert.strictEqual(field(created.body, "syncIntervalMinutes"), 10)
        assert.strictEqual(field(created.body, "password"), undefined)
        const id = String(field(created.body, "id"))

        const one = yield* api(base, alice, "GET", `/api/v1/accounts/${id}`)
        assert.strictEqual(one.status, 200, one.text)
        assert.strictEqual(field(one.body, "host"), server.host)
        const list = yield* api(base, alice, "GET", "/api/v1/accounts")
        assert.strictEqual(list.status, 200)
        assert.include(
          (field(list.body, "items") as Array<unknown>).map((item) => field(item, "id")),
          id
        )
        // the same server and username again: 409
        const again = yield* api(
          base,
          alice,
          "POST",
          "/api/v1/accounts",
          accountPayload(server, { username: "plain", password: PASSWORD })
        )
        assert.strictEqual(again.status, 409, again.text)
        assert.strictEqual(field(again.body, "_tag"), "AccountExists")

        // stored sealed, bound to its row
        const rows = yield* ownerQuery(
          Schema.Struct({ sealed: Schema.String }),
          (sql) => sql`SELECT password_sealed AS sealed FROM mail_accounts WHERE id = ${id}`
        )
        const sealed = rows[0]?.sealed ?? ""
        assert.match(sealed, /^v1\./)
        assert.notInclude(sealed, PASSWORD)
        const crypto = yield* Crypto
        const opened = yield* crypto.decrypt(sealed, passwordAssociatedData(id))
        assert.strictEqual(Redacted.value(opened), PASSWORD)
        const other = yield* Effect.result(
          crypto.decrypt(sealed, passwordAssociatedData(globalThis.crypto.randomUUID()))
        )
        assert.isTrue(other._tag === "Failure", "a sealed password must not open for another row")
      })
    )

    it.effect("answers 422 with the server's reason when the login fails", () =>
      Effect.gen(function* () {
        const server = yield* Dovecot
        const base = yield* baseUrl
        const wrong = yield* api(
          base,
          alice,
          "POST",
          "/api/v1/accounts",
          accountPayload(server, { username: "plain", password: "not-the-password" })
        )
        assert.strictEqual(wrong.status, 422, wrong.text)
        assert.strictEqual(field(wrong.body, "_tag"), "AccountVerificationFailed")
        assert.strictEqual(field(wrong.body, "reason"), "authentication")
        assert.match(String(field(wrong.body, "message")), /authentication failed/i)
        assert.notInclude(wrong.text, "not-the-password")

        const refused = yield* api(
          base,
          alice,
          "POST",
          "/api/v1/accounts",
          accountPayload(server, { username: "plain", password: PASSWORD, port: yield* closedPort })
        )
        assert.strictEqual(refused.status, 422, refused.text)
        assert.strictEqual(field(refused.body, "reason"), "refused")

        const dns = yield* api(
          base,
          alice,
          "POST",
          "/api/v1/accounts",
          accountPayload(server, { username: "plain", password: PASSWORD, host: "no-such-host.invalid" })
        )
        assert.strictEqual(dns.status, 422, dns.text)
        assert.strictEqual(field(dns.body, "reason"), "dns")

        const silent = yield* silentServer
        const started = Date.now()
        const timeout = yield* api(
          base,
          alice,
          "POST",
          "/api/v1/accounts",
          accountPayload(server, { username: "plain", password: PASSWORD, port: silent.port })
        )
        assert.strictEqual(timeout.status, 422, timeout.text)
        assert.strictEqual(field(timeout.body, "reason"), "timeout")
        // bounded by IMAP_VERIFY_TIMEOUT_MS (1.5 s here)
        assert.isBelow(Date.now() - started, 10_000)

        const tlsServer = yield* dovecotTlsScoped({ users: [{ user: "tls", pass: PASSWORD }] })
        const tls = yield* api(
          base,
          alice,
          "POST",
          "/api/v1/accounts",
          accountPayload(tlsServer, { username: "tls", password: PASSWORD, port: tlsServer.tlsPort, security: "tls" })
        )
        assert.strictEqual(tls.status, 422, tls.text)
        assert.strictEqual(field(tls.body, "reason"), "tls")

        // nothing was stored for any of them
        const list = yield* api(base, alice, "GET", "/api/v1/accounts")
        const hosts = (field(list.body, "items") as Array<unknown>).map(
          (item) => `${field(item, "host")}:${field(item, "port")}`
        )
        assert.notInclude(hosts, `no-such-host.invalid:${server.port}`)
      })
    )

    it.effect("rejects malformed input with 400 and never echoes the password", () =>
      Effect.gen(function* () {
        const server = yield* Dovecot
        const base = yield* baseUrl
        const bad = yield* api(base, alice, "POST", "/api/v1/accounts", {
          ...accountPayload(server, { username: "plain", password: PASSWORD }),
          host: "http://evil.example/",
          port: 0,
          security: "ssl",
          password: 42
        })
        assert.strictEqual(bad.status, 400, bad.text)
        const paths = (field(bad.body, "issues") as Array<unknown>).map((issue) => String(field(issue, "path")))
        assert.includeMembers(paths, ["payload.host", "payload.port", "payload.security", "payload.password"])
        const unknown = yield* api(base, alice, "POST", "/api/v1/accounts", {
          ...accountPayload(server, { username: "plain", password: PASSWORD }),
          extra: true
        })
        assert.strictEqual(unknown.status, 400, unknown.text)
        assert.notInclude(unknown.text, PASSWORD)
      })
    )
  })

  describe("change and delete", () => {
    it.effect("PATCH re-verifies changed credentials and leaves the account alone when they fail", () =>
      Effect.gen(function* () {
        const server = yield* Dovecot
        const base = yield* baseUrl
        const id = yield* createAccount(base, alice, server, { username: "patch", password: PASSWORD })
        const renamed = yield* api(base, alice, "PATCH", `/api/v1/accounts/${id}`, {
          label: "Renamed",
          syncIntervalMinutes: 5
        })
        assert.strictEqual(renamed.status, 200, renamed.text)
        assert.strictEqual(field(renamed.body, "label"), "Renamed")
        assert.strictEqual(field(renamed.body, "syncIntervalMinutes"), 5)
        const schedules = yield* AccountSchedules
        const next = yield* schedules.next(id)
        assert.isTrue(Option.isSome(next))
        assert.strictEqual(Option.getOrUndefined(next)?.every, 5 * 60_000)

        const refused = yield* api(base, alice, "PATCH", `/api/v1/accounts/${id}`, {
          password: "wrong-one",
          label: "x"
        })
        assert.strictEqual(refused.status, 422, refused.text)
        assert.strictEqual(field(refused.body, "reason"), "authentication")
        const unchanged = yield* api(base, alice, "GET", `/api/v1/accounts/${id}`)
        assert.strictEqual(field(unchanged.body, "label"), "Renamed")

        const manual = yield* api(base, alice, "PATCH", `/api/v1/accounts/${id}`, { syncIntervalMinutes: null })
        assert.strictEqual(manual.status, 200, manual.text)
        assert.isTrue(Option.isNone(yield* schedules.next(id)))
      })
    )

    it.effect("DELETE removes the account, its mail data and its scheduler", () =>
      Effect.gen(function* () {
        const server = yield* Dovecot
        const base = yield* baseUrl
        yield* Effect.promise(() =>
          server.seedMaildir(
            "remove",
            "INBOX",
            generateMessages(20, { seed: 7, domain: "remove.test" }).map((m) => ({ raw: m.raw }))
          )
        )
        const id = yield* createAccount(base, alice, server, {
          username: "remove",
          password: PASSWORD,
          syncIntervalMinutes: 60
        })
        expectSucceeded(yield* syncNow(base, alice, id))
        const counts = ownerQuery(
          Schema.Struct({ emails: Schema.Number, mailboxes: Schema.Number, attachments: Schema.Number }),
          (sql) =>
            sql`SELECT (SELECT count(*)::int FROM emails WHERE account_id = ${id}) AS emails,
                     (SELECT count(*)::int FROM mailboxes WHERE account_id = ${id}) AS mailboxes,
                     (SELECT count(*)::int FROM attachments a WHERE NOT EXISTS (SELECT 1 FROM emails e WHERE e.id = a.email_id)) AS attachments`
        )
        const before = (yield* counts)[0]
        assert.strictEqual(before?.emails, 20)
        assert.isAbove(before?.mailboxes ?? 0, 0)
        const schedules = yield* AccountSchedules
        assert.isTrue(Option.isSome(yield* schedules.next(id)))

        const removed = yield* api(base, alice, "DELETE", `/api/v1/accounts/${id}`)
        assert.strictEqual(removed.status, 204, removed.text)
        const after = (yield* counts)[0]
        assert.deepStrictEqual(after, { emails: 0, mailboxes: 0, attachments: 0 })
        assert.isTrue(Option.isNone(yield* schedules.next(id)))
        const gone = yield* api(base, alice, "GET", `/api/v1/accounts/${id}`)
        assert.strictEqual(gone.status, 404)
        const syncGone = yield* api(base, alice, "POST", `/api/v1/accounts/${id}/sync`)
        assert.strictEqual(syncGone.status, 404)
      })
    )
  })

  describe("isolation", () => {
    it.effect("another user's account is 404 everywhere, and its mail is invisible to them", () =>
      Effect.gen(function* () {
        const server = yield* Dovecot
        const base = yield* baseUrl
        yield* Effect.promise(() =>
          server.seedMaildir(
            "isolated",
            "INBOX",
            generateMessages(10, { seed: 8, domain: "iso.test" }).map((m) => ({ raw: m.raw }))
          )
        )
        const id = yield* createAccount(base, alice, server, { username: "isolated", password: PASSWORD })
        expectSucceeded(yield* syncNow(base, alice, id))
        for (const [method, url, body] of [
          ["GET", `/api/v1/accounts/${id}`, undefined],
          ["PATCH", `/api/v1/accounts/${id}`, { label: "mine now" }],
          ["PATCH", `/api/v1/accounts/${id}`, { password: PASSWORD }],
          ["DELETE", `/api/v1/accounts/${id}`, undefined],
          ["GET", `/api/v1/accounts/${id}/mailboxes`, undefined],
          ["POST", `/api/v1/accounts/${id}/sync`, undefined]
        ] as const) {
          const response = yield* api(base, bob, method, url, body)
          assert.strictEqual(response.status, 404, `${method} ${url} as bob: ${response.text}`)
          assert.strictEqual(field(response.body, "_tag"), "AccountNotFound")
        }
        const bobsList = yield* api(base, bob, "GET", "/api/v1/accounts")
        assert.deepStrictEqual(field(bobsList.body, "items"), [])
        // still alice's, untouched
        const mine = yield* api(base, alice, "GET", `/api/v1/accounts/${id}`)
        assert.strictEqual(mine.status, 200)
        assert.notStrictEqual(field(mine.body, "label"), "mine now")

        // second wall: bob's scope sees none of alice's rows even without a filter
        const scope = yield* UserScope
        const sql = yield* SqlClient.SqlClient
        const visible = yield* scope.run(
          decodeUser(bob),
          sql<{ n: number }>`SELECT (SELECT count(*)::int FROM emails) + (SELECT count(*)::int FROM mailboxes)
            + (SELECT count(*)::int FROM mail_accounts) + (SELECT count(*)::int FROM attachments) AS n`
        )
        assert.strictEqual(visible[0]?.n, 0)
        const store = yield* AccountStore
        assert.isTrue(Option.isNone(yield* store.find(decodeUser(bob), id)))
      })
    )
  })

  describe("sync failures", () => {
    it.effect("a refused login marks the account auth_failed at once, without retries or scheduled syncs", () =>
      Effect.gen(function* () {
        const server = yield* Dovecot
        const base = yield* baseUrl
        const createdAt = new Date().toISOString()
        const id = yield* createAccount(base, alice, server, {
          username: "authfail",
          password: PASSWORD,
          syncIntervalMinutes: 30
        })
        const schedules = yield* AccountSchedules
        assert.isTrue(Option.isSome(yield* schedules.next(id)))
        // the initial scheduled run: wait until its tick has queued it (idle alone could pass before
        // that, and the "sync now" below then got the initial run, logged in with the old password)
        yield* api(base, alice, "GET", "/api/v1/jobs?kind=mail.sync&limit=100").pipe(
          Effect.flatMap((response) =>
            (field(response.body, "items") as Array<unknown>).some(
              (job) => String(field(job, "createdAt")) >= createdAt
            )
              ? Effect.void
              : Effect.fail("the initial sync is not queued yet")
          ),
          Effect.retry(Schedule.spaced("100 millis").pipe(Schedule.upTo({ times: 300 }))),
          Effect.orDie
        )
        // then let it end
        yield* idle(base, alice)
        yield* changeServerPassword(server, "authfail", "a-new-password")
        // Dovecot keeps logged-in sessions across a password change, so a kept session (when
        // IMAP_SESSION_IDLE_MS is on) would rightly serve the sync below; an admin resetting a
        // password ends the user's sessions too, and so does this test (doveadm fails when there is
        // none to end, as with sessions not kept)
        yield* Effect.ignore(Effect.tryPromise(() => server.doveadm(["kick", "authfail"])))

        const job = yield* syncNow(base, alice, id)
        assert.strictEqual(field(job, "state"), "failed", JSON.stringify(job))
        assert.strictEqual(field(job, "attempts"), 1)
        assert.strictEqual(field(job, "error", "code"), "auth_failed")
        assert.match(String(field(job, "error", "message")), /authentication failed/i)
        const account = yield* api(base, alice, "GET", `/api/v1/accounts/${id}`)
        assert.strictEqual(field(account.body, "status"), "auth_failed")
        assert.match(String(field(account.body, "statusMessage")), /authentication failed/i)
        assert.isTrue(Option.isNone(yield* schedules.next(id)), "no scheduled sync while the login is refused")
        // a tick that was already due does nothing either
        const tick = yield* runTick(id)
        assert.isFalse(tick.submitted)
        // and the job is not retried behind our back
        yield* Effect.sleep("1 second")
        const still = yield* waitForJob(base, alice, String(field(job, "id")))
        assert.strictEqual(field(still, "attempts"), 1)

        // the user fixes the password: verified, active again, scheduled again
        const fixed = yield* api(base, alice, "PATCH", `/api/v1/accounts/${id}`, { password: "a-new-password" })
        assert.strictEqual(fixed.status, 200, fixed.text)
        assert.strictEqual(field(fixed.body, "status"), "active")
        assert.strictEqual(field(fixed.body, "statusMessage"), null)
        assert.isTrue(Option.isSome(yield* schedules.next(id)))
        expectSucceeded(yield* syncNow(base, alice, id))
      })
    )

    it.effect("a server that is down makes the sync retry with backoff; the last attempt marks it unreachable", () =>
      Effect.gen(function* () {
        const base = yield* baseUrl
        const down = yield* dovecotScoped({ users: [{ user: "down", pass: PASSWORD }] })
        const id = yield* createAccount(base, alice, down, { username: "down", password: PASSWORD })
        yield* Effect.promise(() => down.stop())
        const response = yield* api(base, alice, "POST", `/api/v1/accounts/${id}/sync`)
        assert.strictEqual(response.status, 202, response.text)
        const jobId = String(field(response.body, "jobId"))
        const retrying = yield* waitForJob(base, alice, jobId, (job) => field(job, "state") === "retrying")
        assert.strictEqual(field(retrying, "attempts"), 1)
        assert.strictEqual(field(retrying, "error", "code"), "unreachable_refused")
        // not the last attempt yet: the account stays active
        const meanwhile = yield* api(base, alice, "GET", `/api/v1/accounts/${id}`)
        assert.strictEqual(field(meanwhile.body, "status"), "active")
        const cancelled = yield* api(base, alice, "DELETE", `/api/v1/jobs/${jobId}`)
        assert.strictEqual(cancelled.status, 202, cancelled.text)

        // the last attempt (run directly, as the worker would run attempt 5 of 5)
        const sync = yield* MailSync
        const last = yield* Effect.result(
          sync.run(decodeUser(alice), decodeAccount(id), { attempt: 5, maxAttempts: 5, progress: () => Effect.void })
        )
        assert.isTrue(last._tag === "Failure")
        if (last._tag === "Failure") {
          assert.strictEqual(last.failure._tag, "TransientJobError")
          assert.strictEqual(last.failure.code, "unreachable_refused")
        }
        const account = yield* api(base, alice, "GET", `/api/v1/accounts/${id}`)
        assert.strictEqual(field(account.body, "status"), "unreachable")
        assert.isString(field(account.body, "statusMessage"))
      })
    )
  })

  describe("periodic sync", () => {
    it.effect("the scheduler's tick creates a durable sync job owned by the account's owner", () =>
      Effect.gen(function* () {
        const server = yield* Dovecot
        const base = yield* baseUrl
        yield* Effect.promise(() =>
          server.seedMaildir(
            "schedule",
            "INBOX",
            generateMessages(5, { seed: 9, domain: "schedule.test" }).map((m) => ({ raw: m.raw }))
          )
        )
        const id = yield* createAccount(base, alice, server, {
          username: "schedule",
          password: PASSWORD,
          syncIntervalMinutes: 1
        })
        const schedules = yield* AccountSchedules
        const next = yield* schedules.next(id)
        assert.strictEqual(Option.getOrUndefined(next)?.every, 60_000)
        // the first tick fires at once; its sync shows in the owner's job list
        const listed = yield* api(base, alice, "GET", "/api/v1/jobs?kind=mail.sync&limit=100").pipe(
          Effect.flatMap((response) => {
            const items = (field(response.body, "items") as Array<unknown>).filter(
              (job) => field(job, "state") === "succeeded" && field(job, "result", "newMessages") === 5
            )
            return items.length > 0 ? Effect.succeed(items[0]) : Effect.fail("no scheduled sync yet")
          }),
          Effect.retry(Schedule.spaced("100 millis").pipe(Schedule.upTo({ times: 300 }))),
          Effect.orDie
        )
        const jobId = String(field(listed, "id"))
        const owners = yield* ownerQuery(
          Schema.Struct({ user_id: Schema.String, payload: Schema.Unknown }),
          (sql) => sql`SELECT user_id::text AS user_id, payload FROM jobs WHERE id = ${jobId}`
        )
        assert.strictEqual(owners[0]?.user_id, alice)
        assert.deepStrictEqual(owners[0]?.payload, { accountId: id })
        const mailboxes = yield* api(base, alice, "GET", `/api/v1/accounts/${id}/mailboxes`)
        const inbox = (field(mailboxes.body, "items") as Array<unknown>).find((item) => field(item, "path") === "INBOX")
        assert.strictEqual(field(inbox, "messageCount"), 5)
        // reconciliation keeps it (and its next run) and removes schedulers of vanished accounts
        const outcome = yield* schedules.reconcile
        assert.isAtLeast(outcome.scheduled, 1)
        assert.isTrue(Option.isSome(yield* schedules.next(id)))
      })
    )
  })

  describe("secrets", () => {
    it.effect("the password is in no API response, job payload, queue entry or log line", () =>
      Effect.gen(function* () {
        const server = yield* Dovecot
        const base = yield* baseUrl
        const env = yield* Env
        const id = yield* createAccount(base, alice, server, {
          username: "secrets",
          password: PASSWORD,
          syncIntervalMinutes: 1
        })
        expectSucceeded(yield* syncNow(base, alice, id))
        assert.isAbove(seenResponses.length, 20)
        for (const text of seenResponses) assert.notInclude(text, PASSWORD)
        const payloads = yield* ownerQuery(
          Schema.Struct({ text: Schema.String }),
          (sql) =>
            sql`SELECT coalesce(payload::text, '') || coalesce(result::text, '') || coalesce(error_message, '') || coalesce(progress::text, '') AS text FROM jobs`
        )
        assert.isAbove(payloads.length, 5)
        for (const row of payloads) assert.notInclude(row.text, PASSWORD)
        const redisText = yield* Effect.promise(async () => {
          const redis = new IORedis(env.redisUrl, { maxRetriesPerRequest: 1 })
          try {
            let all = ""
            let cursor = "0"
            do {
              const [next, keys] = await redis.scan(cursor, "MATCH", `${env.redisPrefix}:*`, "COUNT", 1000)
              cursor = next
              for (const key of keys) {
                const type = await redis.type(key)
                if (type === "hash") all += JSON.stringify(await redis.hgetall(key))
                else if (type === "string") all += (await redis.get(key)) ?? ""
                else if (type === "list") all += JSON.stringify(await redis.lrange(key, 0, -1))
                else if (type === "zset") all += JSON.stringify(await redis.zrange(key, "0", "-1"))
                else if (type === "stream") all += JSON.stringify(await redis.xrange(key, "-", "+"))
                all += key
              }
            } while (cursor !== "0")
            return all
          } finally {
            redis.disconnect()
          }
        })
        assert.include(redisText, id, "the queue data was read")
        assert.notInclude(redisText, PASSWORD)
        assert.isAbove(capturedLogs.length, 0)
        for (const line of capturedLogs) assert.notInclude(line, PASSWORD)
        const sql = yield* OwnerDb
        const sealed = yield* sql<{
          n: number
        }>`SELECT count(*)::int AS n FROM mail_accounts WHERE password_sealed LIKE ${`%${PASSWORD}%`}`
        assert.strictEqual(sealed[0]?.n, 0)
      })
    )
  })
})
