/**
 * The sync and the account verification against a hostile or broken IMAP server
 * (test/harness/hostileImap.ts): every scenario ends in a clear job and account state, and an
 * attack that would make an unbounded client buffer hundreds of megabytes costs this process a
 * bounded amount of memory. The real sync path runs: MailSync (the mail.sync processor's body)
 * over a real test database, its last attempt (so the account's status is written at once).
 */
import { assert, layer } from "@effect/vitest"
import { Effect, Exit, Schema } from "effect"
import { AccountId } from "../../src/contract/accounts/Account.ts"
import { MailSync } from "../../src/sync/MailSync.ts"
import { UserId } from "../../src/contract/users/UserId.ts"
import {
  type Connection,
  defaultMailbox,
  fetchResponse,
  flood,
  type HostileScript,
  type HostileServer,
  startHostileImap
} from "../harness/hostileImap.ts"
import { api, baseUrl, field, ownerQuery, syncTestLayer } from "./support.ts"

const owner = "b2222222-2222-4222-8222-222222222222"
const PASSWORD = "hostile-Passw0rd!"
const MiB = 1024 * 1024
/** What an attack may cost this process at most (the unbounded client would buffer ATTACK_BYTES). */
const MEMORY_BOUND = 64 * MiB
/** Every flood stops here: far above the bound, far below what would hurt the test machine. */
const ATTACK_BYTES = 320 * MiB

const TestLayer = syncTestLayer({
  worker: false,
  env: {
    // the stall scenario waits for this (the smallest the configuration accepts)
    IMAP_SOCKET_TIMEOUT_MS: "10000",
    IMAP_CONNECT_TIMEOUT_MS: "5000",
    IMAP_VERIFY_TIMEOUT_MS: "5000"
  },
  dovecot: { users: [] }
})

interface Peak {
  readonly rss: number
  readonly arrayBuffers: number
}

/** Runs `effect` while sampling RSS and Buffer memory; returns the peak growth over the start. */
const measured = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function* () {
    const start = process.memoryUsage()
    let rss = start.rss
    let arrayBuffers = start.arrayBuffers
    const sample = () => {
      const now = process.memoryUsage()
      rss = Math.max(rss, now.rss)
      arrayBuffers = Math.max(arrayBuffers, now.arrayBuffers)
    }
    const timer = setInterval(sample, 2)
    const result = yield* effect.pipe(
      Effect.ensuring(
        Effect.sync(() => {
          sample()
          clearInterval(timer)
        })
      )
    )
    const growth: Peak = { rss: rss - start.rss, arrayBuffers: arrayBuffers - start.arrayBuffers }
    return { result, growth }
  })

const mb = (bytes: number) => `${(bytes / MiB).toFixed(1)} MB`

const assertBounded = (label: string, growth: Peak, server: HostileServer, bound = MEMORY_BOUND) => {
  console.log(
    `${label}: server sent ${mb(server.bytesSent())}, peak growth rss ${mb(growth.rss)}, buffers ${mb(growth.arrayBuffers)}`
  )
  assert.isBelow(growth.rss, bound, `${label}: RSS grew ${mb(growth.rss)}`)
  assert.isBelow(growth.arrayBuffers, bound, `${label}: Buffers grew ${mb(growth.arrayBuffers)}`)
}

const withServer = <A, E, R>(script: HostileScript, use: (server: HostileServer) => Effect.Effect<A, E, R>) =>
  Effect.acquireUseRelease(
    Effect.promise(() => startHostileImap(script)),
    use,
    (server) => Effect.promise(() => server.close())
  )

/** Creates an account on the fake server through the API (its LOGIN check included). */
const createAccount = (server: HostileServer, label: string) =>
  Effect.gen(function* () {
    const base = yield* baseUrl
    const response = yield* api(base, owner, "POST", "/api/v1/accounts", {
      label,
      host: server.host,
      port: server.port,
      security: "none",
      username: "victim",
      password: PASSWORD,
      syncIntervalMinutes: null
    })
    assert.strictEqual(response.status, 201, response.text)
    return String(field(response.body, "id"))
  })

/** The real sync of the account, as its last attempt. */
const runSync = (accountId: string) =>
  Effect.gen(function* () {
    const sync = yield* MailSync
    return yield* Effect.exit(
      sync.run(Schema.decodeUnknownSync(UserId)(owner), Schema.decodeUnknownSync(AccountId)(accountId), {
        attempt: 1,
        maxAttempts: 1,
        progress: () => Effect.void
      })
    )
  })

