/**
 * Issue 12: rule moves on servers without MOVE, at the IMAP session (src/imap/Imap.ts
 * `moveMessages`), against real Dovecots that announce only IMAP4rev1 (no MOVE, no UIDPLUS) or
 * IMAP4rev1 + UIDPLUS (like Courier). Generated folders: some messages to move, some left, some of
 * either marked \Deleted by "another client", some without or with a shared Message-ID. Checked with
 * doveadm (not through IMAP):
 * - UIDPLUS: UID COPY + STORE + UID EXPUNGE moves exactly the chosen messages; another \Deleted
 *   message stays, still \Deleted;
 * - no UIDPLUS: when the folder holds another \Deleted message the move is refused with
 *   ImapUnsafeExpunge (its message names the count) and nothing changes on either side; otherwise
 *   the messages move, and every message with a unique Message-ID is mapped to its real new UID,
 *   the others are listed as `unmapped` (never a guessed UID).
 */
import { assert, layer } from "@effect/vitest"
import { Context, Effect, Layer, Redacted, Result } from "effect"
import fc from "fast-check"
import { ImapFlow } from "imapflow"
import { Imap } from "../../src/imap/Imap.ts"
import { type DovecotServer, startDovecot } from "../harness/dovecot.ts"

class DovecotUnderTest extends Context.Service<DovecotUnderTest, DovecotServer>()("test/rules/DovecotUnderTest") {}

const PASSWORD = "Move-Fallback-pw1"
const USER = "mover"

interface Spec {
  /** Which message this is (its Message-ID, unless `noId`; `sharedId` gives it the same one as another). */
  readonly name: string
  readonly move: boolean
  readonly deleted: boolean
  readonly noId: boolean
  readonly sharedId: boolean
}

const specArb = fc
  .array(
    fc.record({
      move: fc.boolean(),
      deleted: fc.boolean(),
      noId: fc.integer({ min: 0, max: 6 }).map((n) => n === 0),
      sharedId: fc.integer({ min: 0, max: 6 }).map((n) => n === 0)
    }),
    { minLength: 1, maxLength: 7 }
  )
  .map((records) => records.map((r, index): Spec => ({ ...r, name: `m${index}` })))
  // at least one message to move
  .filter((specs) => specs.some((spec) => spec.move))

const idOf = (spec: Spec, run: number): string | null =>
  spec.noId ? null : spec.sharedId ? `<shared.${run}@move.example>` : `<${spec.name}.${run}@move.example>`

const raw = (spec: Spec, run: number) =>
  [
    ...(idOf(spec, run) === null ? [] : [`Message-ID: ${idOf(spec, run)}`]),
    "From: a@example.com",
    `Subject: ${spec.name} ${run}`,
    "",
    `body ${spec.name}`,
    ""
  ].join("\r\n")

const seed = (server: DovecotServer, source: string, destination: string, specs: ReadonlyArray<Spec>, run: number) =>
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
      await client.mailboxCreate(source)
      await client.mailboxCreate(destination)
      // a message already in the destination with the same Message-ID as a moved one must not be taken for it
      await client.append(
        destination,
        raw({ name: "m0", move: false, deleted: false, noId: false, sharedId: false }, run)
      )
      const uids = new Map<string, number>()
      for (const spec of specs) {
        const appended = await client.append(source, raw(spec, run), spec.deleted ? ["\\Deleted"] : [])
        if (appended === false || appended.uid === undefined) throw new Error("APPEND returned no UID")
        uids.set(spec.name, appended.uid)
      }
      return uids
    } finally {
      await client.logout().catch(() => client.close())
    }
  })

