import { assert, describe, layer } from "@effect/vitest"
import { Cause, Deferred, Effect, Exit, Fiber, Layer, Redacted, Result, Stream, Tracer } from "effect"
import {
  type FetchedMessage,
  Imap,
  ImapAuthenticationError,
  type ImapConnectOptions,
  ImapConnectionError,
  ImapMailboxMissing,
  compactUidSet,
  mergeFetchedMessage
} from "../../src/imap/Imap.ts"
import { toFetchReport } from "../../src/imap/ImapShapes.ts"
import { Dovecot, type DovecotServer, dovecotTlsScoped } from "../harness/dovecot.ts"
import { generateMessages } from "../harness/mailgen.ts"
import { closedPort, silentServer } from "../harness/sockets.ts"

const PASSWORD = "s3cret-Passw0rd"
const USERS = ["login", "fetch", "flags", "move", "store", "append", "uidvalidity", "interrupt", "spans", "empty"]

const options = (
  server: DovecotServer,
  user: string,
  overrides: Partial<ImapConnectOptions> = {}
): ImapConnectOptions => ({
  host: server.host,
  port: server.port,
  security: "none",
  username: user,
  password: Redacted.make(PASSWORD),
  timeoutMs: 5_000,
  ...overrides
})

const messageIdOf = (source: Buffer): string | null =>
  /^Message-ID:\s*(<[^>\r\n]+>)/im.exec(source.toString("latin1"))?.[1] ?? null

const sameFlags = (a: ReadonlyArray<string>, b: ReadonlyArray<string>) =>
  assert.deepStrictEqual([...a].sort(), [...b].sort())

const TestLayer = Layer.merge(Imap.layer, Dovecot.layer({ users: USERS.map((user) => ({ user, pass: PASSWORD })) }))

