import { assert, layer } from "@effect/vitest"
import { Effect, Exit, Redacted } from "effect"
import { ImapFlow } from "imapflow"
import { randomUUID } from "node:crypto"
import { AccountStore } from "../../src/accounts/AccountStore.ts"
import { ImapAccess } from "../../src/accounts/ImapAccess.ts"
import { AccountId } from "../../src/contract/accounts/Account.ts"
import { UserId } from "../../src/contract/users/UserId.ts"
import { ImapSlots } from "../../src/imap/ImapSlots.ts"
import { Redis } from "../../src/platform/Redis.ts"
import { Dovecot } from "../harness/dovecot.ts"
import { baseUrl, field } from "../harness/http.ts"
import {
  assertMatchesServer,
  createAccount,
  expectSucceeded,
  storedEmails,
  syncNow,
  syncTestLayer
} from "../sync/support.ts"
import { ensureTestUser } from "../users/fixtures.ts"

/*
 * IMAP_SESSION_IDLE_MS: a job's IMAP session is kept logged in after the job, holding its connection
 * slot, for the account's next job (ImapAccess.connect). Against the real Dovecot: the next job
 * reuses it; a kept session the server closed meanwhile is replaced by a fresh login and the sync
 * succeeds on its first attempt; a kept session counts toward the account's cap, and it logs out and
 * frees its slot once idle for IMAP_SESSION_IDLE_MS. Nothing here is timed.
 */

const PASS = "kept-Passw0rd!"
const message = (subject: string) =>
  `From: a@example.com\r\nTo: b@example.com\r\nSubject: ${subject}\r\nMessage-ID: <${randomUUID()}@example.com>\r\n\r\nbody of ${subject}\r\n`

const SyncLayer = syncTestLayer({
  worker: true,
  env: { IMAP_SESSION_IDLE_MS: "600000" },
  dovecot: {
    users: [
      { user: "kept", pass: PASS },
      { user: "kept-rename", pass: PASS }
    ]
  }
})

layer(SyncLayer, { excludeTestServices: true, timeout: "180 seconds" })("a kept IMAP session and mail.sync", (it) => {
  it.effect("the next sync reuses the session; one the server closed meanwhile is replaced and the sync succeeds", () =>
    Effect.gen(function* () {
      const server = yield* Dovecot
      const base = yield* baseUrl
      const owner = "e6666666-6666-4666-8666-666666666666"
      const accountId = yield* createAccount(base, owner, server, { username: "kept", password: PASS })
      expectSucceeded(yield* syncNow(base, owner, accountId))
      // the sync's session stays logged in after the job
      assert.strictEqual(yield* Effect.promise(() => server.sessionCount("kept")), 1, "the session is kept")

      yield* Effect.promise(() => server.append("kept", PASS, "INBOX", message("over the kept session")))
      const second = yield* syncNow(base, owner, accountId)
      expectSucceeded(second)
      assert.strictEqual(field(second, "attempts"), 1)
      assert.include(
        (yield* storedEmails(accountId, "INBOX")).map((email) => email.subject),
        "over the kept session"
      )
      assert.strictEqual(
        yield* Effect.promise(() => server.sessionCount("kept")),
        1,
        "the same session, no second login"
      )

      // the server drops the kept connection (a restart, its idle timeout): the next sync logs in
      // again and succeeds on its first attempt
      yield* Effect.promise(() => server.doveadm(["kick", "kept"]))
      yield* Effect.promise(() => server.append("kept", PASS, "INBOX", message("after the server closed it")))
      const third = yield* syncNow(base, owner, accountId)
      expectSucceeded(third)
      assert.strictEqual(field(third, "attempts"), 1, `the sync needed a retry: ${JSON.stringify(third)}`)
      assert.include(
        (yield* storedEmails(accountId, "INBOX")).map((email) => email.subject),
        "after the server closed it"
      )
    })
  )

  it.effect("a kept session leaves its mailbox: a folder renamed away and created again is read anew", () =>
    Effect.gen(function* () {
      const server = yield* Dovecot
      const base = yield* baseUrl
      const owner = "e8888888-8888-4888-8888-888888888888"
      const user = "kept-rename"
      yield* Effect.promise(() => server.createMailbox(user, "Work"))
      yield* Effect.promise(() => server.append(user, PASS, "Work", message("old work 1"), ["\\Flagged"]))
      yield* Effect.promise(() => server.append(user, PASS, "Work", message("old work 2")))
      const accountId = yield* createAccount(base, owner, server, { username: user, password: PASS })
      // the sync selects Work (the last folder it reads) and its session is kept; a second sync finds
      // nothing changed (LIST-STATUS equals what is stored, no SELECT)
      expectSucceeded(yield* syncNow(base, owner, accountId))
      yield* Effect.promise(() => server.append(user, PASS, "Work", message("old work 3")))
      expectSucceeded(yield* syncNow(base, owner, accountId))
      expectSucceeded(yield* syncNow(base, owner, accountId))
      assert.strictEqual(yield* Effect.promise(() => server.sessionCount(user)), 1, "the session is kept")
      const before = yield* Effect.promise(() => server.mailboxStatus(user, "Work"))
      assert.deepStrictEqual(
        (yield* storedEmails(accountId, "Work")).map((email) => email.uid_validity),
        [before.uidValidity, before.uidValidity, before.uidValidity]
      )

      // on the server, Work is renamed away and a new Work (new UIDVALIDITY, one message) created
      // (another client's session, as a mail program would do it)
      yield* Effect.promise(async () => {
        const client = new ImapFlow({
          host: server.host,
          port: server.port,
          secure: false,
          auth: { user, pass: PASS },
          logger: false,
          disableAutoIdle: true
        })
        await client.connect()
        try {
          await client.mailboxRename("Work", "Work-old")
          await client.mailboxCreate("Work")
          await client.append("Work", message("new work"))
        } finally {
          await client.logout()
        }
      })
      const after = yield* Effect.promise(() => server.mailboxStatus(user, "Work"))
      assert.notStrictEqual(after.uidValidity, before.uidValidity, "the new Work has a new UIDVALIDITY")

      // the next sync, through the kept session, reads the new Work: its UIDVALIDITY, UIDs and flags
      expectSucceeded(yield* syncNow(base, owner, accountId))
      assert.strictEqual(yield* Effect.promise(() => server.sessionCount(user)), 1, "the kept session was reused")
      const stored = yield* storedEmails(accountId, "Work")
      assert.deepStrictEqual(
        stored.map((email) => [email.uid_validity, email.subject, email.flagged]),
        [[after.uidValidity, "new work", false]],
        `Work: UIDVALIDITY server ${after.uidValidity}, before the rename ${before.uidValidity}`
      )
      yield* assertMatchesServer(server, user, accountId, "Work")
      yield* assertMatchesServer(server, user, accountId, "Work-old")
    })
  )
})