const variants = [
  { name: "IMAP4rev1 only (no MOVE, no UIDPLUS)", capabilities: ["IMAP4rev1"], uidplus: false },
  { name: "IMAP4rev1 + UIDPLUS (no MOVE, like Courier)", capabilities: ["IMAP4rev1", "UIDPLUS"], uidplus: true }
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
    `moveMessages without MOVE: ${variant.name}`,
    (it) => {
      it.effect("moves exactly the chosen messages, never expunges another client's \\Deleted message", () =>
        Effect.gen(function* () {
          const imap = yield* Imap
          const server = yield* DovecotUnderTest
          let run = 0
          const samples = fc.sample(specArb, { numRuns: 12, seed: variant.uidplus ? 12 : 4 })
          // the cases the issue names, always
          samples.push(
            [
              { name: "m0", move: true, deleted: false, noId: false, sharedId: false },
              { name: "m1", move: false, deleted: true, noId: false, sharedId: false }
            ],
            [
              { name: "m0", move: true, deleted: false, noId: true, sharedId: false },
              { name: "m1", move: true, deleted: false, noId: false, sharedId: true },
              { name: "m2", move: true, deleted: false, noId: false, sharedId: true },
              { name: "m3", move: true, deleted: false, noId: false, sharedId: false }
            ]
          )
          for (const specs of samples) {
            run += 1
            const source = `Src${run}`
            const destination = `Dst${run}`
            const uids = yield* seed(server, source, destination, specs, run)
            const uidOf = (spec: Spec) => uids.get(spec.name) ?? 0
            const beforeSource = yield* Effect.promise(() => server.doveadmFetch(USER, source))
            const beforeDestination = yield* Effect.promise(() => server.doveadmFetch(USER, destination))
            const moving = specs.filter((spec) => spec.move)
            const result = yield* Effect.result(
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
                  (session) => session.moveMessages(source, moving.map(uidOf), destination)
                )
              )
            )
            const afterSource = yield* Effect.promise(() => server.doveadmFetch(USER, source))
            const afterDestination = yield* Effect.promise(() => server.doveadmFetch(USER, destination))
            const context = `run ${run}: ${JSON.stringify(specs)}`
            const othersDeleted = specs.filter((spec) => !spec.move && spec.deleted).length

            if (!variant.uidplus && othersDeleted > 0) {
              assert.isTrue(Result.isFailure(result), `refused: ${context}`)
              if (Result.isFailure(result)) {
                assert.strictEqual(result.failure._tag, "ImapUnsafeExpunge", context)
                assert.include(
                  result.failure.message,
                  `unsafe_expunge: the folder ${source} holds ${othersDeleted} other message${othersDeleted === 1 ? "" : "s"} marked deleted; expunging would remove them too`,
                  context
                )
              }
              // nothing changed on either side
              assert.deepStrictEqual(afterSource, beforeSource, context)
              assert.deepStrictEqual(afterDestination, beforeDestination, context)
              continue
            }
            if (Result.isFailure(result)) assert.fail(`${context}: ${result.failure.message}`)
            if (!Result.isSuccess(result)) continue
            const moved = result.success
            // the source keeps exactly the others, with their flags (\Deleted included)
            assert.deepStrictEqual(
              afterSource,
              beforeSource.filter((message) => !moving.some((spec) => uidOf(spec) === message.uid)),
              context
            )
            // the destination gained exactly the moved messages
            const gained = afterDestination.filter((m) => !beforeDestination.some((b) => b.uid === m.uid))
            assert.strictEqual(gained.length, moving.length, context)
            // every mapping points at the right message; no UID is guessed
            for (const spec of moving) {
              const target = moved.uidMap.get(uidOf(spec))
              if (target === undefined) {
                assert.include(moved.unmapped, uidOf(spec), `${spec.name} neither mapped nor unmapped: ${context}`)
                continue
              }
              const landed = gained.find((m) => m.uid === target)
              assert.isDefined(landed, `${spec.name} mapped to ${target}, not a new message: ${context}`)
              assert.strictEqual(landed?.messageId ?? null, idOf(spec, run), context)
            }
            if (variant.uidplus) assert.deepStrictEqual(moved.unmapped, [], `COPYUID maps every message: ${context}`)
            else {
              // unique Message-IDs are always found
              for (const spec of moving.filter((s) => !s.noId && !s.sharedId))
                assert.isTrue(moved.uidMap.has(uidOf(spec)), `${spec.name} has a unique Message-ID: ${context}`)
            }
            assert.isNotNull(moved.destinationUidValidity, context)
          }
        })
      )
    }
  )
}
