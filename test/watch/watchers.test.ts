/**
 * The watchers against a real Dovecot (NOTIFY offered by default): the worker runs with
 * WATCH_ENABLED=true (the local ownership: every watchable account), accounts have no scheduled
 * sync, so only the watcher can bring a change in. A change heard -> a coalesced targeted
 * `mail.sync` -> stored; polled in the database, never timed.
 */
import { assert, layer } from "@effect/vitest"
import { Effect, Option, Redacted, Schedule, Schema } from "effect"
import { ImapFlow } from "imapflow"
import { randomUUID } from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import { AccountId } from "../../src/contract/accounts/Account.ts"
import { AccountStore } from "../../src/accounts/AccountStore.ts"
import { UserId } from "../../src/contract/users/UserId.ts"
import { Dovecot, type DovecotServer } from "../harness/dovecot.ts"
import {
  api,
  baseUrl,
  capturedLogs,
  createAccount,
  ownerQuery,
  storedEmails,
  syncTestLayer,
  field
} from "../sync/support.ts"

const owner = "d4444444-4444-4444-8444-444444444444"

const users = [
  { user: "watch-a", pass: "pass-a" },
  { user: "watch-burst", pass: "pass-burst" },
  { user: "watch-bad", pass: "pass-bad" },
  { user: "watch-kick", pass: "pass-kick" }
]

const TestLayer = syncTestLayer({
  worker: true,
  env: {
    WATCH_ENABLED: "true",
    WATCH_REFRESH_SECONDS: "1",
    // the worker leases the accounts (WATCH_OWNERSHIP=leases, the default): re-read them as often
    WATCH_ACCOUNTS_REFRESH_MS: "1000",
    WATCH_COALESCE_MILLIS: "300"
  },
  dovecot: { users }
})

const poll = Schedule.spaced("200 millis").pipe(Schedule.upTo({ times: 600 }))

/** Retries `check` (a failing Effect) until it holds, for at most two minutes. */
const eventually = <A, R>(what: string, check: Effect.Effect<A, string, R>) =>
  check.pipe(
    Effect.retry(poll),
    Effect.mapError((last) => new Error(`${what}: ${last}`)),
    Effect.orDie
  )

const message = (subject: string) =>
  `From: a@example.com\r\nTo: b@example.com\r\nSubject: ${subject}\r\nMessage-ID: <${randomUUID()}@example.com>\r\n\r\nbody of ${subject}\r\n`

const client = (server: DovecotServer, user: string, pass: string) =>
  Effect.acquireRelease(
    Effect.promise(async () => {
      const c = new ImapFlow({
        host: server.host,
        port: server.port,
        secure: false,
        auth: { user, pass },
        logger: false,
        disableAutoIdle: true
      })
      await c.connect()
      return c
    }),
    (c) => Effect.promise(() => c.logout().catch(() => undefined))
  )

/** Waits until the account's watcher logged that it watches (after its login and NOTIFY). */
const watching = (accountId: string, count = 1) =>
  eventually(
    "watcher ready",
    Effect.suspend(() => {
      const seen = capturedLogs.filter((line) => line.includes("watching account") && line.includes(accountId)).length
      return seen >= count ? Effect.succeed(seen) : Effect.fail(`${seen} ready lines`)
    })
  )

const storedSubjects = (accountId: string, mailbox: string) =>
  Effect.map(storedEmails(accountId, mailbox), (emails) => emails.map((email) => email.subject))

/** Creates the account (no scheduled sync) and waits for its first sync and its watcher. */
const watchedAccount = (user: string, pass: string) =>
  Effect.gen(function* () {
    const base = yield* baseUrl
    const server = yield* Dovecot
    const accountId = yield* createAccount(base, owner, server, { username: user, password: pass })
    yield* watching(accountId)
    return accountId
  })