layer(TestLayer, { excludeTestServices: true, timeout: "60 seconds" })("Imap against a real Dovecot", (it) => {
  describe("connect", () => {
    it.effect("logs in, reports capabilities after login, and logs out when the scope closes", () =>
      Effect.gen(function* () {
        const imap = yield* Imap
        const server = yield* Dovecot
        const session = yield* Effect.scoped(
          Effect.gen(function* () {
            const session = yield* imap.connect(options(server, "login"))
            assert.isTrue(yield* session.isConnected)
            assert.isTrue(session.capabilities.has("IMAP4rev1"))
            assert.isTrue(session.capabilities.has("CONDSTORE"))
            assert.isTrue(session.supportsQresync)
            assert.isTrue(session.supportsCondstore)
            assert.strictEqual(yield* Effect.promise(() => server.sessionCount("login")), 1)
            return session
          })
        )
        assert.isFalse(yield* session.isConnected)
      })
    )

    it.effect("a user added after start-up can log in at once (harness waits out passwd-file caching)", () =>
      Effect.gen(function* () {
        const imap = yield* Imap
        const server = yield* Dovecot
        // a login in this second makes Dovecot cache the users file for the rest of it
        yield* Effect.scoped(imap.connect(options(server, "login")))
        yield* Effect.promise(() => server.addUser("late", PASSWORD))
        const mailboxes = yield* Effect.scoped(
          Effect.flatMap(imap.connect(options(server, "late")), (session) => session.listMailboxes())
        )
        assert.isTrue(mailboxes.some((mailbox) => mailbox.path === "INBOX"))
      })
    )

    it.effect("wrong password fails fast with ImapAuthenticationError that does not contain the password", () =>
      Effect.gen(function* () {
        const imap = yield* Imap
        const server = yield* Dovecot
        const wrong = "Wr0ng-Sentinel-Passw0rd"
        const started = Date.now()
        const error = yield* Effect.flip(
          Effect.scoped(imap.connect(options(server, "login", { password: Redacted.make(wrong) })))
        )
        const elapsed = Date.now() - started
        assert.instanceOf(error, ImapAuthenticationError)
        assert.isBelow(elapsed, 3_000)
        const rendered = `${String(error)} ${JSON.stringify(error)} ${error.message} ${error.stack ?? ""}`
        assert.notInclude(rendered, wrong)
        assert.notInclude(rendered, PASSWORD)
        assert.match(error.message, /auth/i)
      })
    )

    it.effect("closed port fails with ImapConnectionError(refused)", () =>
      Effect.gen(function* () {
        const imap = yield* Imap
        const server = yield* Dovecot
        const port = yield* closedPort
        const error = yield* Effect.flip(Effect.scoped(imap.connect(options(server, "login", { port }))))
        assert.instanceOf(error, ImapConnectionError)
        assert.strictEqual(error._tag === "ImapConnectionError" ? error.reason : null, "refused")
      })
    )

    it.effect("unknown host fails with ImapConnectionError(dns)", () =>
      Effect.gen(function* () {
        const imap = yield* Imap
        const server = yield* Dovecot
        const error = yield* Effect.flip(
          Effect.scoped(imap.connect(options(server, "login", { host: "no-such-host.invalid" })))
        )
        assert.strictEqual(error._tag === "ImapConnectionError" ? error.reason : error._tag, "dns")
      })
    )

    it.effect("a server that never greets fails with ImapConnectionError(timeout) within the bound", () =>
      Effect.gen(function* () {
        const imap = yield* Imap
        const server = yield* Dovecot
        const silent = yield* silentServer
        const started = Date.now()
        const error = yield* Effect.flip(
          Effect.scoped(imap.connect(options(server, "login", { port: silent.port, timeoutMs: 400 })))
        )
        assert.strictEqual(error._tag === "ImapConnectionError" ? error.reason : error._tag, "timeout")
        assert.isBelow(Date.now() - started, 2_000)
      })
    )

    it.effect("TLS: implicit TLS and STARTTLS with the CA; an untrusted certificate is a tls error", () =>
      Effect.gen(function* () {
        const imap = yield* Imap
        const tlsServer = yield* dovecotTlsScoped({ users: [{ user: "tls", pass: PASSWORD }] })
        const base = {
          ...options(tlsServer, "tls"),
          host: "127.0.0.1",
          tls: { ca: tlsServer.certificate, servername: "localhost" }
        }
        const implicit = yield* Effect.scoped(
          Effect.flatMap(imap.connect({ ...base, port: tlsServer.tlsPort, security: "tls" }), (s) => s.listMailboxes())
        )
        assert.isTrue(implicit.some((mailbox) => mailbox.specialUse === "inbox"))
        const upgraded = yield* Effect.scoped(
          Effect.flatMap(imap.connect({ ...base, security: "starttls" }), (s) => s.openMailbox("INBOX"))
        )
        assert.strictEqual(upgraded.exists, 0)
        const untrusted = yield* Effect.flip(
          Effect.scoped(imap.connect({ ...options(tlsServer, "tls"), port: tlsServer.tlsPort, security: "tls" }))
        )
        assert.strictEqual(untrusted._tag === "ImapConnectionError" ? untrusted.reason : untrusted._tag, "tls")
        // a cleartext server does not offer STARTTLS: "starttls" must refuse rather than send the password in clear
        const server = yield* Dovecot
        const downgrade = yield* Effect.flip(
          Effect.scoped(imap.connect(options(server, "login", { security: "starttls" })))
        )
        assert.strictEqual(downgrade._tag === "ImapConnectionError" ? downgrade.reason : downgrade._tag, "tls")
      })
    )
  })

  describe("mailboxes", () => {
    it.effect("lists mailboxes with normalised special-use and status", () =>
      Effect.gen(function* () {
        const imap = yield* Imap
        const server = yield* Dovecot
        yield* Effect.promise(() => server.createMailbox("empty", "Projects/2025"))
        const session = yield* imap.connect(options(server, "empty"))
        const mailboxes = yield* session.listMailboxes({ status: true })
        const byPath = new Map(mailboxes.map((mailbox) => [mailbox.path, mailbox]))
        assert.strictEqual(byPath.get("INBOX")?.specialUse, "inbox")
        assert.strictEqual(byPath.get("Sent")?.specialUse, "sent")
        assert.strictEqual(byPath.get("Drafts")?.specialUse, "drafts")
        assert.strictEqual(byPath.get("Trash")?.specialUse, "trash")
        assert.strictEqual(byPath.get("Junk")?.specialUse, "junk")
        assert.strictEqual(byPath.get("Archive")?.specialUse, "archive")
        const project = byPath.get("Projects/2025")
        assert.strictEqual(project?.specialUse, null)
        assert.strictEqual(project?.name, "2025")
        assert.strictEqual(project?.delimiter, "/")
        assert.isTrue(project?.selectable)
        const status = yield* Effect.promise(() => server.mailboxStatus("empty", "INBOX"))
        assert.strictEqual(byPath.get("INBOX")?.status?.uidValidity, status.uidValidity)
        assert.strictEqual(byPath.get("INBOX")?.status?.messages, 0)
        // an empty mailbox is not an error for any read
        assert.deepStrictEqual(yield* session.searchUids("INBOX"), [])
        assert.deepStrictEqual(yield* session.fetchFlags("INBOX"), [])
        assert.deepStrictEqual(
          yield* Stream.runCollect(session.fetchMessages("INBOX", { from: 1 }, { batchSize: 10 })),
          []
        )
        assert.deepStrictEqual(yield* session.changesSince("INBOX", "1"), { changed: [], vanished: [] })
      })
    )

    it.effect("openMailbox matches the server's status; a missing mailbox is ImapMailboxMissing", () =>
      Effect.gen(function* () {
        const imap = yield* Imap
        const server = yield* Dovecot
        yield* Effect.promise(() => server.seedMaildir("uidvalidity", "INBOX", generateMessages(3, { seed: 7 })))
        const session = yield* imap.connect(options(server, "uidvalidity"))
        const state = yield* session.openMailbox("INBOX")
        const status = yield* Effect.promise(() => server.mailboxStatus("uidvalidity", "INBOX"))
        assert.deepStrictEqual(
          { uidValidity: state.uidValidity, uidNext: state.uidNext, exists: state.exists, modseq: state.highestModseq },
          { uidValidity: status.uidValidity, uidNext: status.uidNext, exists: 3, modseq: status.highestModseq }
        )
        assert.isTrue(state.readOnly)
        const missing = yield* Effect.flip(session.openMailbox("Does/Not/Exist"))
        assert.instanceOf(missing, ImapMailboxMissing)
        assert.strictEqual(missing._tag === "ImapMailboxMissing" ? missing.path : null, "Does/Not/Exist")
      })
    )

    it.effect("a UIDVALIDITY change is visible on the next SELECT", () =>
      Effect.gen(function* () {
        const imap = yield* Imap
        const server = yield* Dovecot
        const before = yield* Effect.scoped(
          Effect.flatMap(imap.connect(options(server, "uidvalidity")), (s) => s.openMailbox("INBOX"))
        )
        const changed = yield* Effect.promise(() => server.setUidValidity("uidvalidity", "INBOX"))
        assert.notStrictEqual(changed, before.uidValidity)
        const after = yield* Effect.scoped(
          Effect.flatMap(imap.connect(options(server, "uidvalidity")), (s) => s.openMailbox("INBOX"))
        )
        assert.strictEqual(after.uidValidity, changed)
      })
    )
  })

  describe("fetch", () => {
    it.effect("fetchMessages streams batches in UID order that match doveadm fetch and the seeded bytes", () =>
      Effect.gen(function* () {
        const imap = yield* Imap
        const server = yield* Dovecot
        const messages = generateMessages(120, { seed: 42 })
        const flagsFor = (i: number) => (i % 3 === 0 ? ["\\Seen"] : i % 7 === 0 ? ["\\Flagged", "$Work"] : [])
        yield* Effect.promise(() =>
          server.seedMaildir(
            "fetch",
            "INBOX",
            messages.map((m, i) => ({ raw: m.raw, flags: flagsFor(i) }))
          )
        )
        const session = yield* imap.connect(options(server, "fetch"))
        const batches = yield* Stream.runCollect(session.fetchMessages("INBOX", { from: 1 }, { batchSize: 50 }))
        assert.deepStrictEqual(
          batches.map((batch) => batch.length),
          [50, 50, 20]
        )
        const fetched: ReadonlyArray<FetchedMessage> = batches.flat()
        const onServer = yield* Effect.promise(() => server.doveadmFetch("fetch", "INBOX"))
        assert.deepStrictEqual(
          fetched.map((m) => m.uid),
          onServer.map((m) => m.uid)
        )
        for (const [index, message] of fetched.entries()) {
          const expected = onServer[index]
          const seeded = messages[index]
          if (expected === undefined || seeded === undefined) return assert.fail(`no entry ${index}`)
          sameFlags(message.flags, expected.flags)
          sameFlags(message.flags, flagsFor(index))
          assert.strictEqual(messageIdOf(message.source), expected.messageId)
          assert.isTrue(message.source.equals(Buffer.from(seeded.raw)), `source of UID ${message.uid}`)
          assert.strictEqual(message.size, Buffer.byteLength(seeded.raw))
          assert.isFalse(message.truncated)
          assert.isNotNull(message.modseq)
          assert.instanceOf(message.internalDate, Date)
        }

        // "101:*" is the last 20; a range past the newest UID yields nothing (not the newest message)
        const tail = yield* Stream.runCollect(session.fetchMessages("INBOX", { from: 101 }, { batchSize: 500 }))
        assert.deepStrictEqual(
          tail.flat().map((m) => m.uid),
          Array.from({ length: 20 }, (_, i) => 101 + i)
        )
        const beyond = yield* Stream.runCollect(session.fetchMessages("INBOX", { from: 121 }, { batchSize: 500 }))
        assert.strictEqual(beyond.length, 0)
        const listed = yield* Stream.runCollect(session.fetchMessages("INBOX", [7, 5, 5, 999], { batchSize: 10 }))
        assert.deepStrictEqual(
          listed.flat().map((m) => m.uid),
          [5, 7]
        )
        const capped = yield* Stream.runCollect(
          session.fetchMessages("INBOX", { from: 1, to: 3 }, { batchSize: 10, maxSourceBytes: 200 })
        )
        for (const message of capped.flat()) {
          assert.strictEqual(message.source.length, 200)
          assert.isTrue(message.truncated)
        }
        assert.deepStrictEqual(
          yield* session.searchUids("INBOX"),
          Array.from({ length: 120 }, (_, i) => i + 1)
        )
        const missing = yield* Effect.flip(
          Stream.runCollect(session.fetchMessages("Nope", { from: 1 }, { batchSize: 5 }))
        )
        assert.strictEqual(missing._tag, "ImapMailboxMissing")
      })
    )

    it.effect("flag changes and expunges since a modseq (CONDSTORE / QRESYNC)", () =>
      Effect.gen(function* () {
        const imap = yield* Imap
        const server = yield* Dovecot
        yield* Effect.promise(() => server.seedMaildir("flags", "INBOX", generateMessages(10, { seed: 3 })))
        const session = yield* imap.connect(options(server, "flags"))
        const before = yield* session.openMailbox("INBOX")
        const modseq = before.highestModseq
        if (modseq === null) return assert.fail("CONDSTORE expected")
        assert.deepStrictEqual(yield* session.fetchFlags("INBOX", { changedSince: modseq }), [])
        // another client changes flags and expunges
        yield* Effect.promise(() =>
          server.doveadm(["flags", "add", "-u", "flags", "\\Flagged $Later", "mailbox", "INBOX", "uid", "3"])
        )
        yield* Effect.promise(() =>
          server.doveadm(["flags", "add", "-u", "flags", "\\Seen", "mailbox", "INBOX", "uid", "8"])
        )
        yield* Effect.promise(() => server.doveadm(["expunge", "-u", "flags", "mailbox", "INBOX", "uid", "4,9"]))
        const changed = yield* session.fetchFlags("INBOX", { changedSince: modseq })
        assert.deepStrictEqual(
          changed.map((c) => c.uid),
          [3, 8]
        )
        sameFlags(changed[0]?.flags ?? [], ["\\Flagged", "$Later"])
        sameFlags(changed[1]?.flags ?? [], ["\\Seen"])
        for (const change of changed) assert.isTrue(BigInt(change.modseq ?? "0") > BigInt(modseq))
        assert.deepStrictEqual(yield* session.vanishedSince("INBOX", modseq), [4, 9])
        const both = yield* session.changesSince("INBOX", modseq)
        assert.deepStrictEqual(
          both.changed.map((c) => c.uid),
          [3, 8]
        )
        assert.deepStrictEqual(both.vanished, [4, 9])
        const all = yield* session.fetchFlags("INBOX")
        assert.strictEqual(all.length, 8)
        const notModseq = yield* Effect.flip(session.fetchFlags("INBOX", { changedSince: "12; DROP" }))
        assert.strictEqual(notModseq._tag, "ImapProtocolError")
      })
    )
  })

  describe("writes", () => {
    it.effect(
      "moveMessages returns the UID map and the server agrees; a missing destination is ImapMailboxMissing",
      () =>
        Effect.gen(function* () {
          const imap = yield* Imap
          const server = yield* Dovecot
          const messages = generateMessages(5, { seed: 11 })
          yield* Effect.promise(() => server.seedMaildir("move", "INBOX", messages))
          const session = yield* imap.connect(options(server, "move"))
          const result = yield* session.moveMessages("INBOX", [2, 4], "Archive")
          assert.deepStrictEqual([...result.uidMap.keys()].sort(), [2, 4])
          const archive = yield* Effect.promise(() => server.doveadmFetch("move", "Archive"))
          const inbox = yield* Effect.promise(() => server.doveadmFetch("move", "INBOX"))
          assert.deepStrictEqual(
            inbox.map((m) => m.uid),
            [1, 3, 5]
          )
          assert.strictEqual(archive.find((m) => m.uid === result.uidMap.get(2))?.messageId, messages[1]?.messageId)
          assert.strictEqual(archive.find((m) => m.uid === result.uidMap.get(4))?.messageId, messages[3]?.messageId)
          const status = yield* Effect.promise(() => server.mailboxStatus("move", "Archive"))
          assert.strictEqual(result.destinationUidValidity, status.uidValidity)
          const missing = yield* Effect.flip(session.moveMessages("INBOX", [1], "No/Such/Folder"))
          assert.instanceOf(missing, ImapMailboxMissing)
          assert.strictEqual(missing._tag === "ImapMailboxMissing" ? missing.path : null, "No/Such/Folder")
        })
    )

    it.effect("setFlags adds and removes flags, verified with doveadm", () =>
      Effect.gen(function* () {
        const imap = yield* Imap
        const server = yield* Dovecot
        yield* Effect.promise(() =>
          server.seedMaildir(
            "store",
            "INBOX",
            generateMessages(4, { seed: 5 }).map((m) => ({ raw: m.raw, flags: ["\\Flagged"] }))
          )
        )
        const session = yield* imap.connect(options(server, "store"))
        // a read-only open first: setFlags must switch to a writable SELECT
        yield* session.openMailbox("INBOX", { readOnly: true })
        yield* session.setFlags("INBOX", [1, 3], ["\\Seen", "$Important"], ["\\Flagged"])
        const stored = yield* Effect.promise(() => server.doveadmFetch("store", "INBOX"))
        sameFlags(stored[0]?.flags ?? [], ["\\Seen", "$Important"])
        sameFlags(stored[1]?.flags ?? [], ["\\Flagged"])
        sameFlags(stored[2]?.flags ?? [], ["\\Seen", "$Important"])
        sameFlags(stored[3]?.flags ?? [], ["\\Flagged"])
      })
    )

    it.effect("append stores the message with flags and reports its UID", () =>
      Effect.gen(function* () {
        const imap = yield* Imap
        const server = yield* Dovecot
        const [message] = generateMessages(1, { seed: 9 })
        if (message === undefined) return assert.fail("no message")
        const session = yield* imap.connect(options(server, "append"))
        const result = yield* session.append("Sent", message.raw, { flags: ["\\Seen"] })
        const stored = yield* Effect.promise(() => server.doveadmFetch("append", "Sent"))
        assert.deepStrictEqual(stored, [{ uid: result.uid ?? -1, flags: ["\\Seen"], messageId: message.messageId }])
        const missing = yield* Effect.flip(session.append("Nowhere", message.raw))
        assert.strictEqual(missing._tag, "ImapMailboxMissing")
      })
    )
  })

  it.effect(
    "interrupting a fetch closes the connection, on both sides",
    () =>
      Effect.gen(function* () {
        const imap = yield* Imap
        const server = yield* Dovecot
        // about 100 MB: far more than can arrive in the 150 ms before the interrupt
        const big = `Message-ID: <big@example>\r\nSubject: big\r\n\r\n${"x".repeat(76).concat("\r\n").repeat(26_000)}`
        yield* Effect.promise(() =>
          server.seedMaildir(
            "interrupt",
            "INBOX",
            Array.from({ length: 50 }, () => ({ raw: big }))
          )
        )
        const session = yield* imap.connect(options(server, "interrupt"))
        yield* session.openMailbox("INBOX")
        const started = yield* Deferred.make<void>()
        const fiber = yield* Effect.forkChild(
          Deferred.succeed(started, undefined).pipe(
            Effect.andThen(
              Stream.runCollect(
                session.fetchMessages(
                  "INBOX",
                  [...Array(50).keys()].map((i) => i + 1),
                  // 10 of 2 MB per UID FETCH: within the per-FETCH byte bound (1.25 x SYNC_BATCH_BYTES),
                  // which 50 at once would break before the interrupt on a quiet machine
                  { batchSize: 10 }
                )
              )
            )
          )
        )
        yield* Deferred.await(started)
        yield* Effect.sleep("150 millis")
        const interruptedAt = Date.now()
        yield* Fiber.interrupt(fiber)
        const exit = yield* Fiber.await(fiber)
        assert.isTrue(
          Exit.isFailure(exit) && Exit.hasInterrupts(exit),
          `the fetch ended before the interrupt: ${Exit.isFailure(exit) ? Cause.pretty(exit.cause) : "succeeded"}`
        )
        assert.isBelow(Date.now() - interruptedAt, 1_000)
        assert.isFalse(yield* session.isConnected)
        const after = yield* Effect.flip(session.searchUids("INBOX"))
        assert.strictEqual(after._tag === "ImapConnectionError" ? after.reason : after._tag, "closed")
        // the server notices the closed socket
        let remaining = -1
        for (let i = 0; i < 50 && remaining !== 0; i++) {
          remaining = yield* Effect.promise(() => server.sessionCount("interrupt"))
          if (remaining !== 0) yield* Effect.sleep("100 millis")
        }
        assert.strictEqual(remaining, 0)
      }),
    60_000
  )

  it.effect("spans carry no secrets", () =>
    Effect.gen(function* () {
      const imap = yield* Imap
      const server = yield* Dovecot
      const spans: Array<Tracer.NativeSpan> = []
      const tracer = Tracer.make({
        span(spanOptions) {
          const span = new Tracer.NativeSpan(spanOptions)
          spans.push(span)
          return span
        }
      })
      yield* Effect.scoped(
        Effect.gen(function* () {
          const session = yield* imap.connect(options(server, "spans"))
          yield* session.listMailboxes()
          yield* session.openMailbox("INBOX")
          yield* Stream.runDrain(session.fetchMessages("INBOX", { from: 1 }, { batchSize: 10 }))
        })
      ).pipe(Effect.provideService(Tracer.Tracer, tracer))
      const names = spans.map((span) => span.name)
      assert.includeMembers(names, ["imap.connect", "imap.list", "imap.select", "imap.search"])
      const dump = JSON.stringify(spans.map((span) => [span.name, [...span.attributes.entries()]]))
      assert.notInclude(dump, PASSWORD)
      assert.include(dump, "imap.host")
    })
  )

  it.effect("compactUidSet", () =>
    Effect.sync(() => {
      assert.strictEqual(compactUidSet([5, 1, 2, 3, 9, 8, 8]), "1:3,5,8:9")
      assert.strictEqual(compactUidSet([]), "")
    })
  )

  it.effect("a UID reported twice in one fetch (flag change meanwhile) is merged, source kept", () =>
    Effect.sync(() => {
      const byUid = new Map<number, FetchedMessage>()
      const source = Buffer.from("Subject: x\r\n\r\nbody")
      const report = (raw: unknown) => Result.getOrThrow(toFetchReport("INBOX", raw))
      mergeFetchedMessage(byUid, report({ seq: 1, uid: 7, flags: new Set(["\\Recent"]), size: source.length, source }))
      mergeFetchedMessage(byUid, report({ seq: 1, uid: 7, flags: new Set(["\\Seen"]), modseq: 9n }))
      mergeFetchedMessage(byUid, report({ seq: 2, uid: 8, flags: new Set([]) }))
      assert.deepStrictEqual([...byUid.keys()], [7])
      const merged = byUid.get(7)
      assert.deepStrictEqual(merged?.flags, ["\\Seen"])
      assert.strictEqual(merged?.modseq, "9")
      assert.isTrue(merged?.source.equals(source))
    })
  )

  it.effect("concurrent flag changes during a fetch never duplicate or lose a UID", () =>
    Effect.gen(function* () {
      const imap = yield* Imap
      const server = yield* Dovecot
      yield* Effect.promise(() => server.seedMaildir("spans", "Trash", generateMessages(400, { seed: 77 })))
      const session = yield* imap.connect(options(server, "spans"))
      yield* session.openMailbox("Trash")
      const writer = yield* Effect.forkChild(
        Effect.forEach(
          [1, 50, 100, 150, 200, 250, 300, 350],
          (uid) =>
            Effect.promise(() =>
              server.doveadm(["flags", "add", "-u", "spans", "\\Seen", "mailbox", "Trash", "uid", `${uid}:${uid + 40}`])
            ),
          { discard: true }
        )
      )
      const batches = yield* Stream.runCollect(session.fetchMessages("Trash", { from: 1 }, { batchSize: 400 }))
      yield* Fiber.join(writer)
      const uids = batches.flat().map((m) => m.uid)
      assert.deepStrictEqual(
        uids,
        Array.from({ length: 400 }, (_, i) => i + 1)
      )
    })
  )
})
