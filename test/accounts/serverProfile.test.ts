/**
 * Issue 12: each account shows the capabilities it was synced with and the strategy the sync chose
 * (`server` on GET /api/v1/accounts/:id and the list), recorded by the real sync path (POST
 * /accounts/:id/sync -> mail.sync on the in-process worker) against Dovecot with every extension
 * and against the same Dovecot announcing only IMAP4rev1. Another user sees none of it.
 */
import { assert, layer } from "@effect/vitest"
import { Effect, Option, Schema } from "effect"
import { AccountId, AccountServer } from "../../src/contract/accounts/Account.ts"
import { AccountStore } from "../../src/accounts/AccountStore.ts"
import { serverProfile } from "../../src/sync/SyncStrategy.ts"
import { UserId } from "../../src/contract/users/UserId.ts"
import { Dovecot, dovecotScoped } from "../harness/dovecot.ts"
import {
  api,
  baseUrl,
  createAccount,
  expectSucceeded,
  field,
  OwnerDb,
  syncNow,
  syncTestLayer
} from "../sync/support.ts"

const alice = "a5555555-5555-4555-8555-555555555555"
const bob = "b5555555-5555-4555-8555-555555555555"

const TestLayer = syncTestLayer({
  worker: true,
  dovecot: { users: [{ user: "profile-full", pass: "Profile-full-pw1" }] }
})

/** `server` as the JSON carries it: the time as an ISO string. */
const decodeServer = Schema.decodeUnknownSync(
  Schema.NullOr(Schema.Struct({ ...AccountServer.fields, syncedWithAt: Schema.String }))
)

const serverOf = (base: string, user: string, accountId: string) =>
  Effect.gen(function* () {
    const one = yield* api(base, user, "GET", `/api/v1/accounts/${accountId}`)
    assert.strictEqual(one.status, 200, one.text)
    const list = yield* api(base, user, "GET", "/api/v1/accounts")
    assert.strictEqual(list.status, 200, list.text)
    const items = field(list.body, "items")
    const listed = Array.isArray(items) ? items.find((item) => field(item, "id") === accountId) : undefined
    assert.isDefined(listed, "the account is in the list")
    // the list shows the same `server` as the single account
    assert.deepStrictEqual(field(listed, "server"), field(one.body, "server"))
    return decodeServer(field(one.body, "server"))
  })

layer(TestLayer, { excludeTestServices: true, timeout: "120 seconds" })("account server profile", (it) => {
  it.effect("Dovecot with every extension: CONDSTORE, QRESYNC, LIST-STATUS, SPECIAL-USE, MOVE", () =>
    Effect.gen(function* () {
      const base = yield* baseUrl
      const dovecot = yield* Dovecot
      const accountId = yield* createAccount(base, alice, dovecot, {
        username: "profile-full",
        password: "Profile-full-pw1"
      })
      assert.isNull(yield* serverOf(base, alice, accountId), "nothing recorded before a sync logged in")

      expectSucceeded(yield* syncNow(base, alice, accountId))
      const server = yield* serverOf(base, alice, accountId)
      assert.isNotNull(server)
      if (server === null) return
      for (const capability of ["IMAP4rev1", "CONDSTORE", "QRESYNC", "LIST-STATUS", "SPECIAL-USE", "MOVE", "UIDPLUS"]) {
        assert.include(server.capabilities, capability)
      }
      assert.includeMembers([...server.enabled], ["CONDSTORE", "QRESYNC"])
      assert.deepStrictEqual(server.strategy, {
        listing: "LIST-STATUS",
        flags: "CONDSTORE",
        expunges: "QRESYNC",
        names: "modified UTF-7",
        specialUse: "SPECIAL-USE",
        ruleMoves: "MOVE"
      })
      assert.match(server.explanation.flags, /^CONDSTORE: only flags changed/)
      assert.match(server.product ?? "", /^Dovecot/)
      assert.deepStrictEqual(server.namespace, { prefix: "", separator: "/" })

      // a second sync with the same server rewrites nothing: the time stays the first sighting
      expectSucceeded(yield* syncNow(base, alice, accountId))
      const again = yield* serverOf(base, alice, accountId)
      assert.deepStrictEqual(again, server)

      // another user: the account is a 404, and no list of theirs shows the profile
      const foreign = yield* api(base, bob, "GET", `/api/v1/accounts/${accountId}`)
      assert.strictEqual(foreign.status, 404, foreign.text)
      const theirs = yield* api(base, bob, "GET", "/api/v1/accounts")
      assert.strictEqual(theirs.status, 200)
      assert.notInclude(theirs.text, accountId)
      assert.notInclude(theirs.text, "CONDSTORE")

      // the store in bob's scope: the account is not found and the profile cannot be overwritten
      const store = yield* AccountStore
      const bobId = Schema.decodeUnknownSync(UserId)(bob)
      const account = Schema.decodeUnknownSync(AccountId)(accountId)
      assert.isTrue(Option.isNone(yield* store.find(bobId, accountId)))
      const forged = serverProfile({
        capabilities: ["IMAP4rev1"],
        enabled: [],
        useCondstore: true,
        serverId: { name: "forged", version: "1" },
        namespace: null
      })
      assert.isFalse(yield* store.recordServer(bobId, account, forged))
      const owner = yield* OwnerDb
      const stored = yield* owner<{ readonly product: string | null }>`
        SELECT server_profile->>'product' AS product FROM mail_accounts WHERE id = ${accountId}`
      assert.match(stored[0]?.product ?? "", /^Dovecot/)
    })
  )

  it.effect("Dovecot announcing only IMAP4rev1: full flag scan, STATUS per mailbox, names, guarded moves", () =>
    Effect.gen(function* () {
      const base = yield* baseUrl
      const minimal = yield* dovecotScoped({
        capabilities: ["IMAP4rev1"],
        specialUse: false,
        users: [{ user: "profile-min", pass: "Profile-min-pw1" }]
      })
      const accountId = yield* createAccount(base, alice, minimal, {
        username: "profile-min",
        password: "Profile-min-pw1"
      })
      expectSucceeded(yield* syncNow(base, alice, accountId))
      const server = yield* serverOf(base, alice, accountId)
      assert.isNotNull(server)
      if (server === null) return
      assert.deepStrictEqual([...server.capabilities], ["IMAP4rev1"])
      assert.deepStrictEqual([...server.enabled], [])
      assert.deepStrictEqual(server.strategy, {
        listing: "LIST+STATUS",
        flags: "full flag scan",
        expunges: "flag scan comparison",
        names: "modified UTF-7",
        specialUse: "names",
        ruleMoves: "COPY+EXPUNGE without UIDPLUS (guarded)"
      })
      assert.match(
        server.explanation.flags,
        /^no CONDSTORE: every flag of every stored message is fetched on each sync/
      )
      // no ID and no NAMESPACE announced: no product; the namespace comes from imapflow's LIST fallback
      assert.isNull(server.product)

      const foreign = yield* api(base, bob, "GET", `/api/v1/accounts/${accountId}`)
      assert.strictEqual(foreign.status, 404, foreign.text)
    }).pipe(Effect.scoped)
  )
})
