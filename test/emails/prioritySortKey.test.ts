import { assert, layer } from "@effect/vitest"
import { PgClient } from "@effect/sql-pg"
import { Context, Effect, Layer, Redacted, Schema } from "effect"
import { SqlClient } from "effect/sql"
import fc from "fast-check"
import migration0071 from "../../migrations/0071_priority_sort_key.ts"
import { type AnalysisOutcome, ProcessingStore } from "../../src/analysis/ProcessingStore.ts"
import { EmailId } from "../../src/contract/emails/EmailId.ts"
import { UserId } from "../../src/contract/users/UserId.ts"
import { EmailStore, type ListFilters, type Position } from "../../src/emails/EmailStore.ts"
import { PlatformLive } from "../../src/main/layers.ts"
import { RuleMailStore } from "../../src/rules/RuleMailStore.ts"
import { UserScope } from "../../src/users/UserScope.ts"
import { psqlValue } from "../harness/postgres.ts"
import { configLayer, type TestEnv, withTestEnv } from "../harness/TestEnv.ts"
import { insertMails, makeMailbox } from "./fixtures.ts"

/*
 * Issue 16: the priority order of GET /emails reads a stored key (emails.priority_score, migration
 * 0071) that triggers keep equal to the effective score. Random sequences of the writers that move
 * it (analysis saves and failures, corrections set and cleared, rule overrides, reprocess resets,
 * copies made, elected and promoted) must leave every list's order and cursor paging equal to the
 * order computed from the email_effective view, as the list computed it before the key.
 */

class Env extends Context.Service<Env, TestEnv>()("test/prioritySortKey/Env") {}

const TestLayer = withTestEnv((env) =>
  Layer.mergeAll(EmailStore.layer, ProcessingStore.layer, RuleMailStore.layer, Layer.succeed(Env, env)).pipe(
    Layer.provideMerge(PlatformLive),
    Layer.provide(configLayer(env))
  )
)

type Lvl = 1 | 2 | 3
const Level = fc.constantFrom<Lvl>(1, 2, 3)
const Op = fc.oneof(
  fc.record({ op: fc.constant("analyse" as const), at: fc.nat(), urgency: Level, importance: Level }),
  fc.record({ op: fc.constant("fail" as const), at: fc.nat() }),
  fc.record({
    op: fc.constant("correct" as const),
    at: fc.nat(),
    // undefined: left as it is; null: cleared
    urgency: fc.constantFrom<Lvl | null | undefined>(undefined, null, 1, 2, 3),
    importance: fc.constantFrom<Lvl | null | undefined>(undefined, null, 1, 2, 3)
  }),
  fc.record({ op: fc.constant("clear" as const), at: fc.nat() }),
  fc.record({ op: fc.constant("rule" as const), at: fc.nat(), urgency: Level }),
  fc.record({ op: fc.constant("reprocess" as const), at: fc.nat() }),
  fc.record({ op: fc.constant("copy" as const), at: fc.nat() }),
  fc.record({ op: fc.constant("elect" as const), at: fc.nat() }),
  fc.record({ op: fc.constant("dropCanonical" as const), at: fc.nat() })
)
type Op = typeof Op extends fc.Arbitrary<infer A> ? A : never

const Ids = Schema.Array(Schema.Struct({ id: Schema.String }))
const decodeIds = Schema.decodeUnknownEffect(Ids)
const Mismatch = Schema.Array(Schema.Struct({ id: Schema.String, stored: Schema.Number, effective: Schema.Number }))

const analysed = (id: string, urgency: Lvl, importance: Lvl): AnalysisOutcome => ({
  _tag: "analysed",
  id,
  result: {
    urgency,
    importance,
    category: "other",
    spam: false,
    summary: "s",
    tags: [],
    language: "en",
    provider: "test",
    model: "test",
    confidence: 0.5
  }
})

