/**
 * Item 2 and 9 of the hardening issue: what a server leaves out (an unsubscribed folder has no
 * `subscribed`, a folder without a role no `specialUse`, ...) has a defined meaning at the boundary
 * where imapflow's objects become ours, and a sync that fails says which step, which mailbox and
 * why, to the user and in the log (no SQL values).
 */
import { assert, describe, it as plain, layer } from "@effect/vitest"
import { Effect, Result, Schema } from "effect"
import fc from "fast-check"
import { AccountId } from "../../src/contract/accounts/Account.ts"
import { ImapProtocolError } from "../../src/imap/ImapErrors.ts"
import { toFetchReport, toMailboxInfo, toMailboxState } from "../../src/imap/ImapShapes.ts"
import { MailSync } from "../../src/sync/MailSync.ts"
import { UserId } from "../../src/contract/users/UserId.ts"
import { Dovecot } from "../harness/dovecot.ts"
import { generateMessages } from "../harness/mailgen.ts"
import {
  api,
  baseUrl,
  capturedLogs,
  createAccount,
  expectSucceeded,
  field,
  OwnerDb,
  ownerQuery,
  syncNow,
  syncTestLayer
} from "./support.ts"

// ---------------------------------------------------------------------------------------------
// the boundary decoder, on generated shapes

/** A field that may be missing, null, undefined or present. */
const maybe = <A>(value: fc.Arbitrary<A>) =>
  fc.oneof(
    fc.constant({ kind: "missing" as const }),
    fc.constant({ kind: "null" as const }),
    value.map((v) => ({ kind: "value" as const, v }))
  )

const put = (target: Record<string, unknown>, key: string, field: { kind: string; v?: unknown }) => {
  if (field.kind === "null") target[key] = null
  if (field.kind === "value") target[key] = field.v
}

const anyNumber = fc.oneof(
  fc.integer({ min: -5, max: 5 }),
  fc.constantFrom(0, 1, 4_294_967_295, 4_294_967_296, Number.NaN, Number.POSITIVE_INFINITY, 1.5),
  fc.nat()
)
const anyBigint = fc.oneof(fc.bigInt({ min: -5n, max: 2n ** 64n }), fc.constantFrom(0n, 1n, 4_294_967_295n, 2n ** 63n))
const flagSet = fc
  .uniqueArray(fc.constantFrom("\\Noselect", "\\HasChildren", "\\Sent", "\\NonExistent", "\\Recent", "$x"))
  .map((flags) => new Set(flags))

const listEntry = fc
  .record({
    path: fc.string({ minLength: 1, maxLength: 20 }),
    name: maybe(fc.string({ maxLength: 10 })),
    delimiter: maybe(fc.constantFrom("/", ".", "")),
    flags: maybe(flagSet),
    specialUse: maybe(fc.constantFrom("\\Sent", "\\Trash", "\\Inbox", "\\Important", "x")),
    subscribed: maybe(fc.boolean()),
    listed: maybe(fc.boolean()),
    status: maybe(
      fc.record({
        messages: maybe(anyNumber),
        unseen: maybe(anyNumber),
        uidNext: maybe(anyNumber),
        uidValidity: maybe(anyBigint),
        highestModseq: maybe(anyBigint)
      })
    )
  })
  .map((spec) => {
    const entry: Record<string, unknown> = { path: spec.path }
    for (const key of ["name", "delimiter", "flags", "specialUse", "subscribed", "listed"] as const)
      put(entry, key, spec[key])
    if (spec.status.kind === "null") entry["status"] = null
    if (spec.status.kind === "value") {
      const status: Record<string, unknown> = { path: spec.path }
      for (const key of ["messages", "unseen", "uidNext", "uidValidity", "highestModseq"] as const)
        put(status, key, spec.status.v[key])
      entry["status"] = status
    }
    return { spec, entry }
  })

const inUint32 = (n: number | null) => n === null || (Number.isInteger(n) && n >= 0 && n <= 4_294_967_296)