const accountState = (accountId: string) =>
  Effect.gen(function* () {
    const base = yield* baseUrl
    const response = yield* api(base, owner, "GET", `/api/v1/accounts/${accountId}`)
    return { status: String(field(response.body, "status")), message: field(response.body, "statusMessage") }
  })

const failureOf = <A>(
  exit: Exit.Exit<A, { readonly _tag: string; readonly code: string; readonly message: string }>
) => {
  assert.isTrue(Exit.isFailure(exit), "the sync should have failed")
  if (!Exit.isFailure(exit)) throw new Error("unreachable")
  const error = exit.cause.reasons.find((reason) => reason._tag === "Fail")
  if (error === undefined || error._tag !== "Fail") throw new Error(`no typed failure: ${String(exit.cause)}`)
  return error.error
}

/** Answers a UID FETCH of message bodies with `attack`; sizes and flags as usual. */
const onBodyFetch =
  (attack: (connection: Connection) => Promise<void>) =>
  async (command: { readonly tag: string; readonly name: string; readonly args: string }, connection: Connection) => {
    if (/BODY/i.test(command.args)) await attack(connection)
    else await connection.answer(command)
  }

const storedEmails = (accountId: string) =>
  ownerQuery(
    Schema.Struct({ uid: Schema.Number, uid_validity: Schema.Number, subject: Schema.NullOr(Schema.String) }),
    (sql) =>
      sql`SELECT uid::float8 AS uid, uid_validity::float8 AS uid_validity, subject FROM emails
        WHERE account_id = ${accountId} ORDER BY uid`
  )

