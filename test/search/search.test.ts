import { assert, describe, it, layer } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { SqlClient } from "effect/sql"
import { enqueueNewMailProcessing } from "../../src/analysis/enqueue.ts"
import { reciprocalRankFusion, renderSnippet } from "../../src/search/Search.ts"
import { defaultSearchConfig, SearchConfig } from "../../src/search/SearchConfig.ts"
import { SearchStore } from "../../src/search/SearchStore.ts"
import { scanTopK, VectorIndex } from "../../src/search/VectorIndex.ts"
import { UserId } from "../../src/contract/users/UserId.ts"
import { UserScope } from "../../src/users/UserScope.ts"
import { startFakeOpenAi } from "../analysis/fakeOpenAi.ts"
import { insertMails, type MailSpec, makeMailbox } from "../emails/fixtures.ts"
import { appTestLayer, as, getJson, items, waitForJob } from "../emails/helpers.ts"
import { baseUrl, call, field } from "../harness/http.ts"

const alice = UserId.make("a11ce000-0000-4000-8000-0000000000aa")
const bob = UserId.make("b0b00000-0000-4000-8000-0000000000bb")

const corpus: ReadonlyArray<MailSpec> = [
  {
    subject: "Ihre Rechnung Nr. 2026-0315",
    from: { name: "Stadtwerke", address: "kundenservice@stadtwerke.example" },
    text: "Sehr geehrte Kundin, die Rechnung über 120 € ist bis zum 30. März zu bezahlen. Mit freundlichen Grüßen"
  },
  {
    subject: "Invoice #4471 from Cloudhost",
    from: { name: "Cloudhost Billing", address: "billing@cloudhost.example" },
    text: "Your invoice for March is attached. Amount due: 49 USD. Thank you for your business."
  },
  {
    subject: "Ihre Lieferung ist unterwegs",
    from: { name: "Paketdienst", address: "noreply@paket.example" },
    text: "Das Paket wird morgen zugestellt. Die Sendungsverfolgung finden Sie online."
  },
  {
    subject: "Budget planning meeting for the quarterly review",
    from: { name: "Maria Keller", address: "maria@acme.example" },
    text: "Let's meet on Thursday to plan the quarterly budget and review the spending of each team."
  },
  {
    subject: "Re: Budget planning meeting",
    from: { name: "Tom Berger", address: "tom@acme.example" },
    text: "Thursday works. I will bring the quarterly budget spreadsheet for the review of team spending."
  },
  {
    subject: "Your flight to Lisbon is confirmed",
    from: { name: "FlyAway", address: "bookings@flyaway.example" },
    text: "Booking reference XYZ123. Flight TP1234 departs Friday at 08:15 from gate B12."
  },
  {
    subject: "Zugverbindung nach München",
    from: { name: "Bahn", address: "fahrkarten@bahn.example" },
    text: "Ihre Fahrkarte für den ICE nach München am Samstag liegt bereit."
  },
  {
    subject: "Security alert for your account",
    from: { name: "Accounts", address: "security@service.example" },
    text: 'Someone signed in from a new device. <script>alert("x")</script> If this was not you, reset your password now.'
  },
  ...Array.from({ length: 24 }, (_, i) => ({
    subject: `Weekly status report ${i + 1}`,
    from: { name: "Reports", address: "reports@acme.example" },
    text: `Status of project ${["Alpha", "Beta", "Gamma", "Delta"][i % 4]}: tasks completed ${i}, open issues ${i * 2}. Nothing unusual this week.`
  }))
]

interface Seed {
  readonly base: string
  readonly ids: ReadonlyArray<string>
  readonly bobsInvoice: string
}
let seed: Seed | undefined

const process = (base: string, owner: UserId) =>
  Effect.gen(function* () {
    const { analyze, embed } = yield* enqueueNewMailProcessing(owner).pipe(Effect.orDie)
    yield* waitForJob(base, owner, analyze.jobId)
    yield* waitForJob(base, owner, embed.jobId)
  })

