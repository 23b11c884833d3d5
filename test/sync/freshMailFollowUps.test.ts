/**
 * The follow-up jobs of a small sync run (fresh mail, interactive): its mail is stored with its
 * full-text vectors (no `search.index` job; found by full-text search once the sync ended) and one
 * `mail.analyze` job analyses and embeds it (no `mail.embed` job). A backlog (a mailbox's first pass,
 * an incremental run of more than `bulkFollowUpThreshold` messages) still stores its mail without the
 * vectors and queues `search.index`, `mail.analyze` and `mail.embed` as before.
 */
import { assert, layer } from "@effect/vitest"
import { Effect, Schedule, Schema } from "effect"
import { bulkFollowUpThreshold } from "../../src/main/mailFollowUps.ts"
import { Dovecot } from "../harness/dovecot.ts"
import { baseUrl } from "../harness/http.ts"
import { makeMailgen } from "../harness/mailgen.ts"
import { createAccount, expectSucceeded, field, ownerQuery, syncNow, syncTestLayer } from "./support.ts"

const owner = "f6666666-6666-4666-8666-666666666666"
const USER = "fresh"
const PASS = "fresh-Passw0rd!"

const TestLayer = syncTestLayer({ worker: true, dovecot: { users: [{ user: USER, pass: PASS }] } })

const JobRow = Schema.Struct({ kind: Schema.String, payload: Schema.Unknown })
const EmailRow = Schema.Struct({
  subject: Schema.NullOr(Schema.String),
  indexed: Schema.Boolean,
  found: Schema.Boolean,
  embedding_state: Schema.String,
  analysis_state: Schema.String
})

/** The owner's follow-up jobs created from `since` on. */
const followUpsSince = (since: Date) =>
  ownerQuery(
    JobRow,
    (sql) => sql`SELECT kind, payload FROM jobs WHERE user_id = ${owner} AND created_at >= ${since}
      AND kind IN ('search.index', 'mail.analyze', 'mail.embed') ORDER BY created_at`
  )

/** Every follow-up job of the owner ended. */
const settled = Effect.gen(function* () {
  const open = yield* ownerQuery(
    Schema.Struct({ n: Schema.Number }),
    (sql) => sql`SELECT count(*)::int AS n FROM jobs WHERE user_id = ${owner} AND kind <> 'mail.sync'
      AND state NOT IN ('succeeded', 'failed', 'cancelled')`
  )
  if ((open[0]?.n ?? 0) > 0) return yield* Effect.fail("follow-up jobs still running")
}).pipe(Effect.retry(Schedule.spaced("200 millis").pipe(Schedule.upTo({ times: 600 }))), Effect.orDie)

layer(TestLayer, { excludeTestServices: true, timeout: "180 seconds" })("a small sync's follow-ups", (it) => {
  it.effect("fresh mail is searchable once synced, analysed and embedded by one job; a backlog defers", () =>
    Effect.gen(function* () {
      const server = yield* Dovecot
      const base = yield* baseUrl
      const gen = makeMailgen({ seed: 41, domain: "fresh.test" })
      yield* Effect.promise(() =>
        server.seedMaildir(
          USER,
          "INBOX",
          gen.take(30).map((m) => ({ raw: m.raw }))
        )
      )
      // the first pass of a mailbox is a backlog: its vectors are left to search.index
      const firstSince = new Date()
      const accountId = yield* createAccount(base, owner, server, { username: USER, password: PASS })
      expectSucceeded(yield* syncNow(base, owner, accountId))
      yield* settled
      const first = yield* followUpsSince(firstSince)
      assert.include(
        first.map((job) => job.kind),
        "search.index",
        "a mailbox's first pass defers its indexing"
      )

      // fresh mail: three messages in a mailbox already stored
      const word = "zebrafinchquartz"
      const fresh = [1, 2, 3].map((n) =>
        [
          `From: Fresh Sender <sender${n}@fresh.test>`,
          `To: ${USER}@fresh.test`,
          `Subject: ${word} note ${n}`,
          `Message-ID: <fresh-${n}@fresh.test>`,
          "MIME-Version: 1.0",
          "Content-Type: text/plain; charset=utf-8",
          "",
          `Fresh message ${n}.`,
          ""
        ].join("\r\n")
      )
      yield* Effect.promise(async () => {
        for (const raw of fresh) await server.append(USER, PASS, "INBOX", raw, [])
      })
      const freshSince = new Date()
      const job = yield* syncNow(base, owner, accountId)
      expectSucceeded(job)
      assert.strictEqual(field(job, "result", "newMessages"), 3)
      // found by full-text search as soon as the sync ended: stored with its vectors
      const rows = () =>
        ownerQuery(
          EmailRow,
          (sql) => sql`SELECT subject, search_vector IS NOT NULL AS indexed,
              coalesce(search_vector @@ websearch_to_tsquery('simple', ${word}), false) AS found,
              embedding_state, analysis_state
            FROM emails WHERE account_id = ${accountId} AND subject LIKE ${`${word}%`} ORDER BY subject`
        )
      const synced = yield* rows()
      assert.strictEqual(synced.length, 3)
      assert.deepStrictEqual(
        synced.map((row) => [row.indexed, row.found]),
        [
          [true, true],
          [true, true],
          [true, true]
        ]
      )
      yield* settled
      const small = yield* followUpsSince(freshSince)
      assert.deepStrictEqual(
        small.map((row) => row.kind),
        ["mail.analyze"],
        `one job for the fresh mail: ${JSON.stringify(small)}`
      )
      assert.strictEqual(field(small[0]?.payload, "embed"), true)
      assert.deepStrictEqual(
        (yield* rows()).map((row) => [row.analysis_state, row.embedding_state]),
        [
          ["analysed", "embedded"],
          ["analysed", "embedded"],
          ["analysed", "embedded"]
        ]
      )

      // an incremental run of more than bulkFollowUpThreshold messages is a backlog: deferred, as before
      yield* Effect.promise(() =>
        server.seedMaildir(
          USER,
          "INBOX",
          gen.take(bulkFollowUpThreshold + 10).map((m) => ({ raw: m.raw }))
        )
      )
      const bulkSince = new Date()
      const bulk = yield* syncNow(base, owner, accountId)
      expectSucceeded(bulk)
      assert.strictEqual(field(bulk, "result", "newMessages"), bulkFollowUpThreshold + 10)
      yield* settled
      const kinds = (yield* followUpsSince(bulkSince)).map((row) => row.kind)
      assert.include(kinds, "search.index", "a backlog defers its indexing")
      assert.include(kinds, "mail.embed", "a backlog's embeddings are a job of their own")
    })
  )
})
