import { assert, layer } from "@effect/vitest"
import { Effect, Exit, Option, Redacted } from "effect"
import { AccountStore } from "../../src/accounts/AccountStore.ts"
import { ImapAccess } from "../../src/accounts/ImapAccess.ts"
import { AccountId } from "../../src/contract/accounts/Account.ts"
import { UserId } from "../../src/contract/users/UserId.ts"
import { Redis } from "../../src/platform/Redis.ts"
import { Dovecot } from "../harness/dovecot.ts"
import { syncTestLayer } from "../sync/support.ts"
import { ensureTestUser } from "../users/fixtures.ts"

/*
 * Issue 15: ImapAccess.connect holds one of the account's connection slots (ImapSlots) for the
 * session's scope. A holder stalled past the slot lease's TTL loses its lease when another holder
 * took the freed slot meanwhile (src/imap/ImapSlots.ts); the session must then end instead of going
 * on over the account's cap. The stall is simulated by deleting the lease from Redis, as its expiry
 * would, and the other holder takes the one slot at once.
 */

const PASSWORD = "lease-Passw0rd!"
const TTL_MS = 1_000
const owner = UserId.make("c0222222-2222-4222-8222-222222222222")

const TestLayer = syncTestLayer({
  worker: false,
  env: { IMAP_MAX_CONNECTIONS_PER_ACCOUNT: "1", IMAP_SLOT_LEASE_TTL_MS: String(TTL_MS) },
  dovecot: { users: [{ user: "leased", pass: PASSWORD }] }
})

layer(TestLayer, { excludeTestServices: true, timeout: "120 seconds" })("ImapAccess.connect and a lost lease", (it) => {
  it.effect("a session whose slot lease is lost ends: its commands fail and its connection is closed", () =>
    Effect.gen(function* () {
      const server = yield* Dovecot
      const store = yield* AccountStore
      const access = yield* ImapAccess
      const redis = yield* Redis
      yield* ensureTestUser(owner)
      const account = yield* store.insert(owner, {
        id: AccountId.make(crypto.randomUUID()),
        label: "leased",
        host: server.host,
        port: server.port,
        security: "none",
        username: "leased",
        password: Redacted.make(PASSWORD),
        syncIntervalMinutes: null
      })
      yield* Effect.scoped(
        Effect.gen(function* () {
          const session = yield* access.connect(account, "sync")
          // the session works while its lease holds
          const before = yield* session.listMailboxes()
          assert.isAbove(before.length, 0)
          // its lease vanishes as if it had stalled past the TTL and another holder took the only slot,
          // in one transaction: a renewal between the two would take the slot again ("reacquired"),
          // which is what happened in CI when the other holder's acquire came second
          const key = redis.key("imap-slots", account.id)
          yield* Effect.promise(() =>
            redis.client
              .multi()
              .del(key)
              .zadd(key, Date.now() + 600_000, "holder-that-took-the-slot")
              .exec()
          )
          // the next renewal (every third of the TTL) finds it lost; polled, as a loaded machine may
          // run that timer late
          const deadline = Date.now() + 20 * TTL_MS
          while ((yield* session.isConnected) && Date.now() < deadline) yield* Effect.sleep(100)
          assert.isFalse(yield* session.isConnected, "the connection is closed once the lease is lost")
          assert.deepStrictEqual(
            yield* Effect.promise(() => redis.client.zrange(key, "0", "-1")),
            ["holder-that-took-the-slot"],
            "the other holder keeps the only slot"
          )
          const after = yield* Effect.exit(session.listMailboxes())
          assert.isTrue(Exit.isFailure(after), "a command after the loss fails")
          const error = Exit.isFailure(after) ? Exit.findErrorOption(after) : Option.none()
          assert.strictEqual(Option.isSome(error) ? error.value._tag : "none", "ImapConnectionError", String(after))
        })
      )
    })
  )
})