const seeded = Effect.gen(function* () {
  if (seed !== undefined) return seed
  const base = yield* baseUrl
  const box = yield* makeMailbox(alice)
  const ids = yield* insertMails(box, corpus)
  const bobBox = yield* makeMailbox(bob)
  const [bobsInvoice] = yield* insertMails(bobBox, [
    { subject: "Rechnung für Bob", text: "Bobs Rechnung über 10 €, bitte bezahlen." }
  ])
  yield* process(base, alice)
  yield* process(base, bob)
  seed = { base, ids, bobsInvoice: bobsInvoice ?? "" }
  return seed
})

const search = (base: string, user: string, q: string, mode: string, limit = 10) =>
  getJson(base, user, `/api/v1/search?q=${encodeURIComponent(q)}&mode=${mode}&limit=${limit}`)

const hitIds = (body: unknown) => items(body).map((hit) => String(field(hit, "email", "id")))

describe("search building blocks", () => {
  it("renders snippets as escaped HTML with <mark> around matches", () => {
    assert.strictEqual(
      renderSnippet('a \u0001Rechnung\u0002 <script>alert("x")</script> & more'),
      "a <mark>Rechnung</mark> &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; more"
    )
  })

  it("fuses ranked lists by reciprocal rank", () => {
    const fused = reciprocalRankFusion([
      ["a", "b", "c"],
      ["c", "a", "d"]
    ])
    assert.deepStrictEqual(
      fused.map((f) => f.id),
      ["a", "c", "b", "d"]
    )
    assert.deepStrictEqual(fused[0]?.ranks, [1, 2])
    assert.deepStrictEqual(fused[3]?.ranks, [null, 3])
    assert.closeTo(fused[0]?.score ?? 0, 1 / 61 + 1 / 62, 1e-12)
  })

  it("scans every vector and keeps the k best, skipping the excluded slot", () => {
    const dimension = 3
    const codes = Int8Array.from([127, 0, 0, 0, 127, 0, 90, 90, 0, -127, 0, 0, 100, 50, 0])
    const scales = Float32Array.from([1 / 127, 1 / 127, 1 / 127, 1 / 127, 1 / 127])
    const query = Float32Array.from([1, 0, 0])
    const top = scanTopK(codes, scales, 5, dimension, query, 3, -1)
    assert.deepStrictEqual(
      top.map((t) => t.slot),
      [0, 4, 2]
    )
    assert.closeTo(top[0]?.score ?? 0, 1, 1e-6)
    assert.deepStrictEqual(
      scanTopK(codes, scales, 5, dimension, query, 2, 0).map((t) => t.slot),
      [4, 2]
    )
  })
})

// small load chunks: the index is loaded in many steps, across 9 -> 10 -> 11 ... change numbers
describe("the vector scan", () => {
  it("gives the exact int8 dot products for sparse and dense queries alike", () => {
    const dimension = 48
    const count = 500
    let state = 7
    const next = () => {
      state = (state * 1103515245 + 12345) % 2147483648
      return state / 2147483648
    }
    const codes = Int8Array.from({ length: count * dimension }, () => Math.round(next() * 254) - 127)
    const scales = Float32Array.from({ length: count }, () => next() / 100)
    const reference = (query: Float32Array) =>
      Array.from({ length: count }, (_, slot) => {
        let sum = 0
        for (let j = 0; j < dimension; j++) sum += (query[j] ?? 0) * (codes[slot * dimension + j] ?? 0)
        return { slot, score: sum * (scales[slot] ?? 0) }
      })
        .sort((a, b) => b.score - a.score)
        .slice(0, 10)
    const sparse = new Float32Array(dimension)
    sparse[3] = 0.5
    sparse[17] = -0.25
    sparse[40] = 0.8
    const dense = Float32Array.from({ length: dimension }, () => next() - 0.5)
    for (const query of [sparse, dense]) {
      const got = scanTopK(codes, scales, count, dimension, query, 10, -1)
      const want = reference(query)
      assert.deepStrictEqual(
        got.map((g) => g.slot),
        want.map((w) => w.slot)
      )
      got.forEach((g, i) => {
        assert.closeTo(g.score, want[i]?.score ?? 0, 1e-6)
      })
    }
  })
})

