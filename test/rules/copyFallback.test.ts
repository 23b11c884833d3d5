/**
 * Issue 12: the copy rule action at the IMAP session (src/imap/Imap.ts `copyMessages`,
 * `deleteMessages`) on real Dovecots announcing only IMAP4rev1 (no UIDPLUS, no COPYUID) or
 * IMAP4rev1 + UIDPLUS, checked with doveadm:
 * - the copies land, the originals stay; each copy's UID (COPYUID, or found by Message-ID) points at
 *   the copy; copying again copies nothing (`existing` names the copy already there), also when the
 *   destination holds a message whose Message-ID merely contains the other's (HEADER search is a
 *   substring match);
 * - a message without Message-ID is not copied (`withoutMessageId`);
 * - undo's removal: with UIDPLUS only the copy goes even beside another \Deleted message; without
 *   UIDPLUS it is refused there (ImapUnsafeExpunge, nothing removed), and removes only the copy once
 *   the other message is gone.
 */
import { assert, layer } from "@effect/vitest"
import { Context, Effect, Layer, Redacted, Result } from "effect"
import { ImapFlow } from "imapflow"
import { Imap, type ImapSession } from "../../src/imap/Imap.ts"
import { type DovecotServer, startDovecot } from "../harness/dovecot.ts"

class DovecotUnderTest extends Context.Service<DovecotUnderTest, DovecotServer>()("test/rules/CopyDovecot") {}

const PASSWORD = "Copy-Fallback-pw1"
const USER = "copier"

const raw = (subject: string, messageId: string | null) =>
  [
    ...(messageId === null ? [] : [`Message-ID: ${messageId}`]),
    "From: a@example.com",
    `Subject: ${subject}`,
    "",
    `body ${subject}`,
    ""
  ].join("\r\n")

const withClient = <A>(server: DovecotServer, work: (client: ImapFlow) => Promise<A>) =>
  Effect.promise(async () => {
    const client = new ImapFlow({
      host: server.host,
      port: server.port,
      secure: false,
      auth: { user: USER, pass: PASSWORD },
      logger: false
    })
    await client.connect()
    try {
      return await work(client)
    } finally {
      await client.logout().catch(() => client.close())
    }
  })

const variants = [
  { name: "IMAP4rev1 only (no UIDPLUS)", capabilities: ["IMAP4rev1"], uidplus: false },
  { name: "IMAP4rev1 + UIDPLUS", capabilities: ["IMAP4rev1", "UIDPLUS"], uidplus: true }
] as const