/** One random history on a fresh user; the mismatches found (empty: the key held). */
const runHistory = (ops: ReadonlyArray<Op>) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const scope = yield* UserScope
    const emails = yield* EmailStore
    const processing = yield* ProcessingStore
    const rules = yield* RuleMailStore
    const owner = UserId.make(crypto.randomUUID())
    const box = yield* makeMailbox(owner)
    // few distinct dates: ties on score and date fall to the id
    const ids = yield* insertMails(
      box,
      Array.from({ length: 9 }, (_, i) => ({
        subject: `m${i}`,
        text: `body ${i}`,
        date: new Date(Date.UTC(2026, 0, 1 + (i % 3)))
      }))
    )
    const inScope = <A, E, R>(effect: Effect.Effect<A, E, R>) => scope.run(owner, effect).pipe(Effect.orDie)
    const archive = yield* inScope(
      sql`INSERT INTO mailboxes (user_id, account_id, path, name, uid_validity)
          VALUES (${owner}, ${box.accountId}::uuid, 'Archive', 'Archive', 1) RETURNING id`.pipe(
        Effect.flatMap(decodeIds)
      )
    )
    const archiveId = archive[0]?.id ?? ""
    yield* inScope(sql`UPDATE emails SET message_key = 'k-' || id WHERE user_id = ${owner}`)
    const live = () =>
      inScope(
        sql`SELECT id::text AS id FROM emails WHERE user_id = ${owner} ORDER BY id`.pipe(Effect.flatMap(decodeIds))
      )
    let uid = 1000
    const copyOf = (id: string) =>
      inScope(sql`
        INSERT INTO emails (user_id, account_id, mailbox_id, uid_validity, uid, message_id, thread_id, subject,
          from_address, sent_at, size, text_body, headers, message_key, canonical)
        SELECT user_id, account_id, ${archiveId}::uuid, 1, ${++uid}, message_id, thread_id, subject,
          from_address, sent_at, size, text_body, headers, message_key, false
        FROM emails WHERE id = ${id}::uuid`)
    // the start: most messages analysed (scores 3 to 9), four of them with a copy in Archive
    const levels: ReadonlyArray<Lvl> = [1, 2, 3]
    yield* processing
      .saveAnalysis(
        owner,
        ids.slice(0, 7).map((id, i) => analysed(id, levels[i % 3] ?? 1, levels[Math.floor(i / 3) % 3] ?? 1))
      )
      .pipe(Effect.orDie)
    for (const id of ids.slice(0, 4)) yield* copyOf(id)
    for (const op of ops) {
      const rows = yield* live()
      const id = rows[op.at % rows.length]?.id ?? ids[0] ?? ""
      const emailId = EmailId.make(id)
      switch (op.op) {
        case "analyse":
          yield* emails.resetForReprocess(owner, emailId).pipe(Effect.orDie)
          yield* processing.saveAnalysis(owner, [analysed(id, op.urgency, op.importance)]).pipe(Effect.orDie)
          break
        case "fail":
          yield* emails.resetForReprocess(owner, emailId).pipe(Effect.orDie)
          yield* processing.saveAnalysis(owner, [{ _tag: "failed", id, reason: "test" }]).pipe(Effect.orDie)
          break
        case "correct":
          yield* emails
            .correct(owner, emailId, {
              ...(op.urgency === undefined ? {} : { urgency: op.urgency }),
              ...(op.importance === undefined ? {} : { importance: op.importance })
            })
            .pipe(Effect.orDie)
          break
        case "clear":
          yield* emails
            .correct(owner, emailId, { urgency: null, importance: null, category: null, spam: null, tags: null })
            .pipe(Effect.orDie)
          break
        case "rule":
          yield* rules.upsertOverrides(owner, [{ emailId: id, urgency: op.urgency }]).pipe(Effect.orDie)
          break
        case "reprocess":
          yield* emails.resetForReprocess(owner, emailId).pipe(Effect.orDie)
          break
        case "copy":
          // the sync storing another copy of the message (another label): not canonical
          yield* copyOf(id)
          break
        case "elect":
          // the sync's election: this copy becomes the message's canonical copy, the other one not
          yield* inScope(
            Effect.gen(function* () {
              yield* sql`
                UPDATE emails SET canonical = false
                WHERE canonical AND id <> ${id}::uuid
                  AND (account_id, message_key) = (SELECT account_id, message_key FROM emails WHERE id = ${id}::uuid)`
              yield* sql`UPDATE emails SET canonical = true WHERE id = ${id}::uuid`
            })
          )
          break
        case "dropCanonical":
          // an expunged canonical copy: a surviving copy takes over (0057's promotion trigger)
          if (rows.length > 3) yield* inScope(sql`DELETE FROM emails WHERE id = ${id}::uuid`)
          break
      }
    }

    const mismatches: Array<string> = []
    // the stored key of every row is its effective score (0 unknown)
    const wrong = yield* inScope(
      sql`
        SELECT e.id::text AS id, e.priority_score::int AS stored, COALESCE(v.score, 0)::int AS effective
        FROM emails e JOIN email_effective v ON v.email_id = e.id
        WHERE e.user_id = ${owner} AND e.priority_score IS DISTINCT FROM COALESCE(v.score, 0)`.pipe(
        Effect.flatMap(Schema.decodeUnknownEffect(Mismatch))
      )
    )
    for (const row of wrong) mismatches.push(`key of ${row.id}: stored ${row.stored}, effective ${row.effective}`)

    // the order the list computed before the key: the canonical copy's effective score
    const expected = (mailboxId: string | null, minScore: number | null) =>
      inScope(
        sql`
          SELECT e.id::text AS id FROM emails e
          LEFT JOIN LATERAL (
            SELECT c.id FROM emails c
            WHERE NOT e.canonical AND c.account_id = e.account_id AND c.message_key = e.message_key AND c.canonical
          ) cc ON true
          LEFT JOIN email_effective v ON v.email_id = COALESCE(cc.id, e.id)
          WHERE e.user_id = ${owner}
            AND ${mailboxId === null ? sql`e.canonical` : sql`e.mailbox_id = ${mailboxId}::uuid`}
            AND COALESCE(v.score, 0) >= ${minScore ?? 0}
          ORDER BY COALESCE(v.score, 0) DESC, e.mail_date DESC, e.id DESC`.pipe(Effect.flatMap(decodeIds))
      ).pipe(Effect.map((found) => found.map((row) => row.id)))
    const paged = (filters: ListFilters) =>
      Effect.gen(function* () {
        const out: Array<string> = []
        let after: Position | undefined
        for (let page = 0; page < 50; page++) {
          const result = yield* emails.list(owner, { filters, sort: "score", limit: 2, after }).pipe(Effect.orDie)
          out.push(...result.items.map((item) => item.id))
          if (result.next === undefined) break
          after = result.next
        }
        return out
      })
    const cases: ReadonlyArray<readonly [string, ListFilters, string | null, number | null]> = [
      ["default", {}, null, null],
      ["minScore 7", { minScore: 7 }, null, 7],
      ["inbox", { mailboxId: box.mailboxId }, box.mailboxId, null],
      ["archive (copies)", { mailboxId: archiveId }, archiveId, null]
    ]
    for (const [name, filters, mailboxId, minScore] of cases) {
      const want = yield* expected(mailboxId, minScore)
      const got = yield* paged(filters)
      if (JSON.stringify(got) !== JSON.stringify(want)) {
        mismatches.push(`${name}: listed ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`)
      }
    }
    return mismatches
  })