describe("the IMAP boundary decoder", () => {
  plain("every LIST/STATUS shape with fields left out decodes to defined values", () => {
    fc.assert(
      fc.property(listEntry, ({ spec, entry }) => {
        const decoded = toMailboxInfo(entry)
        assert.isTrue(
          Result.isSuccess(decoded),
          JSON.stringify(entry, (_k, v) => (typeof v === "bigint" ? `${v}n` : v))
        )
        if (!Result.isSuccess(decoded)) return
        const info = decoded.success
        // the database's NOT NULL columns always get a value
        assert.isBoolean(info.subscribed)
        assert.strictEqual(info.subscribed, spec.subscribed.kind === "value" && spec.subscribed.v)
        assert.isBoolean(info.selectable)
        assert.isString(info.name)
        assert.isAbove(info.name.length, 0)
        assert.isTrue(info.delimiter === null || info.delimiter.length > 0)
        assert.isArray(info.flags)
        assert.include([null, "inbox", "sent", "drafts", "trash", "junk", "archive", "all", "flagged"], info.specialUse)
        if (info.status !== null) {
          for (const value of [info.status.messages, info.status.unseen, info.status.uidNext, info.status.uidValidity])
            assert.isTrue(inUint32(value), `status value ${value}`)
          assert.isTrue(info.status.uidValidity === null || info.status.uidValidity >= 1)
          assert.isTrue(info.status.highestModseq === null || /^[1-9]\d{0,18}$/.test(info.status.highestModseq))
        }
      }),
      { numRuns: 500 }
    )
  })

  plain("a field of the wrong type is a typed error naming the field, never a value that reaches the database", () => {
    fc.assert(
      fc.property(
        fc.constantFrom("subscribed", "flags", "delimiter", "specialUse", "status"),
        fc.oneof(fc.string(), fc.integer(), fc.constant([1, 2]), fc.constant({ a: 1 })),
        (key, value) => {
          fc.pre(!(key === "delimiter" || key === "specialUse") || typeof value !== "string")
          // a status object with unknown fields only is a status that reported nothing
          fc.pre(key !== "status" || typeof value !== "object" || Array.isArray(value))
          const decoded = toMailboxInfo({ path: "Folder", [key]: value })
          assert.isTrue(Result.isFailure(decoded))
          if (!Result.isFailure(decoded)) return
          assert.instanceOf(decoded.failure, ImapProtocolError)
          assert.strictEqual(decoded.failure.command, "list")
          assert.include(decoded.failure.message, `["${key}"]`)
          assert.include(decoded.failure.message, `"Folder"`)
        }
      ),
      { numRuns: 100 }
    )
    const pathless = toMailboxInfo({ name: "x" })
    assert.isTrue(Result.isFailure(pathless) && pathless.failure.message.includes(`["path"]`))
  })

  plain("SELECT state: UIDVALIDITY is required, the rest is unknown (null) when absent or absurd", () => {
    fc.assert(
      fc.property(
        maybe(anyBigint),
        maybe(anyNumber),
        maybe(anyNumber),
        maybe(anyBigint),
        maybe(fc.boolean()),
        (uidValidity, uidNext, exists, highestModseq, noModseq) => {
          const raw: Record<string, unknown> = { path: "INBOX" }
          put(raw, "uidValidity", uidValidity)
          put(raw, "uidNext", uidNext)
          put(raw, "exists", exists)
          put(raw, "highestModseq", highestModseq)
          put(raw, "noModseq", noModseq)
          const decoded = toMailboxState("INBOX", raw)
          const validity = uidValidity.kind === "value" ? uidValidity.v : null
          if (validity === null || validity < 1n || validity > 4_294_967_295n) {
            assert.isTrue(Result.isFailure(decoded))
            if (Result.isFailure(decoded)) assert.include(decoded.failure.message, "UIDVALIDITY")
            return
          }
          assert.isTrue(Result.isSuccess(decoded))
          if (!Result.isSuccess(decoded)) return
          assert.strictEqual(decoded.success.uidValidity, Number(validity))
          assert.isTrue(inUint32(decoded.success.uidNext) && decoded.success.uidNext !== 0)
          assert.isTrue(inUint32(decoded.success.exists))
        }
      ),
      { numRuns: 300 }
    )
  })

  plain("FETCH reports: a UID is required, everything else has a meaning when left out", () => {
    fc.assert(
      fc.property(
        anyNumber,
        maybe(flagSet),
        maybe(anyNumber),
        maybe(fc.oneof(fc.date({ noInvalidDate: false }), fc.string({ maxLength: 30 }))),
        maybe(anyBigint),
        maybe(fc.uint8Array({ maxLength: 20 }).map((bytes) => Buffer.from(bytes))),
        (uid, flags, size, internalDate, modseq, source) => {
          const raw: Record<string, unknown> = { seq: 1, uid }
          put(raw, "flags", flags)
          put(raw, "size", size)
          put(raw, "internalDate", internalDate)
          put(raw, "modseq", modseq)
          put(raw, "source", source)
          const decoded = toFetchReport("INBOX", raw)
          if (!(Number.isInteger(uid) && uid >= 1 && uid <= 4_294_967_295)) {
            assert.isTrue(Result.isFailure(decoded) && decoded.failure.message.includes("UID"))
            return
          }
          assert.isTrue(Result.isSuccess(decoded))
          if (!Result.isSuccess(decoded)) return
          const report = decoded.success
          assert.isTrue(report.size === null || inUint32(report.size))
          assert.isTrue(report.internalDate === null || !Number.isNaN(report.internalDate.getTime()))
          assert.isTrue(report.modseq === null || /^[1-9]\d*$/.test(report.modseq))
          assert.strictEqual(report.flags === null, flags.kind !== "value")
          assert.isFalse((report.flags ?? []).includes("\\Recent"))
        }
      ),
      {
        numRuns: 300,
        // found by CI (seed -640186816): an unparsable INTERNALDATE arrives from imapflow as an invalid
        // Date, and must read as "not reported" instead of failing the FETCH; a valid UID shows it too
        examples: [
          [
            0,
            { kind: "value", v: new Set<"\\Recent">() },
            { kind: "value", v: 0 },
            { kind: "value", v: new Date(Number.NaN) },
            { kind: "null" },
            { kind: "null" }
          ],
          [
            7,
            { kind: "missing" },
            { kind: "missing" },
            { kind: "value", v: new Date(Number.NaN) },
            { kind: "missing" },
            { kind: "missing" }
          ]
        ]
      }
    )
  })
})

