import { assert, layer } from "@effect/vitest"
import { Effect, Layer, Schema } from "effect"
import { SqlClient } from "effect/sql"
import fc from "fast-check"
import { AccountId, MailboxId } from "../../src/contract/accounts/Account.ts"
import { PlatformLive } from "../../src/main/layers.ts"
import { type BatchTarget, type EmailInput, MailStore } from "../../src/sync/MailStore.ts"
import { normaliseMessageId, threadKeyCandidates } from "../../src/sync/mime.ts"
import { assignThreads, maxCandidates, threadIdFor } from "../../src/sync/threading.ts"
import { UserId } from "../../src/contract/users/UserId.ts"
import { UserScope } from "../../src/users/UserScope.ts"
import { configLayer, withTestEnv } from "../harness/TestEnv.ts"
import { ensureTestUser } from "../users/fixtures.ts"

/*
 * Issue 12 (b): a chain's messages join one thread whatever the order and the folders they arrive
 * in, and unrelated chains never merge. The chain's messages go through the real store functions the
 * sync uses (`threadKeyCandidates`, `MailStore.knownThreads`, `assignThreads`, `MailStore.storeBatch`)
 * against the real database, one storeBatch per run of arrivals in the same folder.
 */

const TestLayer = withTestEnv((env) =>
  MailStore.layer.pipe(Layer.provideMerge(PlatformLive), Layer.provide(configLayer(env)))
)

const owner = UserId.make("12121212-1212-4121-8121-121212121212")
const Id = Schema.Struct({ id: Schema.String })
const decodeIds = Schema.decodeUnknownEffect(Schema.Array(Id))

/** How a reply names its ancestors: all clients differ. */
type Style = "full" | "inReplyToOnly" | "parentReferenceOnly" | "referencesWithoutRoot"

interface Message {
  readonly chain: number
  readonly messageId: string
  readonly inReplyTo: string | null
  readonly references: ReadonlyArray<string>
}

const emailOf = (message: Message, uid: number): EmailInput => ({
  uid,
  messageId: message.messageId,
  inReplyTo: message.inReplyTo,
  references: message.references,
  threadId: "",
  subject: `chain ${message.chain}`,
  from: [{ name: null, address: "a@example.test" }],
  to: [],
  cc: [],
  bcc: [],
  replyTo: [],
  sentAt: null,
  receivedAt: null,
  flags: [],
  size: 100,
  textBody: message.messageId,
  htmlBody: null,
  headers: {},
  attachments: [],
  warnings: [],
  modseq: null
})

/** Stores one batch the way MailSync.storeBatch does. */
const storeLikeTheSync = (target: BatchTarget, batch: ReadonlyArray<{ message: Message; uid: number }>) =>
  Effect.gen(function* () {
    const store = yield* MailStore
    const emails = batch.map(({ message, uid }) => emailOf(message, uid))
    const candidates = emails.map((email) => threadKeyCandidates(email).slice(0, maxCandidates))
    const messageIds = [...new Set(candidates.flat())]
    const threadKeys = messageIds.map((id) => threadIdFor(target.accountId, id))
    const prepare = Effect.gen(function* () {
      const known = yield* store.knownThreads(target, messageIds, threadKeys)
      const assignment = assignThreads(
        target.accountId,
        emails.map((email, index) => ({
          candidates: candidates[index] ?? [],
          ownId: normaliseMessageId(email.messageId),
          fallbackKey: `uid:${target.mailboxId}:${target.uidValidity}:${email.uid}`
        })),
        known
      )
      return {
        emails: emails.map((email, index) => ({ ...email, threadId: assignment.threads[index] ?? "" })),
        merges: assignment.merges
      }
    })
    const last = batch[batch.length - 1]?.uid ?? 0
    yield* store.storeBatch(target, { _tag: "complete", to: last }, prepare, { deferSearchIndex: false })
  })

/** A fresh account with three mailboxes (threads are per account: every run starts clean). */
const newAccount = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  const scope = yield* UserScope
  return yield* scope.run(
    owner,
    Effect.gen(function* () {
      const [account] = yield* sql`
        INSERT INTO mail_accounts (user_id, label, host, port, security, username, password_sealed)
        VALUES (${owner}, 'threads', 'imap.example.test', 993, 'tls', ${crypto.randomUUID()}, 'sealed')
        RETURNING id`.pipe(Effect.flatMap(decodeIds))
      const accountId = account?.id ?? ""
      const boxes = yield* sql`
        INSERT INTO mailboxes (user_id, account_id, path, name, uid_validity)
        SELECT ${owner}, ${accountId}::uuid, p, p, 1 FROM unnest(ARRAY['INBOX', 'Archive', 'Sent']) AS p
        RETURNING id`.pipe(Effect.flatMap(decodeIds))
      return { accountId: AccountId.make(accountId), mailboxIds: boxes.map((box) => MailboxId.make(box.id)) }
    })
  )
})

const threadsOf = (accountId: string) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const scope = yield* UserScope
    const rows = yield* scope.run(
      owner,
      sql<{ readonly message_id: string; readonly thread_id: string }>`
        SELECT message_id, thread_id FROM emails WHERE account_id = ${accountId}`
    )
    return new Map(rows.map((row) => [row.message_id, row.thread_id]))
  })