const SyncJob = Schema.Struct({ id: Schema.String, payload: Schema.Unknown })
const syncJobs = (accountId: string) =>
  ownerQuery(
    SyncJob,
    (sql) => sql`SELECT id, payload FROM jobs WHERE kind = 'mail.sync' AND payload->>'accountId' = ${accountId}`
  )

layer(TestLayer, { excludeTestServices: true, timeout: "300 seconds" })("watchers against a real Dovecot", (it) => {
  it.effect(
    "APPEND to INBOX and to a subfolder, flag change, expunge, new folder: stored without a scheduled sync",
    () =>
      Effect.gen(function* () {
        const server = yield* Dovecot
        const { user, pass } = users[0] ?? { user: "", pass: "" }
        yield* Effect.promise(() => server.createMailbox(user, "Projects"))
        const accountId = yield* watchedAccount(user, pass)
        const c = yield* client(server, user, pass)

        yield* Effect.promise(() => c.append("INBOX", message("inbox one")))
        yield* eventually(
          "INBOX message stored",
          Effect.flatMap(storedSubjects(accountId, "INBOX"), (subjects) =>
            subjects.includes("inbox one") ? Effect.void : Effect.fail(JSON.stringify(subjects))
          )
        )

        yield* Effect.promise(() => c.append("Projects", message("project one")))
        yield* eventually(
          "subfolder message stored",
          Effect.flatMap(storedSubjects(accountId, "Projects"), (subjects) =>
            subjects.includes("project one") ? Effect.void : Effect.fail(JSON.stringify(subjects))
          )
        )

        // flag change in a folder that is not selected by the watcher (STATUS HIGHESTMODSEQ)
        yield* Effect.promise(async () => {
          const lock = await c.getMailboxLock("Projects")
          try {
            await c.messageFlagsAdd("1:*", ["\\Flagged"])
          } finally {
            lock.release()
          }
        })
        yield* eventually(
          "flag change stored",
          Effect.flatMap(storedEmails(accountId, "Projects"), (emails) =>
            emails.length === 1 && emails[0]?.flagged === true ? Effect.void : Effect.fail(JSON.stringify(emails))
          )
        )

        // expunge in INBOX (the selected mailbox of the watching connection)
        yield* Effect.promise(async () => {
          const lock = await c.getMailboxLock("INBOX")
          try {
            await c.messageDelete("1:*")
          } finally {
            lock.release()
          }
        })
        yield* eventually(
          "expunge stored",
          Effect.flatMap(storedEmails(accountId, "INBOX"), (emails) =>
            emails.length === 0 ? Effect.void : Effect.fail(`${emails.length} left`)
          )
        )

        // a new folder and a message in it
        yield* Effect.promise(async () => {
          await c.mailboxCreate("Brand new")
          await c.append("Brand new", message("in the new folder"))
        })
        yield* eventually(
          "new folder's message stored",
          Effect.flatMap(storedSubjects(accountId, "Brand new"), (subjects) =>
            subjects.includes("in the new folder") ? Effect.void : Effect.fail(JSON.stringify(subjects))
          )
        )
        // the watcher's syncs were targeted: at least one named a mailbox
        const jobs = yield* syncJobs(accountId)
        assert.isTrue(
          jobs.some((job) => Array.isArray(field(job.payload, "mailboxes"))),
          `no targeted sync among ${JSON.stringify(jobs.map((job) => job.payload))}`
        )
      })
  )

  it.effect("a burst of 300 APPENDs is a few sync jobs, and all 300 are stored", () =>
    Effect.gen(function* () {
      const server = yield* Dovecot
      const { user, pass } = users[1] ?? { user: "", pass: "" }
      const accountId = yield* watchedAccount(user, pass)
      // the account's first sync and the watcher's catch-up are done before the burst
      yield* eventually(
        "initial syncs ended",
        Effect.flatMap(
          ownerQuery(
            Schema.Struct({ n: Schema.Number }),
            (sql) =>
              sql`SELECT count(*)::float8 AS n FROM jobs WHERE kind = 'mail.sync' AND payload->>'accountId' = ${accountId}
                  AND state NOT IN ('succeeded', 'failed', 'cancelled')`
          ),
          (rows) => ((rows[0]?.n ?? 1) === 0 ? Effect.void : Effect.fail("a sync still runs"))
        )
      )
      const before = (yield* syncJobs(accountId)).length
      const c = yield* client(server, user, pass)
      for (let i = 0; i < 300; i++) yield* Effect.promise(() => c.append("INBOX", message(`burst ${i}`)))
      yield* eventually(
        "300 stored",
        Effect.flatMap(storedEmails(accountId, "INBOX"), (emails) =>
          emails.length === 300 ? Effect.void : Effect.fail(`${emails.length} stored`)
        )
      )
      const during = (yield* syncJobs(accountId)).length - before
      console.log(`burst of 300 APPENDs: ${during} mail.sync jobs`)
      assert.isAtLeast(during, 1)
      assert.isAtMost(during, 20, `${during} sync jobs for 300 APPENDs`)
    })
  )

  it.effect("a refused login marks the account auth_failed after one attempt, and is not retried", () =>
    Effect.gen(function* () {
      const server = yield* Dovecot
      const base = yield* baseUrl
      assert.strictEqual((yield* api(base, owner, "GET", "/api/v1/accounts")).status, 200)
      const store = yield* AccountStore
      const wrong = `wrong-${randomUUID()}`
      // stored as an earlier configuration left it (the API would check the login first)
      const record = yield* store.insert(Schema.decodeUnknownSync(UserId)(owner), {
        id: Schema.decodeUnknownSync(AccountId)(randomUUID()),
        label: "bad credentials",
        host: server.host,
        port: server.port,
        security: "none",
        username: "watch-bad",
        password: Redacted.make(wrong),
        syncIntervalMinutes: null
      })
      yield* eventually(
        "auth_failed",
        Effect.flatMap(store.find(Schema.decodeUnknownSync(UserId)(owner), record.id).pipe(Effect.orDie), (found) =>
          Option.isSome(found) && found.value.status === "auth_failed"
            ? Effect.void
            : Effect.fail(Option.isSome(found) ? found.value.status : "missing")
        )
      )
      // several ownership refreshes (1 s) later: still exactly one failed login for the user
      yield* Effect.sleep("4 seconds")
      const log = fs.readFileSync(path.join(server.root, "log", "dovecot.log"), "utf8")
      const failures = log.split("\n").filter((line) => line.includes("watch-bad") && line.includes("auth failed"))
      assert.strictEqual(failures.length, 1, failures.join("\n"))
      assert.isFalse(
        capturedLogs.some((line) => line.includes(wrong)),
        "the password reached a log line"
      )
    })
  )

  it.effect("a dropped connection reconnects and the catch-up sync misses nothing", () =>
    Effect.gen(function* () {
      const server = yield* Dovecot
      const { user, pass } = users[3] ?? { user: "", pass: "" }
      const accountId = yield* watchedAccount(user, pass)
      // the server drops every session of the user; a message arrives while nobody listens (written
      // into the Maildir at once, before the watcher's reconnect, whose first delay is at least 0.5 s)
      yield* Effect.promise(() => server.doveadm(["kick", user]))
      yield* Effect.promise(() => server.seedMaildir(user, "INBOX", [{ raw: message("while away") }]))
      yield* watching(accountId, 2)
      yield* eventually(
        "message stored after the reconnect",
        Effect.flatMap(storedSubjects(accountId, "INBOX"), (subjects) =>
          subjects.includes("while away") ? Effect.void : Effect.fail(JSON.stringify(subjects))
        )
      )
      const base = yield* baseUrl
      const accounts = yield* api(base, owner, "GET", `/api/v1/accounts/${accountId}`)
      assert.strictEqual(field(accounts.body, "status"), "active")
    })
  )
})