// ---------------------------------------------------------------------------------------------
// against a real Dovecot

const PASSWORD = "shapes-Passw0rd!"
const alice = "a1111111-1111-4111-8111-111111111111"

const TestLayer = syncTestLayer({
  worker: true,
  dovecot: { users: ["folders", "poison"].map((user) => ({ user, pass: PASSWORD })) }
})

const MailboxRow = Schema.Struct({
  path: Schema.String,
  subscribed: Schema.Boolean,
  special_use: Schema.NullOr(Schema.String),
  selectable: Schema.Boolean,
  message_count: Schema.Number
})

layer(TestLayer, { excludeTestServices: true, timeout: "120 seconds" })("mailboxes as real servers have them", (it) => {
  it.effect(
    "an unsubscribed folder, a folder without a role and an empty folder sync; subscribed=false is stored",
    () =>
      Effect.gen(function* () {
        const server = yield* Dovecot
        const base = yield* baseUrl
        const messages = generateMessages(6, { seed: 3, domain: "folders.test" })
        yield* Effect.promise(async () => {
          await server.seedMaildir(
            "folders",
            "INBOX",
            messages.slice(0, 2).map((m) => ({ raw: m.raw }))
          )
          await server.createMailbox("folders", "Projects")
          await server.seedMaildir(
            "folders",
            "Projects",
            messages.slice(2, 5).map((m) => ({ raw: m.raw }))
          )
          await server.createMailbox("folders", "Empty")
          await server.createMailbox("folders", "Notes")
          await server.seedMaildir(
            "folders",
            "Notes",
            messages.slice(5).map((m) => ({ raw: m.raw }))
          )
          await server.doveadm(["mailbox", "subscribe", "-u", "folders", "INBOX", "Notes", "Empty"])
          await server.doveadm(["mailbox", "unsubscribe", "-u", "folders", "Projects"])
        })
        const listed = yield* Effect.promise(() => server.doveadm(["mailbox", "list", "-u", "folders", "-s"]))
        assert.notInclude(listed.split("\n"), "Projects", "Projects is unsubscribed on the server")

        const accountId = yield* createAccount(base, alice, server, { username: "folders", password: PASSWORD })
        const job = yield* syncNow(base, alice, accountId)
        expectSucceeded(job)
        assert.strictEqual(field(job, "result", "newMessages"), 6)

        const rows = yield* ownerQuery(
          MailboxRow,
          (sql) => sql`SELECT path, subscribed, special_use, selectable, message_count FROM mailboxes
          WHERE account_id = ${accountId} ORDER BY path`
        )
        const byPath = new Map(rows.map((row) => [row.path, row]))
        assert.deepInclude(byPath.get("Projects"), { subscribed: false, special_use: null, message_count: 3 })
        assert.deepInclude(byPath.get("Notes"), { subscribed: true, special_use: null, message_count: 1 })
        assert.deepInclude(byPath.get("Empty"), { subscribed: true, special_use: null, message_count: 0 })
        assert.deepInclude(byPath.get("INBOX"), { subscribed: true, message_count: 2 })
        const account = yield* api(base, alice, "GET", `/api/v1/accounts/${accountId}`)
        assert.strictEqual(field(account.body, "status"), "active")
        assert.strictEqual(field(account.body, "statusMessage"), null)
      })
  )

  it.effect("a database error names the step, the mailbox and the SQL cause, never the row's values", () =>
    Effect.gen(function* () {
      const server = yield* Dovecot
      const base = yield* baseUrl
      const sync = yield* MailSync
      const sql = yield* OwnerDb
      const secretSubject = "poison-subject-7f3a"
      const [message] = generateMessages(1, { seed: 9, domain: "poison.test" })
      yield* Effect.promise(() =>
        server.seedMaildir("poison", "INBOX", [
          { raw: String(message?.raw ?? "").replace(/^Subject: .*$/m, `Subject: ${secretSubject}`) }
        ])
      )
      const accountId = yield* createAccount(base, alice, server, { username: "poison", password: PASSWORD })
      // a constraint the sync's rows break: a stand-in for any database failure during the store step
      yield* sql.unsafe(
        `ALTER TABLE emails ADD CONSTRAINT test_poison CHECK (subject IS DISTINCT FROM '${secretSubject}') NOT VALID`
      )
      const logsBefore = capturedLogs.length
      const failure = yield* sync
        .run(Schema.decodeUnknownSync(UserId)(alice), Schema.decodeUnknownSync(AccountId)(accountId), {
          attempt: 1,
          maxAttempts: 1,
          progress: () => Effect.void
        })
        .pipe(Effect.flip)
      yield* sql.unsafe("ALTER TABLE emails DROP CONSTRAINT test_poison")

      assert.strictEqual(failure._tag, "TransientJobError")
      assert.strictEqual(failure.code, "database")
      for (const text of [failure.message]) {
        assert.include(text, `storing messages (mailbox "INBOX") failed`)
        assert.include(text, "SQLSTATE 23514")
        assert.include(text, "test_poison")
        assert.include(text, "table emails")
        assert.notInclude(text, secretSubject)
      }
      // the user sees it on the account
      const account = yield* api(base, alice, "GET", `/api/v1/accounts/${accountId}`)
      assert.strictEqual(field(account.body, "status"), "active")
      assert.include(String(field(account.body, "statusMessage")), "SQLSTATE 23514")
      // and the operator in the log: step, mailbox, SQL code and constraint, no values
      const logged = capturedLogs.slice(logsBefore).filter((line) => line.includes("sync failed"))
      assert.isAtLeast(logged.length, 1)
      const line = logged.join("\n")
      assert.include(line, `"phase":"store"`)
      assert.include(line, `"mailbox":"INBOX"`)
      assert.include(line, `"code":"23514"`)
      assert.include(line, `"constraint":"test_poison"`)
      assert.notInclude(line, secretSubject)
      assert.notInclude(line, "Failing row")

      // once the cause is gone, the next sync succeeds and clears the message
      const job = yield* syncNow(base, alice, accountId)
      expectSucceeded(job)
      const healed = yield* api(base, alice, "GET", `/api/v1/accounts/${accountId}`)
      assert.strictEqual(field(healed.body, "statusMessage"), null)
    })
  )
})
