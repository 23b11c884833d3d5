import { assert, describe, layer } from "@effect/vitest"
import { Effect, Schema } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { Dovecot } from "../harness/dovecot.ts"
import { generateMessages, makeMailgen } from "../harness/mailgen.ts"
import {
  api,
  assertMatchesServer,
  baseUrl,
  createAccount,
  expectSucceeded,
  field,
  ownerQuery,
  storedEmails,
  syncNow,
  syncTestLayer
} from "./support.ts"
import { waitForJob } from "../emails/helpers.ts"

const PASSWORD = "sync-Passw0rd!"
const USERS = ["initial", "incremental", "uidvalidity", "threads", "hostile", "nocondstore"]
const alice = "a1111111-1111-4111-8111-111111111111"

const TestLayer = syncTestLayer({
  worker: true,
  // small caps, so the corpus has an oversized message without moving megabytes
  env: { SYNC_MAX_MESSAGE_BYTES: "1000000", SYNC_OVERSIZE_PREFIX_BYTES: "65536" },
  dovecot: { users: USERS.map((user) => ({ user, pass: PASSWORD })) }
})

const fixtures = path.join(import.meta.dirname, "..", "fixtures", "mail")

layer(TestLayer, { excludeTestServices: true, timeout: "120 seconds" })("mail.sync against a real Dovecot", (it) => {
  it.effect("the initial sync stores exactly what the server holds", () =>
    Effect.gen(function* () {
      const server = yield* Dovecot
      const base = yield* baseUrl
      const generated = generateMessages(300, { seed: 11, domain: "initial.test" })
      const inbox = generated.slice(0, 200)
      const sent = generated.slice(200, 260)
      const archive = generated.slice(260)
      const flagsOf = (i: number) =>
        i % 3 === 0 ? ["\\Seen"] : i % 7 === 0 ? ["\\Seen", "\\Flagged", "$label1"] : i % 11 === 0 ? ["\\Answered"] : []
      yield* Effect.promise(async () => {
        await server.seedMaildir(
          "initial",
          "INBOX",
          inbox.map((m, i) => ({ raw: m.raw, flags: flagsOf(i), internalDate: m.date }))
        )
        await server.seedMaildir(
          "initial",
          "Sent",
          sent.map((m) => ({ raw: m.raw, flags: ["\\Seen"] }))
        )
        await server.seedMaildir(
          "initial",
          "Archive",
          archive.map((m) => ({ raw: m.raw, flags: ["\\Seen"] }))
        )
      })
      const accountId = yield* createAccount(base, alice, server, { username: "initial", password: PASSWORD })
      const job = yield* syncNow(base, alice, accountId)
      expectSucceeded(job)
      assert.strictEqual(field(job, "result", "newMessages"), 300)
      assert.strictEqual(field(job, "attempts"), 1)
      assert.strictEqual(field(job, "progress", "phase"), "done")

      const byMessageId = new Map(generated.map((m) => [m.messageId, m]))
      for (const mailbox of ["INBOX", "Sent", "Archive"]) {
        const stored = yield* assertMatchesServer(server, "initial", accountId, mailbox)
        for (const email of stored) {
          const original = byMessageId.get(email.message_id ?? "")
          assert.isDefined(original, `unknown message ${email.message_id}`)
          if (original === undefined) continue
          assert.strictEqual(email.subject, original.subject)
          assert.strictEqual(email.from_address, original.from.address)
          assert.strictEqual(email.from_name, original.from.name)
          assert.include(email.text_body ?? "", `-- \n${original.from.name}`)
          assert.match(email.text_body ?? "", /^(Hallo|Hi) /)
          assert.strictEqual(email.has_attachments, original.attachments.length > 0)
          assert.deepStrictEqual(email.parse_warnings, [], `${email.message_id} warnings`)
        }
      }
      // attachments: metadata for every generated attachment, none of their bytes
      const attachments = yield* ownerQuery(
        Schema.Struct({ n: Schema.Number }),
        (sql) =>
          sql`SELECT count(*)::int AS n FROM attachments a JOIN emails e ON e.id = a.email_id WHERE e.account_id = ${accountId}`
      )
      assert.strictEqual(
        attachments[0]?.n,
        generated.reduce((sum, m) => sum + m.attachments.length, 0)
      )

      // the full-text vectors were left out of the sync's path and filled by search.index beside it
      // (queued by the first stored batch, again by later ones when it had caught up and ended)
      const indexJobs = yield* ownerQuery(
        Schema.Struct({ id: Schema.String, state: Schema.String }),
        (sql) => sql`SELECT id, state FROM jobs WHERE kind = 'search.index' AND user_id = ${alice}`
      )
      assert.isAtLeast(indexJobs.length, 1, "the sync queued search.index")
      let indexedRows = 0
      for (const indexJob of indexJobs) {
        const indexed = yield* waitForJob(base, alice, indexJob.id)
        assert.strictEqual(field(indexed, "state"), "succeeded")
        indexedRows += Number(field(indexed, "result", "indexed"))
      }
      assert.strictEqual(indexedRows, 300, "each message indexed once")
      const vectors = yield* ownerQuery(
        Schema.Struct({ missing: Schema.Number, found: Schema.Number }),
        (sql) => sql`
          SELECT count(*) FILTER (WHERE search_vector IS NULL)::int AS missing,
            count(*) FILTER (WHERE search_vector @@ websearch_to_tsquery('simple', ${generated[0]?.from.address ?? ""}))::int AS found
          FROM emails WHERE account_id = ${accountId}`
      )
      assert.strictEqual(vectors[0]?.missing, 0)
      assert.isAtLeast(vectors[0]?.found ?? 0, 1)

      // the mailbox list: special-use roles and counts
      const mailboxes = yield* api(base, alice, "GET", `/api/v1/accounts/${accountId}/mailboxes`)
      assert.strictEqual(mailboxes.status, 200, mailboxes.text)
      const items = field(mailboxes.body, "items")
      assert.isArray(items)
      const byPath = new Map((items as Array<unknown>).map((item) => [String(field(item, "path")), item]))
      assert.strictEqual(field(byPath.get("INBOX"), "specialUse"), "inbox")
      assert.strictEqual(field(byPath.get("Sent"), "specialUse"), "sent")
      assert.strictEqual(field(byPath.get("Archive"), "specialUse"), "archive")
      assert.strictEqual(field(byPath.get("Trash"), "specialUse"), "trash")
      assert.strictEqual(field(byPath.get("INBOX"), "messageCount"), 200)
      assert.strictEqual(
        field(byPath.get("INBOX"), "unreadCount"),
        inbox.filter((_, i) => !flagsOf(i).includes("\\Seen")).length
      )

      // a second sync with nothing new is cheap and changes nothing
      const again = yield* syncNow(base, alice, accountId)
      expectSucceeded(again)
      assert.strictEqual(field(again, "result", "newMessages"), 0)
      assert.isAtLeast(Number(field(again, "result", "unchangedMailboxes")), 3)
      const account = yield* api(base, alice, "GET", `/api/v1/accounts/${accountId}`)
      assert.strictEqual(field(account.body, "status"), "active")
      assert.isString(field(account.body, "lastSyncedAt"))
    })
  )

  it.effect("APPEND, flag changes, expunge and a move are reflected by the next sync", () =>
    Effect.gen(function* () {
      const server = yield* Dovecot
      const base = yield* baseUrl
      const user = "incremental"
      const gen = makeMailgen({ seed: 22, domain: "incremental.test" })
      yield* Effect.promise(() =>
        server.seedMaildir(
          user,
          "INBOX",
          gen.take(40).map((m) => ({ raw: m.raw }))
        )
      )
      const accountId = yield* createAccount(base, alice, server, { username: user, password: PASSWORD })
      expectSucceeded(yield* syncNow(base, alice, accountId))
      yield* assertMatchesServer(server, user, accountId, "INBOX")

      const appended = gen.take(3)
      yield* Effect.promise(async () => {
        for (const message of appended) await server.append(user, PASSWORD, "INBOX", message.raw, ["\\Flagged"])
        // flags: set and clear
        await server.doveadm(["flags", "add", "-u", user, "\\Seen \\Answered", "mailbox", "INBOX", "uid", "1:5"])
        await server.doveadm(["flags", "remove", "-u", user, "\\Seen", "mailbox", "INBOX", "uid", "2"])
        // expunge
        await server.doveadm(["expunge", "-u", user, "mailbox", "INBOX", "uid", "10:12"])
        // a move between mailboxes
        await server.doveadm(["move", "-u", user, "Archive", "mailbox", "INBOX", "uid", "20"])
      })
      const job = yield* syncNow(base, alice, accountId)
      expectSucceeded(job)
      assert.strictEqual(field(job, "result", "newMessages"), 4, JSON.stringify(job))
      assert.strictEqual(field(job, "result", "expunged"), 4)
      assert.isAtLeast(Number(field(job, "result", "flagUpdates")), 5)
      const inbox = yield* assertMatchesServer(server, user, accountId, "INBOX")
      const archive = yield* assertMatchesServer(server, user, accountId, "Archive")
      assert.strictEqual(archive.length, 1)
      assert.deepStrictEqual(
        inbox.filter((e) => e.uid > 40).map((e) => e.subject),
        appended.map((m) => m.subject)
      )
      // the moved message keeps its thread
      const moved = archive[0]
      assert.isDefined(moved)
      const all = yield* storedEmails(accountId, "INBOX")
      assert.notInclude(
        all.map((e) => e.uid),
        20
      )
    })
  )

  it.effect("a new UIDVALIDITY drops the mailbox's messages and fetches them again", () =>
    Effect.gen(function* () {
      const server = yield* Dovecot
      const base = yield* baseUrl
      const user = "uidvalidity"
      yield* Effect.promise(() =>
        server.seedMaildir(
          user,
          "INBOX",
          generateMessages(25, { seed: 33, domain: "uv.test" }).map((m) => ({ raw: m.raw }))
        )
      )
      const accountId = yield* createAccount(base, alice, server, { username: user, password: PASSWORD })
      expectSucceeded(yield* syncNow(base, alice, accountId))
      const before = yield* storedEmails(accountId, "INBOX")
      const next = yield* Effect.promise(() => server.setUidValidity(user, "INBOX"))
      const job = yield* syncNow(base, alice, accountId)
      expectSucceeded(job)
      assert.strictEqual(field(job, "result", "uidValidityResets"), 1)
      assert.strictEqual(field(job, "result", "newMessages"), 25)
      const after = yield* assertMatchesServer(server, user, accountId, "INBOX")
      assert.isTrue(after.every((e) => e.uid_validity === next))
      assert.notDeepEqual(
        after.map((e) => e.id),
        before.map((e) => e.id)
      )
    })
  )

  it.effect("threads are built across batches and syncs, whatever order the replies arrive in", () =>
    Effect.gen(function* () {
      const server = yield* Dovecot
      const base = yield* baseUrl
      const user = "threads"
      const messages = generateMessages(120, { seed: 44, domain: "threads.test", replyRatio: 0.6 })
      // replies first (by UID) for half of them, and split over two syncs
      const firstHalf = messages.slice(60).reverse()
      const secondHalf = messages.slice(0, 60)
      yield* Effect.promise(() =>
        server.seedMaildir(
          user,
          "INBOX",
          firstHalf.map((m) => ({ raw: m.raw }))
        )
      )
      const accountId = yield* createAccount(base, alice, server, { username: user, password: PASSWORD })
      expectSucceeded(yield* syncNow(base, alice, accountId))
      yield* Effect.promise(() =>
        server.seedMaildir(
          user,
          "Archive",
          secondHalf.map((m) => ({ raw: m.raw }))
        )
      )
      expectSucceeded(yield* syncNow(base, alice, accountId))
      const stored = [...(yield* storedEmails(accountId, "INBOX")), ...(yield* storedEmails(accountId, "Archive"))]
      assert.strictEqual(stored.length, 120)
      const threadOf = new Map(stored.map((e) => [e.message_id, e.thread_id]))
      // messages with the same root share a thread; different roots do not
      const byRoot = new Map<string, Set<string>>()
      for (const message of messages) {
        const thread = threadOf.get(message.messageId)
        assert.isDefined(thread)
        const set = byRoot.get(message.threadRootId) ?? new Set<string>()
        set.add(thread ?? "")
        byRoot.set(message.threadRootId, set)
      }
      for (const [root, threads] of byRoot) assert.strictEqual(threads.size, 1, `thread of ${root} is split`)
      const distinct = new Set([...byRoot.values()].map((threads) => [...threads][0]))
      assert.strictEqual(distinct.size, byRoot.size, "two conversations share a thread")
      assert.isAbove(byRoot.size, 5)
      assert.isBelow(byRoot.size, 110)
    })
  )

  it.effect("the hostile corpus is stored safely or flagged, and never stops the sync", () =>
    Effect.gen(function* () {
      const server = yield* Dovecot
      const base = yield* baseUrl
      const user = "hostile"
      const files = fs
        .readdirSync(fixtures)
        .filter((file) => file.endsWith(".eml"))
        .sort()
      const corpus: Array<{ name: string; raw: Buffer }> = files.map((file) => ({
        name: file,
        raw: fs.readFileSync(path.join(fixtures, file))
      }))
      // generated: huge headers, deep nesting, an oversized message, random bytes, many parts
      // the header block is cut at 256 KB: what comes before the cut is kept
      const hugeHeader = `Message-ID: <huge@hostile.test>\r\nSubject: huge\r\nX-Junk: ${"a".repeat(600_000)}\r\n\r\nbody\r\n`
      let nested = "Content-Type: text/plain\r\n\r\ninnermost\r\n"
      for (let depth = 0; depth < 300; depth++) {
        nested = `Content-Type: multipart/mixed; boundary="b${depth}"\r\n\r\n--b${depth}\r\n${nested}\r\n--b${depth}--\r\n`
      }
      const deep = `Message-ID: <deep@hostile.test>\r\nSubject: deep\r\nMIME-Version: 1.0\r\n${nested}`
      const oversized = `Message-ID: <big@hostile.test>\r\nSubject: big\r\nContent-Type: text/plain\r\n\r\n${"x".repeat(1_200_000)}\r\n`
      const random = Buffer.alloc(50_000)
      for (let i = 0; i < random.length; i++) random[i] = (i * 7919 + 13) % 256
      const manyParts = `Message-ID: <parts@hostile.test>\r\nSubject: parts\r\nContent-Type: multipart/mixed; boundary="p"\r\n\r\n${Array.from(
        { length: 700 },
        (_, i) =>
          `--p\r\nContent-Type: application/octet-stream; name="f${i}.bin"\r\nContent-Disposition: attachment\r\n\r\nAAAA\r\n`
      ).join("")}--p--\r\n`
      corpus.push(
        { name: "huge-header", raw: Buffer.from(hugeHeader) },
        { name: "deep-nesting", raw: Buffer.from(deep) },
        { name: "oversized", raw: Buffer.from(oversized) },
        { name: "random-bytes", raw: random },
        { name: "many-parts", raw: Buffer.from(manyParts) }
      )
      const good = generateMessages(5, { seed: 55, domain: "hostile.test" })
      yield* Effect.promise(() =>
        server.seedMaildir(user, "INBOX", [
          ...corpus.map((entry) => ({ raw: entry.raw })),
          ...good.map((m) => ({ raw: m.raw }))
        ])
      )
      // the oversized message exceeds this installation's cap: fetched as a prefix, flagged
      const accountId = yield* createAccount(base, alice, server, { username: user, password: PASSWORD })
      const job = yield* syncNow(base, alice, accountId)
      expectSucceeded(job)
      const stored = yield* assertMatchesServer(server, user, accountId, "INBOX")
      assert.strictEqual(stored.length, corpus.length + good.length)
      for (const email of stored) {
        const html = email.html_body ?? ""
        assert.notMatch(
          html,
          /<script|javascript:|onerror=|onload=|<iframe|<svg/i,
          `UID ${email.uid} HTML is not inert`
        )
      }
      const byName = new Map(corpus.map((entry, i) => [entry.name, stored[i]]))
      const warningsOf = (name: string) => byName.get(name)?.parse_warnings.join(" | ") ?? "(not stored)"
      // what is malformed says so; what is merely unusual (encoded words, HTML only) is stored clean
      for (const name of [
        "8bit-garbage.eml",
        "bad-charset-html.eml",
        "invalid-date.eml",
        "missing-headers.eml",
        "no-from-no-date.eml",
        "odd-line-endings.eml",
        "unknown-charset.eml",
        "huge-header",
        "oversized",
        "random-bytes",
        "many-parts"
      ]) {
        assert.isAbove(byName.get(name)?.parse_warnings.length ?? 0, 0, `${name} is not flagged`)
      }
      assert.include(warningsOf("oversized"), "above the 1000000 byte limit")
      // the wording is the MIME library's (MAIL_PARSER): mailparser's or postal-mime's
      assert.match(warningsOf("many-parts"), /child nodes|part count/)
      assert.include(warningsOf("huge-header"), "header")
      assert.strictEqual(byName.get("huge-header")?.message_id, "<huge@hostile.test>")
      assert.strictEqual(byName.get("german-encoded-words.eml")?.subject, "Grüße aus Köln – Änderung")
      assert.deepStrictEqual(byName.get("german-encoded-words.eml")?.parse_warnings, [])
      for (const email of stored.slice(corpus.length)) assert.deepStrictEqual(email.parse_warnings, [])
      assert.isAtLeast(Number(field(job, "result", "messagesWithWarnings")), 11)
      const script = byName.get("script-laden.eml")
      assert.isDefined(script)
      assert.isNotNull(script?.html_body ?? null)
    })
  )

  describe("without CONDSTORE", () => {
    it.effect("a full flag scan and a UID comparison find flag changes and expunges", () =>
      Effect.gen(function* () {
        // exercised through the same processor with CONDSTORE switched off for this account's syncs
        const server = yield* Dovecot
        const base = yield* baseUrl
        const user = "nocondstore"
        yield* Effect.promise(() =>
          server.seedMaildir(
            user,
            "INBOX",
            generateMessages(30, { seed: 66, domain: "nc.test" }).map((m) => ({ raw: m.raw }))
          )
        )
        const accountId = yield* createAccount(base, alice, server, { username: user, password: PASSWORD })
        expectSucceeded(yield* syncNow(base, alice, accountId))
        yield* Effect.promise(async () => {
          await server.doveadm(["flags", "add", "-u", user, "\\Flagged", "mailbox", "INBOX", "uid", "3,4"])
          await server.doveadm(["expunge", "-u", user, "mailbox", "INBOX", "uid", "7"])
        })
        // forget the stored modseq: the next pass cannot use CHANGEDSINCE
        const sql = yield* ownerQuery(
          Schema.Struct({ n: Schema.Number }),
          (sql) =>
            sql`WITH u AS (UPDATE mailboxes SET highest_modseq = NULL WHERE account_id = ${accountId} RETURNING 1) SELECT count(*)::int AS n FROM u`
        )
        assert.isAbove(sql[0]?.n ?? 0, 0)
        const job = yield* syncNow(base, alice, accountId)
        expectSucceeded(job)
        assert.strictEqual(field(job, "result", "expunged"), 1)
        assert.strictEqual(field(job, "result", "flagUpdates"), 2)
        yield* assertMatchesServer(server, user, accountId, "INBOX")
      })
    )
  })
})