layer(appTestLayer({ SEARCH_VECTOR_LOAD_CHUNK: "3" }), { excludeTestServices: true, timeout: "90 seconds" })(
  "search API",
  (it) => {
    it.effect("full text: German and English stemming, known queries find their message first", () =>
      Effect.gen(function* () {
        const { base, ids } = yield* seeded
        const cases: ReadonlyArray<readonly [string, number]> = [
          ["Rechnungen", 0], // german: rechnungen -> rechnung
          ["invoices", 1], // english: invoices -> invoic
          ["Lieferungen", 2],
          ["meetings", 3],
          ["flights Lisbon", 5],
          ["Fahrkarten München", 6],
          ["password", 7]
        ]
        for (const [q, index] of cases) {
          const body = yield* search(base, alice, q, "fulltext")
          assert.strictEqual(hitIds(body)[0], ids[index], `${q}: ${JSON.stringify(hitIds(body))}`)
          assert.strictEqual(field(body, "mode"), "fulltext")
          assert.strictEqual(field(items(body)[0], "fulltextRank"), 1)
          assert.isNull(field(items(body)[0], "semanticRank"))
        }
        const meetings = hitIds(yield* search(base, alice, "meetings", "fulltext"))
        assert.sameMembers(meetings.slice(0, 2), [ids[3], ids[4]])
        // websearch syntax: a phrase, and an excluded word
        assert.sameMembers(hitIds(yield* search(base, alice, '"quarterly budget"', "fulltext")), [ids[3], ids[4]])
        assert.deepStrictEqual(hitIds(yield* search(base, alice, "budget -spreadsheet", "fulltext")), [ids[3]])
        assert.deepStrictEqual(hitIds(yield* search(base, alice, "zzzqqq", "fulltext")), [])
      })
    )

    it.effect("highlights matches in escaped snippets", () =>
      Effect.gen(function* () {
        const { base } = yield* seeded
        const [invoice] = items(yield* search(base, alice, "Rechnungen", "fulltext"))
        assert.include(String(field(invoice, "snippet")), "<mark>Rechnung</mark>")
        const [alert] = items(yield* search(base, alice, "password", "fulltext"))
        const snippet = String(field(alert, "snippet"))
        assert.include(snippet, "<mark>password</mark>")
        assert.notInclude(snippet, "<script>")
        assert.isNumber(field(alert, "score"))
      })
    )

    it.effect("semantic: the query's meaning against stored vectors; similar messages", () =>
      Effect.gen(function* () {
        const { base, ids } = yield* seeded
        const body = yield* search(base, alice, "plan the quarterly budget review with the team", "semantic", 5)
        assert.strictEqual(field(body, "model"), "offline-hash-v1-384")
        assert.sameMembers(hitIds(body).slice(0, 2), [ids[3], ids[4]])
        const scores = items(body).map((hit) => Number(field(hit, "score")))
        assert.deepStrictEqual(
          scores,
          [...scores].sort((a, b) => b - a)
        )
        assert.isTrue((scores[0] ?? 0) > 0 && (scores[0] ?? 0) <= 1.0001)
        assert.strictEqual(field(items(body)[0], "semanticRank"), 1)

        // every stored vector made it into the index (loaded in chunks of 3, in change-number order)
        const sql = yield* SqlClient.SqlClient
        const scope = yield* UserScope
        const [stored] = yield* scope.run(alice, sql<{ n: number }>`SELECT count(*)::int AS n FROM embeddings`)
        // a VectorIndex of its own (the API's lives inside the HTTP layer), loading 3 vectors per query
        const stats = yield* Effect.gen(function* () {
          const index = yield* VectorIndex
          yield* index.nearest(alice, "offline-hash-v1-384", new Array<number>(384).fill(0.05), 1)
          return yield* index.stats
        }).pipe(
          Effect.provide(
            VectorIndex.layer.pipe(
              Layer.provide(Layer.succeed(SearchConfig, { ...defaultSearchConfig, vectorLoadChunk: 3 })),
              Layer.provide(SearchStore.layer)
            )
          )
        )
        const entry = stats.entries.find((e) => e.userId === alice && e.model === "offline-hash-v1-384")
        assert.strictEqual(entry?.vectors, stored?.n)
        assert.strictEqual(stored?.n, corpus.length)

        const similar = yield* getJson(base, alice, `/api/v1/emails/${ids[3]}/similar?limit=3`)
        const similarIds = items(similar).map((item) => String(field(item, "email", "id")))
        assert.strictEqual(similarIds[0], ids[4])
        assert.notInclude(similarIds, ids[3])
        assert.isAtMost(similarIds.length, 3)
      })
    )

    it.effect("hybrid: both lists fused; a message in both comes first", () =>
      Effect.gen(function* () {
        const { base, ids } = yield* seeded
        const body = yield* search(base, alice, "Rechnung bezahlen", "hybrid")
        const [first] = items(body)
        assert.strictEqual(field(first, "email", "id"), ids[0])
        assert.strictEqual(field(first, "fulltextRank"), 1)
        assert.isNumber(field(first, "semanticRank"))
        // the default mode is hybrid
        const byDefault = yield* getJson(base, alice, `/api/v1/search?q=${encodeURIComponent("Rechnung bezahlen")}`)
        assert.strictEqual(field(byDefault, "mode"), "hybrid")
        assert.deepStrictEqual(hitIds(byDefault), hitIds(body).slice(0, items(byDefault).length))
      })
    )

    it.effect("is always scoped to the user", () =>
      Effect.gen(function* () {
        const { base, ids, bobsInvoice } = yield* seeded
        for (const mode of ["fulltext", "semantic", "hybrid"]) {
          const bobs = hitIds(yield* search(base, bob, "Rechnung bezahlen", mode))
          assert.deepStrictEqual(bobs, [bobsInvoice], mode)
          const alices = hitIds(yield* search(base, alice, "Rechnung bezahlen Bob", mode))
          assert.notInclude(alices, bobsInvoice, mode)
        }
        const similar = yield* call(base, "GET", `/api/v1/emails/${ids[0]}/similar`, { headers: as(bob) })
        assert.strictEqual(similar.status, 404)
      })
    )

    it.effect("keeps the vector index current: new mail appears, deleted mail disappears", () =>
      Effect.gen(function* () {
        const { base, ids } = yield* seeded
        const query = "quarterly budget planning meeting notes"
        const before = hitIds(yield* search(base, alice, query, "semantic", 10))
        const box = yield* makeMailbox(alice, "Second account")
        const [fresh] = yield* insertMails(box, [
          {
            subject: "Quarterly budget planning meeting notes",
            text: "Notes of the quarterly budget planning meeting."
          }
        ])
        yield* process(base, alice)
        const after = hitIds(yield* search(base, alice, query, "semantic", 10))
        assert.notInclude(before, fresh)
        assert.strictEqual(after[0], fresh)

        const sql = yield* SqlClient.SqlClient
        const scope = yield* UserScope
        yield* scope.run(alice, sql`DELETE FROM emails WHERE id = ${fresh ?? ""}::uuid`)
        const gone = hitIds(yield* search(base, alice, query, "semantic", 10))
        assert.notInclude(gone, fresh)
        assert.include(gone, ids[3])
        // the vanished vector was dropped from the index: the next search agrees
        const rebuilt = hitIds(yield* search(base, alice, query, "semantic", 10))
        assert.deepStrictEqual(rebuilt, gone)
      }).pipe(Effect.orDie)
    )

    it.effect("the full-text probe (SECURITY DEFINER) answers only for the transaction's user", () =>
      Effect.gen(function* () {
        const { ids, bobsInvoice } = yield* seeded
        const sql = yield* SqlClient.SqlClient
        const scope = yield* UserScope
        const probe = sql<{ id: string }>`
        SELECT email_id::text AS id FROM app_fulltext_search(to_tsquery('german', 'rechnung'), 100)`
        const asAlice = (yield* scope.run(alice, probe)).map((row) => row.id)
        assert.include(asAlice, ids[0])
        assert.notInclude(asAlice, bobsInvoice)
        assert.deepStrictEqual(
          (yield* scope.run(bob, probe)).map((row) => row.id),
          [bobsInvoice]
        )
        // no user in the transaction (the app role's pooled connection): nothing
        assert.deepStrictEqual([...(yield* probe)], [])
        // owned by the system role, search_path pinned, executable by the app role only
        const [fn] = yield* scope.system(
          "test: catalogue",
          sql<{ owner: string; definer: boolean; config: ReadonlyArray<string> | null; public: boolean; app: boolean }>`
          SELECT pg_get_userbyid(p.proowner) AS owner, p.prosecdef AS definer, p.proconfig AS config,
            has_function_privilege('public', p.oid, 'EXECUTE') AS public,
            has_function_privilege('mail_helper_app', p.oid, 'EXECUTE') AS app
          FROM pg_proc p WHERE p.proname = 'app_fulltext_search'`
        )
        assert.strictEqual(fn?.owner, "mail_helper_system")
        assert.isTrue(fn?.definer)
        assert.include(fn?.config ?? [], "search_path=pg_catalog, pg_temp")
        assert.isFalse(fn?.public)
        assert.isTrue(fn?.app)
      }).pipe(Effect.orDie)
    )

    it.effect("answers 400 for bad queries", () =>
      Effect.gen(function* () {
        const { base } = yield* seeded
        for (const path of [
          "/api/v1/search",
          "/api/v1/search?q=",
          "/api/v1/search?q=%20%20%20",
          `/api/v1/search?q=${"x".repeat(501)}`,
          "/api/v1/search?q=x&mode=magic",
          "/api/v1/search?q=x&limit=0",
          "/api/v1/search?q=x&limit=51",
          "/api/v1/search?q=x&limit=ten"
        ]) {
          const response = yield* call(base, "GET", path, { headers: as(alice) })
          assert.strictEqual(response.status, 400, `${path}: ${response.text}`)
          assert.strictEqual(field(response.body, "_tag"), "ValidationError")
          assert.isString(field(response.body, "issues", 0, "path"))
        }
        const many = yield* call(base, "GET", "/api/v1/search?mode=magic&limit=0", { headers: as(alice) })
        const paths = (field(many.body, "issues") as Array<unknown>).map((issue) => field(issue, "path"))
        assert.includeMembers(paths, ["query.q", "query.mode", "query.limit"])
        const similarLimit = yield* call(base, "GET", `/api/v1/emails/${crypto.randomUUID()}/similar?limit=500`, {
          headers: as(alice)
        })
        assert.strictEqual(similarLimit.status, 400)
        assert.strictEqual((yield* call(base, "GET", "/api/v1/search?q=x")).status, 401)
      })
    )
  }
)