const History = fc.array(Op, { minLength: 1, maxLength: 14 })

layer(TestLayer, { excludeTestServices: true, timeout: "300 seconds" })("the stored priority key", (it) => {
  it.effect(
    "keeps every list's order and cursor pages equal to the effective score's order",
    () =>
      Effect.gen(function* () {
        const histories = fc.sample(History, { numRuns: 30, seed: 16 })
        for (const ops of histories) {
          const mismatches = yield* runHistory(ops)
          assert.deepStrictEqual(mismatches, [], JSON.stringify(ops))
        }
      }),
    300_000
  )

  it.effect(
    "is caught out when one writer's maintenance is missing (the corrections' trigger disabled)",
    () =>
      Effect.gen(function* () {
        const env = yield* Env
        const triggers = ["insert", "update", "delete"].map((op) => `email_overrides_priority_${op}`)
        const toggle = (how: "DISABLE" | "ENABLE") =>
          Effect.sync(() =>
            psqlValue(env.databaseUrl, triggers.map((t) => `ALTER TABLE email_overrides ${how} TRIGGER ${t};`).join(""))
          )
        yield* toggle("DISABLE")
        const found = yield* Effect.gen(function* () {
          for (const ops of fc.sample(History, { numRuns: 30, seed: 16 })) {
            if ((yield* runHistory(ops)).length > 0) return true
          }
          return false
        }).pipe(Effect.ensuring(toggle("ENABLE")))
        assert.isTrue(found, "no history showed the missing maintenance")
      }),
    300_000
  )

  it.effect(
    "migration 0071 backfills the key of the rows written before it, and its triggers and index",
    () =>
      Effect.gen(function* () {
        const env = yield* Env
        const sql = yield* SqlClient.SqlClient
        const scope = yield* UserScope
        const processing = yield* ProcessingStore
        const rules = yield* RuleMailStore
        // the schema before 0071
        psqlValue(
          env.databaseUrl,
          `DROP INDEX emails_priority_order;
         DROP FUNCTION app_emails_priority_score() CASCADE;
         ALTER TABLE emails DROP COLUMN priority_score;`
        )
        const owner = UserId.make(crypto.randomUUID())
        const box = yield* makeMailbox(owner)
        const ids = yield* insertMails(
          box,
          Array.from({ length: 6 }, (_, i) => ({ subject: `old ${i}`, text: `old body ${i}` }))
        )
        const at = (i: number) => ids[i] ?? ""
        // analysed (one also corrected), corrected only, and untouched rows
        yield* processing
          .saveAnalysis(owner, [analysed(at(0), 3, 2), analysed(at(1), 1, 1), analysed(at(2), 2, 3)])
          .pipe(Effect.orDie)
        yield* rules
          .upsertOverrides(owner, [
            { emailId: at(1), urgency: 3 },
            { emailId: at(3), urgency: 2, importance: 2 },
            { emailId: at(4), urgency: 1 }
          ])
          .pipe(Effect.orDie)
        yield* migration0071.pipe(
          Effect.provide(PgClient.layer({ url: Redacted.make(env.databaseUrl), maxConnections: 1 }))
        )
        const stored = yield* scope
          .run(
            owner,
            sql`SELECT e.id::text AS id, e.priority_score::int AS stored, COALESCE(v.score, 0)::int AS effective
              FROM emails e JOIN email_effective v ON v.email_id = e.id WHERE e.user_id = ${owner}`.pipe(
              Effect.flatMap(Schema.decodeUnknownEffect(Mismatch))
            )
          )
          .pipe(Effect.orDie)
        const byId = new Map(stored.map((row) => [row.id, row.stored]))
        // 2*3+2; the correction's urgency 3 over the analysis's 1: 2*3+1; 2*2+3; corrected only: 2*2+2;
        // an urgency without importance and an untouched row: unknown, 0
        assert.deepStrictEqual(
          ids.map((id) => byId.get(id)),
          [8, 7, 7, 6, 0, 0]
        )
        for (const row of stored) assert.strictEqual(row.stored, row.effective, row.id)
        // the triggers are back: a later correction moves the key
        yield* rules.upsertOverrides(owner, [{ emailId: at(5), urgency: 3, importance: 3 }]).pipe(Effect.orDie)
        assert.strictEqual(psqlValue(env.databaseUrl, `SELECT priority_score FROM emails WHERE id = '${at(5)}'`), "9")
        assert.strictEqual(
          psqlValue(env.databaseUrl, "SELECT count(*) FROM pg_indexes WHERE indexname = 'emails_priority_order'"),
          "1"
        )
      }),
    300_000
  )
})