layer(TestLayer, { excludeTestServices: true, timeout: "120 seconds" })("a hostile IMAP server", (it) => {
  it.effect("an endless line without CRLF in a FETCH: bounded memory, a permanent, named failure", () =>
    withServer(
      {
        on: {
          "UID FETCH": onBodyFetch(async (connection) => {
            await connection.write(`* 1 FETCH (UID 1 BODY[] "`)
            await flood(connection, Buffer.alloc(64 * 1024, "A"), ATTACK_BYTES)
          })
        }
      },
      (server) =>
        Effect.gen(function* () {
          const accountId = yield* createAccount(server, "endless line")
          const { result, growth } = yield* measured(runSync(accountId))
          assertBounded("endless line (sync)", growth, server)
          const error = failureOf(result)
          assert.strictEqual(error._tag, "PermanentJobError")
          assert.strictEqual(error.code, "imap_limit_exceeded")
          assert.include(error.message, `fetching messages (mailbox "INBOX") failed`)
          assert.include(error.message, "line longer than")
          const account = yield* accountState(accountId)
          assert.strictEqual(account.status, "unreachable")
          assert.include(String(account.message), "line longer than")
          assert.isBelow(server.bytesSent(), ATTACK_BYTES, "the client hung up before the attack ended")
        })
    )
  )

  it.effect("huge literals ({4000000000}, and {1000000000} under imapflow's own 1 GiB cap) are refused at once", () =>
    Effect.gen(function* () {
      for (const size of [4_000_000_000, 1_000_000_000]) {
        yield* withServer(
          {
            on: {
              "UID FETCH": onBodyFetch(async (connection) => {
                await connection.write(`* 1 FETCH (UID 1 RFC822.SIZE 100 BODY[] {${size}}\r\n`)
                await flood(connection, Buffer.alloc(64 * 1024, "B"), ATTACK_BYTES)
              })
            }
          },
          (server) =>
            Effect.gen(function* () {
              const accountId = yield* createAccount(server, `literal ${size}`)
              const { result, growth } = yield* measured(runSync(accountId))
              assertBounded(`literal {${size}}`, growth, server)
              const error = failureOf(result)
              assert.strictEqual(error.code, "imap_limit_exceeded")
              assert.include(error.message, "literal larger than")
              assert.strictEqual((yield* accountState(accountId)).status, "unreachable")
            })
        )
      }
    })
  )

  it.effect("a server that sends more message bytes than the sizes it announced is cut off per UID FETCH", () =>
    withServer(
      {
        mailbox: () => ({
          ...defaultMailbox,
          uidNext: 401,
          exists: 400,
          // 400 messages announced tiny (so they land in one batch), each sent as a 4 MB literal
          messages: Array.from({ length: 400 }, (_, i) => ({ uid: i + 1, raw: "x" }))
        }),
        on: {
          "UID FETCH": onBodyFetch(async (connection) => {
            const body = Buffer.alloc(4 * MiB, "C")
            for (let uid = 1; uid <= 400; uid++) {
              const head = `* ${uid} FETCH (UID ${uid} RFC822.SIZE 1 BODY[] {${body.length}}\r\n`
              for (const part of [head, body, ")\r\n"]) if (!(await connection.write(part))) return
              if (connection.server.bytesSent() > ATTACK_BYTES) return
            }
          })
        }
      },
      (server) =>
        Effect.gen(function* () {
          const accountId = yield* createAccount(server, "lying sizes")
          const { result, growth } = yield* measured(runSync(accountId))
          // by design a UID FETCH may deliver up to one literal (32.8 MB with the default 25 MB
          // messages) before it is cut off; imapflow copies each literal once on the way
          assertBounded("lying sizes", growth, server, 128 * MiB)
          const error = failureOf(result)
          assert.strictEqual(error.code, "imap_limit_exceeded")
          assert.include(error.message, "for one UID FETCH")
        })
    )
  )

  it.effect("a stall in the middle of a response times out with a clear error", () =>
    withServer(
      {
        on: {
          "UID FETCH": onBodyFetch(async (connection) => {
            await connection.write(`* 1 FETCH (UID 1 RFC822.SIZE 1000 BODY[] {1000}\r\nFrom: half`)
            // and nothing more, without closing
          })
        }
      },
      (server) =>
        Effect.gen(function* () {
          const accountId = yield* createAccount(server, "stall")
          const error = failureOf(yield* runSync(accountId))
          assert.strictEqual(error._tag, "TransientJobError")
          assert.strictEqual(error.code, "unreachable_timeout")
          assert.include(error.message, `fetching messages (mailbox "INBOX") failed`)
          const account = yield* accountState(accountId)
          assert.strictEqual(account.status, "unreachable")
          assert.include(String(account.message), "fetching messages")
        })
    )
  )

  it.effect("BYE in the middle of a FETCH: a transient, named failure; what was committed stays", () =>
    withServer(
      {
        on: {
          "UID FETCH": onBodyFetch(async (connection) => {
            const [first] = defaultMailbox.messages
            if (first !== undefined) await connection.write(fetchResponse(1, first, true))
            await connection.write(`* BYE shutting down for maintenance\r\n`)
            connection.socket.end()
          })
        }
      },
      (server) =>
        Effect.gen(function* () {
          const accountId = yield* createAccount(server, "bye")
          const error = failureOf(yield* runSync(accountId))
          assert.strictEqual(error._tag, "TransientJobError")
          assert.match(error.code, /^unreachable_/)
          assert.include(error.message, `fetching messages (mailbox "INBOX") failed`)
          assert.strictEqual((yield* accountState(accountId)).status, "unreachable")
          assert.deepStrictEqual(yield* storedEmails(accountId), [])
        })
    )
  )

  it.effect("malformed untagged responses are skipped or named; the sync ends in a clear state", () =>
    withServer(
      {
        on: {
          LIST: async (command, connection) => {
            await connection.write(`* LIST garbage (((\r\n* 7 FETCH (((\r\n* LIST (\\HasNoChildren) "/" INBOX\r\n`)
            await connection.ok(command)
          },
          "UID FETCH": async (command, connection) => {
            await connection.write(`* 1 FETCH (UID "abc" RFC822.SIZE x)\r\n* 2 FETCH )))\r\n`)
            await connection.answer(command)
          }
        }
      },
      (server) =>
        Effect.gen(function* () {
          const accountId = yield* createAccount(server, "malformed")
          const exit = yield* runSync(accountId)
          const account = yield* accountState(accountId)
          if (Exit.isSuccess(exit)) {
            assert.strictEqual(account.status, "active")
            assert.deepStrictEqual(
              (yield* storedEmails(accountId)).map((email) => email.uid),
              [1, 2, 3]
            )
          } else {
            const error = failureOf(exit)
            assert.match(error.message, /\((mailbox "INBOX")\) failed|listing the mailboxes failed/)
            assert.notStrictEqual(account.status, "active")
          }
        })
    )
  )

  it.effect("UIDVALIDITY changing between two syncs drops the old messages; an invalid one is a named failure", () =>
    Effect.gen(function* () {
      const changed = {
        ...defaultMailbox,
        uidValidity: 43,
        uidNext: 3,
        exists: 2,
        messages: defaultMailbox.messages.slice(0, 2).map((message) => ({
          ...message,
          raw: message.raw.replace("Subject: message", "Subject: renumbered")
        }))
      }
      yield* withServer({ mailbox: (n) => (n === 0 ? defaultMailbox : changed) }, (server) =>
        Effect.gen(function* () {
          const accountId = yield* createAccount(server, "uidvalidity")
          const first = yield* runSync(accountId)
          assert.isTrue(Exit.isSuccess(first), String(first))
          assert.deepStrictEqual(
            (yield* storedEmails(accountId)).map((email) => [email.uid, email.uid_validity]),
            [
              [1, 42],
              [2, 42],
              [3, 42]
            ]
          )
          const second = yield* runSync(accountId)
          assert.isTrue(Exit.isSuccess(second), String(second))
          if (Exit.isSuccess(second)) assert.strictEqual(second.value.uidValidityResets, 1)
          const stored = yield* storedEmails(accountId)
          assert.deepStrictEqual(
            stored.map((email) => [email.uid, email.uid_validity, email.subject]),
            [
              [1, 43, "renumbered 1"],
              [2, 43, "renumbered 2"]
            ]
          )
        })
      )
      yield* withServer({ mailbox: () => ({ ...defaultMailbox, uidValidity: 0 }) }, (server) =>
        Effect.gen(function* () {
          const accountId = yield* createAccount(server, "uidvalidity 0")
          const error = failureOf(yield* runSync(accountId))
          assert.strictEqual(error.code, "imap_error")
          assert.include(error.message, `selecting (mailbox "INBOX") failed`)
          assert.include(error.message, "UIDVALIDITY")
          assert.strictEqual((yield* accountState(accountId)).status, "unreachable")
        })
      )
    })
  )

  it.effect("absurd counts (EXISTS 4294967295, UIDNEXT 0) are unknowns, not allocations or database errors", () =>
    withServer({ mailbox: () => ({ ...defaultMailbox, exists: 4_294_967_295, uidNext: 0 }) }, (server) =>
      Effect.gen(function* () {
        const accountId = yield* createAccount(server, "absurd")
        const { result, growth } = yield* measured(runSync(accountId))
        assertBounded("absurd counts", growth, server)
        assert.isTrue(Exit.isSuccess(result), String(result))
        assert.deepStrictEqual(
          (yield* storedEmails(accountId)).map((email) => email.uid),
          [1, 2, 3]
        )
        const mailbox = yield* ownerQuery(
          Schema.Struct({ uid_next: Schema.NullOr(Schema.Number) }),
          (sql) => sql`SELECT uid_next::float8 AS uid_next FROM mailboxes WHERE account_id = ${accountId}`
        )
        assert.deepStrictEqual(mailbox, [{ uid_next: null }])
        assert.strictEqual((yield* accountState(accountId)).status, "active")
      })
    )
  )

  it.effect("account verification (API) against an endless greeting line, twice at once: 422, bounded memory", () =>
    withServer(
      {
        greeting: async (connection) => {
          await connection.write("* OK ")
          await flood(connection, Buffer.alloc(64 * 1024, "G"), ATTACK_BYTES)
        }
      },
      (server) =>
        Effect.gen(function* () {
          const base = yield* baseUrl
          const create = (label: string) =>
            api(base, owner, "POST", "/api/v1/accounts", {
              label,
              host: server.host,
              port: server.port,
              security: "none",
              username: "victim",
              password: PASSWORD,
              syncIntervalMinutes: null
            })
          const { result, growth } = yield* measured(
            Effect.all([create("verify 1"), create("verify 2")], { concurrency: 2 })
          )
          assertBounded("endless greeting (API, 2 verifications)", growth, server)
          for (const response of result) {
            assert.strictEqual(response.status, 422, response.text)
            assert.include(response.text, "line longer than")
            assert.notInclude(response.text, PASSWORD)
          }
          assert.strictEqual(server.connections(), 2)
        })
    )
  )
})