/** Stores the arrivals (message, folder) in order: a batch per run of the same folder, cut where asked. */
const storeArrivals = (
  arrivals: ReadonlyArray<{ readonly message: Message; readonly folder: number; readonly cut: boolean }>
) =>
  Effect.gen(function* () {
    const { accountId, mailboxIds } = yield* newAccount
    const nextUid = [0, 0, 0]
    let batch: Array<{ message: Message; uid: number }> = []
    let folder = -1
    const flush = Effect.suspend(() => {
      const mailboxId = mailboxIds[folder]
      const items = batch
      batch = []
      return items.length === 0 || mailboxId === undefined
        ? Effect.void
        : storeLikeTheSync({ owner, accountId, mailboxId, uidValidity: 1 }, items)
    })
    for (const arrival of arrivals) {
      if (arrival.folder !== folder || arrival.cut) yield* flush
      folder = arrival.folder
      const uid = (nextUid[folder] ?? 0) + 1
      nextUid[folder] = uid
      batch.push({ message: arrival.message, uid })
    }
    yield* flush
    return yield* threadsOf(accountId)
  })

/** Chains as trees: message i > 0 replies to an earlier message of the same chain, in one header style. */
const chainsArbitrary = fc
  .array(
    fc.array(
      fc.tuple(
        fc.nat(),
        fc.constantFrom<Style>("full", "inReplyToOnly", "parentReferenceOnly", "referencesWithoutRoot")
      ),
      {
        minLength: 1,
        maxLength: 5
      }
    ),
    { minLength: 1, maxLength: 3 }
  )
  .map((chains) => {
    const run = crypto.randomUUID().slice(0, 8)
    return chains.flatMap((replies, chain) => {
      const ids = [`c${chain}-0.${run}@example.test`]
      const ancestry: Array<ReadonlyArray<string>> = [[]]
      const messages: Array<Message> = [{ chain, messageId: `<${ids[0]}>`, inReplyTo: null, references: [] }]
      replies.forEach(([pick, style], index) => {
        const parent = pick % ids.length
        const id = `c${chain}-${index + 1}.${run}@example.test`
        const path = [...(ancestry[parent] ?? []), ids[parent] ?? ""]
        const refs = path.map((ref) => `<${ref}>`)
        const parentRef = `<${ids[parent]}>`
        messages.push({
          chain,
          messageId: `<${id}>`,
          inReplyTo: style === "parentReferenceOnly" ? null : parentRef,
          references:
            style === "full"
              ? refs
              : style === "inReplyToOnly"
                ? []
                : style === "parentReferenceOnly"
                  ? [parentRef]
                  : refs.slice(1).length > 0
                    ? refs.slice(1)
                    : [parentRef]
        })
        ids.push(id)
        ancestry.push(path)
      })
      return messages
    })
  })

const arrivalsArbitrary = chainsArbitrary.chain((messages) =>
  fc
    .tuple(
      fc.shuffledSubarray(messages, { minLength: messages.length, maxLength: messages.length }),
      fc.array(fc.tuple(fc.integer({ min: 0, max: 2 }), fc.boolean()), {
        minLength: messages.length,
        maxLength: messages.length
      })
    )
    .map(([order, placement]) =>
      order.map((message, index) => ({
        message,
        folder: placement[index]?.[0] ?? 0,
        cut: placement[index]?.[1] ?? false
      }))
    )
)

const assertOneThreadPerChain = (
  arrivals: ReadonlyArray<{ readonly message: Message }>,
  threads: ReadonlyMap<string, string>
) => {
  const byChain = new Map<number, Set<string>>()
  for (const { message } of arrivals) {
    const thread = threads.get(message.messageId)
    assert.isDefined(thread, `${message.messageId} was stored`)
    const set = byChain.get(message.chain) ?? new Set<string>()
    set.add(thread ?? "")
    byChain.set(message.chain, set)
  }
  for (const [chain, set] of byChain) assert.strictEqual(set.size, 1, `chain ${chain} is one thread: ${[...set]}`)
  const all = [...byChain.values()].map((set) => [...set][0])
  assert.strictEqual(new Set(all).size, byChain.size, "unrelated chains stay apart")
}

layer(TestLayer, { excludeTestServices: true, timeout: "120 seconds" })("threads whatever the order", (it) => {
  it.effect("a reply chain over three folders stored newest first is one thread", () =>
    Effect.gen(function* () {
      yield* ensureTestUser(owner)
      const a: Message = { chain: 0, messageId: "<root.example@example.test>", inReplyTo: null, references: [] }
      const b: Message = {
        chain: 0,
        messageId: "<reply.example@example.test>",
        inReplyTo: a.messageId,
        references: [a.messageId]
      }
      // a client that sends In-Reply-To only
      const c: Message = {
        chain: 0,
        messageId: "<answer.example@example.test>",
        inReplyTo: b.messageId,
        references: []
      }
      const arrivals = [
        { message: c, folder: 2, cut: false },
        { message: b, folder: 1, cut: false },
        { message: a, folder: 0, cut: false }
      ]
      assertOneThreadPerChain(arrivals, yield* storeArrivals(arrivals))
    })
  )

  it.effect("any arrival order and folder placement: one thread per chain, no merging of chains", () =>
    Effect.gen(function* () {
      yield* ensureTestUser(owner)
      const run = Effect.runPromiseWith(yield* Effect.context<MailStore | SqlClient.SqlClient | UserScope>())
      yield* Effect.promise(() =>
        fc.assert(
          fc.asyncProperty(arrivalsArbitrary, async (arrivals) => {
            const threads = await run(storeArrivals(arrivals))
            assertOneThreadPerChain(arrivals, threads)
          }),
          { numRuns: 60 }
        )
      )
    })
  )
})
