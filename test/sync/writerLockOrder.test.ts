import { assert, layer } from "@effect/vitest"
import { Deferred, Effect, Fiber, Layer, Schema } from "effect"
import { SqlClient, SqlError } from "effect/sql"
import fc from "fast-check"
import { AccountId, MailboxId } from "../../src/contract/accounts/Account.ts"
import { type AnalysisOutcome, type EmbeddingOutcome, ProcessingStore } from "../../src/analysis/ProcessingStore.ts"
import { PlatformLive } from "../../src/main/layers.ts"
import { SearchIndexStore } from "../../src/search/SearchIndexStore.ts"
import { type BatchTarget, MailStore } from "../../src/sync/MailStore.ts"
import { UserId } from "../../src/contract/users/UserId.ts"
import { UserScope } from "../../src/users/UserScope.ts"
import { insertMails, makeMailbox } from "../emails/fixtures.ts"
import { holdRowLock, lockWaiters } from "../harness/rowLocks.ts"
import { configLayer, withTestEnv } from "../harness/TestEnv.ts"

/*
 * Issue 17: `mail.analyze` and `mail.embed` attempts failed with DeadlockError while a sync or
 * `search.index` of the same user ran. Every writer of a user's mail rows takes its row locks in
 * one order (ascending id, before it writes); here they run concurrently over the same rows, in
 * orders fast-check picks, round after round, and not one transaction may end in a deadlock. The
 * jobs' claims (SKIP LOCKED, they never wait) and their releases (they wait, in the writers' lock
 * order) run among them.
 */

const TestLayer = withTestEnv((env) =>
  Layer.mergeAll(ProcessingStore.layer, MailStore.layer, SearchIndexStore.layer).pipe(
    Layer.provideMerge(PlatformLive),
    Layer.provide(configLayer(env))
  )
)

const owner = UserId.make("d3ad10c0-0000-4000-8000-00000000d001")
const MESSAGES = 240
const THREADS = 12
const ROUNDS = 40

type Kind = "analysed" | "failed" | "deferred"

/** What one round's writers do: which rows each touches, in which order, with which outcome. */
const Round = fc.record({
  // a batch names each message once
  analysis: fc.uniqueArray(fc.tuple(fc.nat(MESSAGES - 1), fc.constantFrom<Kind>("analysed", "failed", "deferred")), {
    minLength: 20,
    maxLength: 80,
    selector: ([index]) => index
  }),
  embedding: fc.uniqueArray(fc.tuple(fc.nat(MESSAGES - 1), fc.constantFrom<Kind>("analysed", "failed", "deferred")), {
    minLength: 20,
    maxLength: 80,
    selector: ([index]) => index
  }),
  flags: fc.uniqueArray(fc.nat(MESSAGES - 1), { minLength: 10, maxLength: 80 }),
  merges: fc.array(fc.tuple(fc.nat(THREADS - 1), fc.nat(THREADS - 1)), { minLength: 1, maxLength: 6 })
})

const isDeadlock = (error: unknown): boolean =>
  SqlError.isSqlError(error) &&
  (error.reason._tag === "DeadlockError" || String(error.message).includes("deadlock detected"))

/** The reason PostgreSQL gave (its own words name the locks of a deadlock). */
const describe = (error: unknown): string =>
  SqlError.isSqlError(error)
    ? `${error.reason._tag}: ${error.reason.cause instanceof Error ? error.reason.cause.message : String(error.reason.cause)}`
    : String(error)

const Uid = Schema.Struct({ id: Schema.String, uid: Schema.Number })