const IDLE_MS = 5_000
const ConnectLayer = syncTestLayer({
  worker: false,
  env: {
    IMAP_SESSION_IDLE_MS: String(IDLE_MS),
    IMAP_MAX_CONNECTIONS_PER_ACCOUNT: "2",
    IMAP_SLOT_LEASE_TTL_MS: "30000",
    IMAP_SLOT_WAIT_MS: "120000"
  },
  dovecot: { users: [{ user: "capped-kept", pass: PASS }] }
})

layer(ConnectLayer, { excludeTestServices: true, timeout: "180 seconds" })("kept IMAP sessions and the cap", (it) => {
  it.effect("kept sessions count toward the account's cap, and log out and free their slot once idle", () =>
    Effect.gen(function* () {
      const server = yield* Dovecot
      const store = yield* AccountStore
      const access = yield* ImapAccess
      const slots = yield* ImapSlots
      const redis = yield* Redis
      const owner = UserId.make("e7777777-7777-4777-8777-777777777777")
      yield* ensureTestUser(owner)
      const account = yield* store.insert(owner, {
        id: AccountId.make(randomUUID()),
        label: "capped-kept",
        host: server.host,
        port: server.port,
        security: "none",
        username: "capped-kept",
        password: Redacted.make(PASS),
        syncIntervalMinutes: null
      })
      const key = redis.key("imap-slots", account.id)
      const held = () => Effect.promise(() => redis.client.zcard(key))

      // six jobs at once on a cap of two: never more than two sessions, on the server or in Redis
      let peak = 0
      const job = Effect.scoped(
        Effect.gen(function* () {
          const session = yield* access.connect(account, "sync")
          yield* session.listMailboxes()
          peak = Math.max(peak, yield* Effect.promise(() => server.sessionCount("capped-kept")), yield* held())
          yield* Effect.sleep("100 millis")
        })
      )
      yield* Effect.forEach([1, 2, 3, 4, 5, 6], () => job, { concurrency: "unbounded", discard: true })
      assert.isAtMost(peak, 2, "the cap held")
      assert.isAbove(peak, 0)

      // one session stays (at most one per account), holding a slot
      // polled: a session that idled out during the jobs may still be logging out (a loaded machine)
      const keptBy = Date.now() + IDLE_MS - 1_000
      while ((yield* held()) !== 1 && Date.now() < keptBy) yield* Effect.sleep("50 millis")
      assert.strictEqual(yield* held(), 1, "the kept session holds one slot")
      // with the cap at two, one more holder fits; the next one (a watcher, a login check) does not wait
      // for the kept session: it gives its slot up (logs out) and the cap still holds
      const other = yield* Effect.exit(
        Effect.scoped(
          Effect.gen(function* () {
            yield* slots.acquire(account.id)
            const third = yield* Effect.exit(
              Effect.scoped(Effect.andThen(slots.acquire(account.id, { wait: 0 }), held()))
            )
            return { third, sessions: yield* Effect.promise(() => server.sessionCount("capped-kept")) }
          })
        )
      )
      assert.isTrue(Exit.isSuccess(other))
      if (Exit.isSuccess(other)) {
        assert.isTrue(Exit.isSuccess(other.value.third), "the third holder took the kept session's slot at once")
        assert.deepStrictEqual(other.value.third, Exit.succeed(2), "two slots held then: the cap held")
        assert.strictEqual(other.value.sessions, 0, "the kept session logged out")
      }

      // kept again after a job, then idle past IMAP_SESSION_IDLE_MS: logged out, slot freed
      yield* job
      assert.strictEqual(yield* held(), 1, "the job's session is kept")
      // (polled: a loaded machine runs timers late)
      const deadline = Date.now() + 60_000
      while (Date.now() < deadline) {
        if ((yield* held()) === 0 && (yield* Effect.promise(() => server.sessionCount("capped-kept"))) === 0) break
        yield* Effect.sleep("200 millis")
      }
      assert.strictEqual(yield* held(), 0, "the idle session freed its slot")
      assert.strictEqual(yield* Effect.promise(() => server.sessionCount("capped-kept")), 0, "and logged out")
    })
  )
})