for (const variant of variants) {
  const ServerLayer = Layer.effect(
    DovecotUnderTest,
    Effect.acquireRelease(
      Effect.promise(() =>
        startDovecot({ users: [{ user: USER, pass: PASSWORD }], capabilities: variant.capabilities })
      ),
      (server) => Effect.promise(() => server.stop())
    )
  )
  layer(Layer.merge(Imap.layer, ServerLayer), { excludeTestServices: true, timeout: "120 seconds" })(
    `copyMessages / deleteMessages: ${variant.name}`,
    (it) => {
      it.effect("copies once, keeps the originals, and removes only the copy", () =>
        Effect.gen(function* () {
          const imap = yield* Imap
          const server = yield* DovecotUnderTest
          const source = "Src"
          const destination = "Dst"
          const uids = yield* withClient(server, async (client) => {
            await client.mailboxCreate(source)
            await client.mailboxCreate(destination)
            // its Message-ID header contains "<a@copy.example>" as a substring: not the same message
            await client.append(destination, raw("lookalike", "<a@copy.example>.old"))
            const out: Array<number> = []
            for (const [subject, id] of [
              ["a", "<a@copy.example>"],
              ["b", "<b@copy.example>"],
              ["no id", null]
            ] as const) {
              const appended = await client.append(source, raw(subject, id))
              if (appended === false || appended.uid === undefined) throw new Error("APPEND returned no UID")
              out.push(appended.uid)
            }
            return out
          })
          const [a, b, noId] = uids
          if (a === undefined || b === undefined || noId === undefined) throw new Error("seeded 3")
          const withSession = <A, E>(f: (session: ImapSession) => Effect.Effect<A, E>) =>
            Effect.scoped(
              Effect.flatMap(
                imap.connect({
                  host: server.host,
                  port: server.port,
                  security: "none",
                  username: USER,
                  password: Redacted.make(PASSWORD),
                  timeoutMs: 5_000
                }),
                f
              )
            )
          const sourceBefore = yield* Effect.promise(() => server.doveadmFetch(USER, source))

          // 1. first copy: a and b copied, the message without Message-ID not
          const first = yield* withSession((s) => s.copyMessages(source, [a, b, noId, 9999], destination))
          assert.deepStrictEqual(first.withoutMessageId, [noId])
          assert.deepStrictEqual([...first.existing], [])
          assert.deepStrictEqual(first.unmapped, [])
          assert.isNotNull(first.destinationUidValidity)
          const afterFirst = yield* Effect.promise(() => server.doveadmFetch(USER, destination))
          assert.deepStrictEqual(
            afterFirst.map((m) => m.messageId).sort(),
            ["<a@copy.example>", "<a@copy.example>.old", "<b@copy.example>"],
            JSON.stringify(afterFirst)
          )
          for (const [from, id] of [
            [a, "<a@copy.example>"],
            [b, "<b@copy.example>"]
          ] as const) {
            const to = first.uidMap.get(from)
            assert.strictEqual(afterFirst.find((m) => m.uid === to)?.messageId, id, `${from} -> ${to}`)
          }
          assert.deepStrictEqual(yield* Effect.promise(() => server.doveadmFetch(USER, source)), sourceBefore)

          // 2. again: nothing copied, the copies already there are named
          const second = yield* withSession((s) => s.copyMessages(source, [a, b], destination))
          assert.deepStrictEqual([...second.uidMap], [])
          assert.deepStrictEqual(
            [...second.existing].sort(),
            [
              [a, first.uidMap.get(a)],
              [b, first.uidMap.get(b)]
            ].sort()
          )
          assert.deepStrictEqual(yield* Effect.promise(() => server.doveadmFetch(USER, destination)), afterFirst)

          // 3. undo's removal beside another client's \Deleted message
          const copyOfA = first.uidMap.get(a) ?? 0
          yield* withClient(server, async (client) => {
            await client.mailboxOpen(destination)
            await client.messageFlagsAdd("1", ["\\Deleted"])
          })
          const marked = yield* Effect.promise(() => server.doveadmFetch(USER, destination))
          const removed = yield* Effect.result(withSession((s) => s.deleteMessages(destination, [copyOfA])))
          const afterRemove = yield* Effect.promise(() => server.doveadmFetch(USER, destination))
          if (variant.uidplus) {
            assert.deepStrictEqual(Result.isSuccess(removed) ? removed.success : removed.failure, [copyOfA])
            assert.deepStrictEqual(
              afterRemove,
              marked.filter((m) => m.uid !== copyOfA)
            )
          } else {
            assert.isTrue(Result.isFailure(removed), "refused without UIDPLUS beside another \\Deleted message")
            if (Result.isFailure(removed)) {
              assert.strictEqual(removed.failure._tag, "ImapUnsafeExpunge")
              assert.include(removed.failure.message, "holds 1 other message marked deleted")
            }
            assert.deepStrictEqual(afterRemove, marked, "nothing removed, no flag left behind")
            // the other client expunges its \Deleted message (sequence 1): now only the copy goes
            yield* withClient(server, async (client) => {
              await client.mailboxOpen(destination)
              await client.messageDelete("1")
            })
            const unmarked = yield* Effect.promise(() => server.doveadmFetch(USER, destination))
            const again = yield* withSession((s) => s.deleteMessages(destination, [copyOfA]))
            assert.deepStrictEqual(again, [copyOfA])
            assert.deepStrictEqual(
              yield* Effect.promise(() => server.doveadmFetch(USER, destination)),
              unmarked.filter((m) => m.uid !== copyOfA)
            )
          }
          // the originals are untouched throughout
          assert.deepStrictEqual(yield* Effect.promise(() => server.doveadmFetch(USER, source)), sourceBefore)
        })
      )
    }
  )
}