layer(TestLayer, { excludeTestServices: true, timeout: "240 seconds" })("one user's writers", (it) => {
  it.effect("take their row locks in one order: no deadlock among sync, search.index, analysis and embedding", () =>
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const scope = yield* UserScope
      const processing = yield* ProcessingStore
      const mail = yield* MailStore
      const searchIndex = yield* SearchIndexStore
      const box = yield* makeMailbox(owner)
      yield* insertMails(
        box,
        Array.from({ length: MESSAGES }, (_, i) => ({
          subject: `message ${i} about lighthouses`,
          text: `body ${i} `.repeat(40),
          threadId: `thread-${i % THREADS}`
        }))
      )
      const rows = yield* scope
        .run(owner, sql`SELECT id::text AS id, uid::float8 AS uid FROM emails ORDER BY uid`)
        .pipe(Effect.flatMap(Schema.decodeUnknownEffect(Schema.Array(Uid))), Effect.orDie)
      assert.strictEqual(rows.length, MESSAGES)
      const idAt = (index: number) => rows[index]?.id ?? ""
      const uidAt = (index: number) => rows[index]?.uid ?? 0
      const target: BatchTarget = {
        owner,
        accountId: AccountId.make(box.accountId),
        mailboxId: MailboxId.make(box.mailboxId),
        uidValidity: 1
      }
      const rounds = fc.sample(Round, { numRuns: ROUNDS, seed: 17 })
      let deadlocks = 0
      const failures: Array<string> = []
      const attempt = <A, E, R>(name: string, effect: Effect.Effect<A, E, R>) =>
        effect.pipe(
          Effect.catch((error) =>
            Effect.sync(() => {
              if (isDeadlock(error)) deadlocks++
              failures.push(`${name}: ${describe(error)}`)
            })
          )
        )
      // one job's claims: the release below gives up what the claim above took
      const claim = { holder: crypto.randomUUID(), seconds: 60 }
      for (const round of rounds) {
        // every row due again: pending analysis and embedding, no full-text vector
        yield* scope
          .run(
            owner,
            sql`UPDATE emails SET analysis_state = 'pending', embedding_state = 'pending', search_vector = NULL,
              analysis_claimed_until = NULL, embedding_claimed_until = NULL,
              analysis_claimed_by = NULL, embedding_claimed_by = NULL,
              thread_id = 'thread-' || (uid % ${THREADS})`
          )
          .pipe(Effect.orDie)
        const analysisOutcomes = round.analysis.map(([index, kind]): AnalysisOutcome => {
          const id = idAt(index)
          return kind === "analysed"
            ? {
                _tag: "analysed",
                id,
                result: {
                  urgency: 1,
                  importance: 1,
                  category: "other",
                  spam: false,
                  summary: "s",
                  tags: [],
                  language: "en",
                  provider: "test",
                  model: "test",
                  confidence: 0.5
                }
              }
            : { _tag: kind, id, reason: "test" }
        })
        const embeddingOutcomes = round.embedding.map(([index, kind]): EmbeddingOutcome => {
          const id = idAt(index)
          return kind === "analysed"
            ? { _tag: "embedded", id, vector: [1, 0, 0, 0] }
            : { _tag: kind, id, reason: "test" }
        })
        const flagChanges = round.flags.map((index, position) => ({
          uid: uidAt(index),
          flags: position % 2 === 0 ? ["\\Seen"] : ["\\Flagged"],
          modseq: null
        }))
        const merges = new Map(
          round.merges.map(([from, to]) => [`thread-${from}`, `thread-${(from + to + 1) % THREADS}`])
        )
        yield* Effect.all(
          [
            attempt("analysis", processing.saveAnalysis(owner, analysisOutcomes)),
            attempt("embedding", processing.saveEmbeddings(owner, "test-model", embeddingOutcomes)),
            attempt("search.index", searchIndex.indexBatch(owner, 60)),
            attempt("search.index", searchIndex.indexBatch(owner, 60)),
            // the jobs' claims (migrations 0072, 0073): they never wait on a row lock; their release waits,
            // in the writers' lock order
            attempt("analysis claim", processing.claimAnalysis(owner, {}, 60, claim)),
            attempt("embedding claim", processing.embeddingCandidates(owner, {}, { _tag: "pending" }, 60, 200, claim)),
            attempt(
              "claim release",
              processing.releaseAnalysisClaims(
                owner,
                claim.holder,
                round.analysis.map(([index]) => idAt(index))
              )
            ),
            attempt(
              "sync merges",
              mail.storeBatch(target, { _tag: "complete", to: 0 }, Effect.succeed({ emails: [], merges }), {
                deferSearchIndex: true
              })
            ),
            attempt("sync flags", mail.applyFlags(target, flagChanges, 1_000))
          ],
          { concurrency: "unbounded", discard: true }
        )
      }
      assert.deepStrictEqual(failures, [], `${deadlocks} deadlocks in ${ROUNDS} rounds`)
    })
  )
  it.effect("a sync's flag update writes only the rows it locked: flags a rule wrote meanwhile close no cycle", () =>
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const scope = yield* UserScope
      const processing = yield* ProcessingStore
      const mail = yield* MailStore
      const flagOwner = UserId.make("d3ad10c0-0000-4000-8000-00000000d002")
      const box = yield* makeMailbox(flagOwner)
      yield* insertMails(box, [
        { subject: "one", text: "one" },
        { subject: "two", text: "two" }
      ])
      const rows = yield* scope
        .run(flagOwner, sql`SELECT id::text AS id, uid::float8 AS uid FROM emails ORDER BY id`)
        .pipe(Effect.flatMap(Schema.decodeUnknownEffect(Schema.Array(Uid))), Effect.orDie)
      const [low, high] = rows
      assert.isDefined(low)
      assert.isDefined(high)
      if (low === undefined || high === undefined) return
      const setFlags = (id: string, flags: ReadonlyArray<string>) =>
        scope.run(flagOwner, sql`UPDATE emails SET flags = ${flags}::text[] WHERE id = ${id}`).pipe(Effect.orDie)
      yield* setFlags(low.id, [])
      yield* setFlags(high.id, [])
      const target: BatchTarget = {
        owner: flagOwner,
        accountId: AccountId.make(box.accountId),
        mailboxId: MailboxId.make(box.mailboxId),
        uidValidity: 1
      }
      // another writer holds `high`: the sync's lock statement, which finds `low` unchanged and
      // `high` changed (the server's answer), queues for it holding nothing
      const letGo = yield* Deferred.make<void>()
      const other = yield* holdRowLock(sql, scope, flagOwner, high.id, Deferred.await(letGo))
      const sync = yield* Effect.forkChild(
        mail
          .applyFlags(
            target,
            [
              { uid: low.uid, flags: [], modseq: null },
              { uid: high.uid, flags: ["\\Seen"], modseq: null }
            ],
            1_000
          )
          .pipe(Effect.orDie)
      )
      yield* lockWaiters(sql, 1)
      // meanwhile a rule flags `low` (after the server answered the sync)
      yield* setFlags(low.id, ["\\Flagged"])
      // and an analysis save over both rows locks `low`, then queues for `high` behind the sync
      const save = yield* Effect.forkChild(
        processing
          .saveAnalysis(flagOwner, [
            { _tag: "deferred", id: low.id, reason: "lock order" },
            { _tag: "deferred", id: high.id, reason: "lock order" }
          ])
          .pipe(Effect.orDie)
      )
      yield* lockWaiters(sql, 2)
      // the sync gets `high` first; had it written `low` too (changed by the time its UPDATE read it),
      // it would wait on the save that waits on it: a deadlock
      yield* Deferred.succeed(letGo, undefined)
      yield* Fiber.join(other).pipe(Effect.orDie)
      // both end (either would die of the deadlock), the sync having written `high` alone
      const [updated] = yield* Effect.all([Fiber.join(sync), Fiber.join(save)])
      assert.strictEqual(updated, 1)
      const after = yield* scope
        .run(flagOwner, sql<{ id: string; flags: Array<string> }>`SELECT id::text AS id, flags FROM emails ORDER BY id`)
        .pipe(Effect.orDie)
      // the rule's newer flags stand; the server's change of `high` is stored
      assert.deepStrictEqual(
        after.map((row) => row.flags),
        [["\\Flagged"], ["\\Seen"]]
      )
    })
  )
})