const failingEmbeddings = Layer.unwrap(
  Effect.gen(function* () {
    const fake = yield* startFakeOpenAi
    fake.onEmbeddings(() => ({ status: 500, json: { error: { message: "embedding backend down" } } }))
    return appTestLayer({
      AI_PROVIDER: "openai",
      AI_BASE_URL: fake.baseUrl,
      AI_MAX_RETRIES: "0",
      AI_RETRY_BASE_MS: "5",
      AI_TIMEOUT_MS: "2000"
    })
  })
)

layer(failingEmbeddings, { excludeTestServices: true, timeout: "60 seconds" })("search without embeddings", (it) => {
  it.effect("semantic search is a 503 naming the cause; full text still answers", () =>
    Effect.gen(function* () {
      const base = yield* baseUrl
      const owner = UserId.make(crypto.randomUUID())
      const box = yield* makeMailbox(owner)
      const [id] = yield* insertMails(box, [{ subject: "Ihre Rechnung", text: "Die Rechnung ist fällig." }])
      for (const mode of ["semantic", "hybrid"]) {
        const response = yield* call(base, "GET", `/api/v1/search?q=Rechnung&mode=${mode}`, { headers: as(owner) })
        assert.strictEqual(response.status, 503, response.text)
        assert.strictEqual(field(response.body, "_tag"), "SemanticSearchUnavailable")
        assert.include(String(field(response.body, "message")), "transient")
      }
      const fulltext = yield* search(base, owner, "Rechnung", "fulltext")
      assert.deepStrictEqual(hitIds(fulltext), [id])
    })
  )
})
