/**
 * The watchers against a Dovecot without NOTIFY (`imap_capability` without it): IDLE on INBOX and
 * on the account's watch folders (migration 0067), the other folders left to the sync; and the
 * per-host connection cap (WATCH_MAX_CONNECTIONS_PER_HOST=2).
 */
import { assert, layer } from "@effect/vitest"
import { Effect, Schedule } from "effect"
import { randomUUID } from "node:crypto"
import { Dovecot } from "../harness/dovecot.ts"
import {
  api,
  baseUrl,
  capturedLogs,
  createAccount,
  field,
  OwnerDb,
  storedEmails,
  syncNow,
  syncTestLayer
} from "../sync/support.ts"

const owner = "e5555555-5555-4555-8555-555555555555"
const users = [
  { user: "idle-a", pass: "pass-a" },
  { user: "idle-b", pass: "pass-b" }
]

const TestLayer = syncTestLayer({
  worker: true,
  env: {
    WATCH_ENABLED: "true",
    WATCH_REFRESH_SECONDS: "1",
    // the worker leases the accounts (WATCH_OWNERSHIP=leases, the default): re-read them as often
    WATCH_ACCOUNTS_REFRESH_MS: "1000",
    WATCH_COALESCE_MILLIS: "300",
    WATCH_MAX_CONNECTIONS_PER_HOST: "2"
  },
  dovecot: {
    users,
    // Dovecot 2.3's post-login capabilities without NOTIFY
    capabilities: ["IMAP4rev1", "IDLE", "CONDSTORE", "QRESYNC", "UIDPLUS", "MOVE", "SPECIAL-USE", "ESEARCH", "ENABLE"]
  }
})

const poll = Schedule.spaced("200 millis").pipe(Schedule.upTo({ times: 600 }))
const eventually = <A, R>(what: string, check: Effect.Effect<A, string, R>) =>
  check.pipe(
    Effect.retry(poll),
    Effect.mapError(
      (last) =>
        new Error(
          `${what}: ${last}\n${capturedLogs
            .filter((line) => /watch/i.test(line))
            .slice(-20)
            .join("\n")}`
        )
    ),
    Effect.orDie
  )

const message = (subject: string) =>
  `From: a@example.com\r\nTo: b@example.com\r\nSubject: ${subject}\r\nMessage-ID: <${randomUUID()}@example.com>\r\n\r\nbody\r\n`

const readyLines = (accountId: string) =>
  capturedLogs.filter((line) => line.includes("watching account") && line.includes(accountId))

const stored = (accountId: string, mailbox: string, subject: string) =>
  eventually(
    `${subject} stored in ${mailbox}`,
    Effect.flatMap(storedEmails(accountId, mailbox), (emails) =>
      emails.some((email) => email.subject === subject) ? Effect.void : Effect.fail(`${emails.length} stored`)
    )
  )

layer(TestLayer, { excludeTestServices: true, timeout: "300 seconds" })("watchers without NOTIFY", (it) => {
  it.effect(
    "IDLE on INBOX and the watch folder; another folder is left to the sync; the host cap holds",
    () =>
      Effect.gen(function* () {
        const server = yield* Dovecot
        const base = yield* baseUrl
        const sql = yield* OwnerDb
        const [a, b] = users
        if (a === undefined || b === undefined) throw new Error("users")
        yield* Effect.promise(() => server.createMailbox(a.user, "Work"))
        yield* Effect.promise(() => server.createMailbox(a.user, "Other"))
        const accountA = yield* createAccount(base, owner, server, { username: a.user, password: a.pass })
        // the watch folder is set through the accounts API (PATCH watchFolders)
        const patched = yield* api(base, owner, "PATCH", `/api/v1/accounts/${accountA}`, { watchFolders: ["Work"] })
        assert.strictEqual(patched.status, 200, patched.text)
        assert.deepStrictEqual(field(patched.body, "watchFolders"), ["Work"])
        // the watcher may have connected before the update: a dropped connection re-reads the folders
        yield* eventually(
          "A watched in IDLE mode on 2 connections",
          Effect.suspend(() => {
            const lines = readyLines(accountA)
            if (lines.length === 0) return Effect.fail("not ready")
            if (lines.some((line) => line.includes("notify"))) return Effect.fail("NOTIFY used")
            if (lines.some((line) => line.includes('"connections":2'))) return Effect.void
            return Effect.andThen(
              // fails when the watcher is between two connections: the next poll tries again
              Effect.ignore(Effect.tryPromise(() => server.doveadm(["kick", a.user]))),
              Effect.fail("1 connection")
            )
          })
        )

        yield* Effect.promise(() => server.append(a.user, a.pass, "INBOX", message("idle inbox")))
        yield* stored(accountA, "INBOX", "idle inbox")
        yield* Effect.promise(() => server.append(a.user, a.pass, "Work", message("idle work")))
        yield* stored(accountA, "Work", "idle work")

        // no sync of A queued, running or waiting for its retry (a kick above also ends a running
        // sync's session, and its retry would sync every folder)
        yield* eventually(
          "A's syncs ended before the unwatched folder changes",
          Effect.flatMap(
            sql`SELECT count(*)::int AS n FROM jobs WHERE kind = 'mail.sync' AND payload->>'accountId' = ${accountA}
              AND state NOT IN ('succeeded', 'failed', 'cancelled')`.pipe(Effect.orDie),
            (rows) => (Number(rows[0]?.["n"] ?? 1) === 0 ? Effect.void : Effect.fail("a sync still runs"))
          )
        )
        // Other is not watched: after Work's targeted sync (later than the APPEND to Other) it is still
        // missing; the (here: manual) sync, the safety net, brings it
        yield* Effect.promise(() => server.append(a.user, a.pass, "Other", message("other folder")))
        yield* Effect.promise(() => server.append(a.user, a.pass, "Work", message("idle work 2")))
        yield* stored(accountA, "Work", "idle work 2")
        const other = yield* storedEmails(accountA, "Other")
        assert.isFalse(
          other.some((email) => email.subject === "other folder"),
          "an unwatched folder was synced"
        )
        // a sync asked for while the watcher's targeted one is queued or running gets that one back
        // (one mail.sync per account at a time): ask once it is done
        yield* eventually(
          "A's syncs ended",
          Effect.flatMap(
            sql`SELECT count(*)::int AS n FROM jobs WHERE kind = 'mail.sync' AND payload->>'accountId' = ${accountA}
              AND state NOT IN ('succeeded', 'failed', 'cancelled')`.pipe(Effect.orDie),
            (rows) => (Number(rows[0]?.["n"] ?? 1) === 0 ? Effect.void : Effect.fail("a sync still runs"))
          )
        )
        yield* syncNow(base, owner, accountA)
        yield* stored(accountA, "Other", "other folder")

        // the cap (2 per host) is full with A's two connections: B waits, and is watched once A is gone
        const accountB = yield* createAccount(base, owner, server, { username: b.user, password: b.pass })
        yield* Effect.sleep("3 seconds")
        assert.strictEqual(readyLines(accountB).length, 0, "B was watched over the host cap")
        assert.strictEqual((yield* api(base, owner, "DELETE", `/api/v1/accounts/${accountA}`)).status, 204)
        yield* eventually(
          "B watched once A's connections are closed",
          Effect.suspend(() => (readyLines(accountB).length > 0 ? Effect.void : Effect.fail("not ready")))
        )
      }),
    240_000
  )
})
