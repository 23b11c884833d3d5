import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import { enqueueNewMailProcessing } from "../../src/analysis/enqueue.ts"
import { UserId } from "../../src/contract/users/UserId.ts"
import { baseUrl, call, field } from "../harness/http.ts"
import { insertMails, type Mailbox, type MailSpec, makeMailbox } from "./fixtures.ts"
import { appTestLayer, as, getJson, ids, items, waitForJob } from "./helpers.ts"

const alice = UserId.make("a11ce000-0000-4000-8000-000000000001")
const bob = UserId.make("b0b00000-0000-4000-8000-000000000002")

const day = (d: number, hour = 9) => new Date(Date.UTC(2026, 2, d, hour))

const inboxA: ReadonlyArray<MailSpec> = [
  {
    subject: "Ihre Rechnung für März 2026",
    from: { name: "Telekom Deutschland", address: "rechnung@telekom.de" },
    text: "Guten Tag,\nder Rechnungsbetrag von 39,95 € ist fällig am 24.03.2026.\nIhre Telekom",
    date: day(10),
    html: '<p>Der <b>Rechnungsbetrag</b> ist fällig.</p><img data-remote-src="https://tracker.example/p.gif">',
    attachments: [{ filename: "Rechnung_2026_03.pdf", contentType: "application/pdf", size: 48_000 }]
  },
  {
    subject: "Our weekly newsletter: 10 tips for spring",
    from: { name: "Gardening Weekly", address: "news@gardening.example" },
    text: "Hello gardeners! This week: ten tips for spring planting.",
    headers: { listUnsubscribe: "<https://gardening.example/unsubscribe>" },
    date: day(11),
    seen: true
  },
  {
    subject: "Can we move tomorrow's meeting?",
    from: { name: "Maria Keller", address: "maria.keller@acme.example" },
    text: "Hi, could we move tomorrow's project meeting to 3 pm? Please reply by tonight.",
    date: day(12),
    threadId: "thread-meeting"
  },
  {
    subject: "Re: Can we move tomorrow's meeting?",
    from: { name: "Tom Berger", address: "tom@acme.example" },
    text: "3 pm works for me.",
    date: day(13),
    threadId: "thread-meeting",
    seen: true
  },
  {
    subject: "Congratulations!!! You have WON the lottery - claim your prize now",
    from: { address: "winner@lotto-prize.example" },
    text: "Dear winner, you won 1,000,000 USD in our international lottery. Send your bank details to claim the prize.",
    date: day(14)
  }
]
const inboxB: ReadonlyArray<MailSpec> = [
  {
    subject: "Your order has shipped",
    from: { name: "Shop", address: "orders@shop.example" },
    text: "Your order 4711 has shipped and will arrive on Friday. Track your parcel online.",
    date: day(15)
  }
]

interface Seed {
  readonly base: string
  readonly a: Mailbox
  readonly b: Mailbox
  readonly idsA: ReadonlyArray<string>
  readonly idsB: ReadonlyArray<string>
  readonly bobsMail: string
}
let seed: Seed | undefined

/** Alice's mail, analysed and embedded, made once; what the tests below share. */
const seeded = Effect.gen(function* () {
  if (seed !== undefined) return seed
  const base = yield* baseUrl
  const a = yield* makeMailbox(alice, "Account A")
  const b = yield* makeMailbox(alice, "Account B")
  const idsA = yield* insertMails(a, inboxA)
  const idsB = yield* insertMails(b, inboxB)
  const bobBox = yield* makeMailbox(bob, "Bob's")
  const [bobsMail] = yield* insertMails(bobBox, [{ subject: "Bob's own mail", text: "hello bob" }])
  const { analyze, embed } = yield* enqueueNewMailProcessing(alice).pipe(Effect.orDie)
  yield* waitForJob(base, alice, analyze.jobId)
  yield* waitForJob(base, alice, embed.jobId)
  seed = { base, a, b, idsA, idsB, bobsMail: bobsMail ?? "" }
  return seed
})

const listAll = (base: string, user: string, query: string) =>
  Effect.gen(function* () {
    const collected: Array<unknown> = []
    let cursor: string | null = null
    for (let page = 0; page < 50; page++) {
      const path: string = `/api/v1/emails?${query}${cursor === null ? "" : `&cursor=${cursor}`}`
      const body = yield* getJson(base, user, path)
      collected.push(...items(body))
      const next = field(body, "nextCursor")
      if (next === null) return collected
      cursor = String(next)
    }
    return assert.fail("pagination did not end")
  })

const idsOf = (list: ReadonlyArray<unknown>) => list.map((item) => String(field(item, "id")))

layer(appTestLayer(), { excludeTestServices: true, timeout: "90 seconds" })("emails API", (it) => {
  it.effect("lists the user's mail newest first, in pages, and only theirs", () =>
    Effect.gen(function* () {
      const { base, idsA, idsB, bobsMail } = yield* seeded
      const all = yield* listAll(base, alice, "limit=2")
      const expected = [...idsB, ...[...idsA].reverse()]
      assert.deepStrictEqual(idsOf(all), expected)
      assert.notInclude(idsOf(all), bobsMail)
      const first = all[0]
      assert.strictEqual(field(first, "subject"), "Your order has shipped")
      assert.strictEqual(field(first, "date"), day(15).toISOString())
      assert.strictEqual(field(first, "analysisState"), "analysed")
      const bobs = yield* getJson(base, bob, "/api/v1/emails")
      assert.deepStrictEqual(ids(bobs), [bobsMail])
    })
  )

  it.effect("sorts by effective score, then date, through every page", () =>
    Effect.gen(function* () {
      const { base } = yield* seeded
      const paged = yield* listAll(base, alice, "sort=score&limit=2")
      const whole = items(yield* getJson(base, alice, "/api/v1/emails?sort=score&limit=100"))
      assert.deepStrictEqual(idsOf(paged), idsOf(whole))
      const keys = whole.map((item) => [Number(field(item, "score") ?? 0), Date.parse(String(field(item, "date")))])
      for (let i = 1; i < keys.length; i++) {
        const [s0 = 0, d0 = 0] = keys[i - 1] ?? []
        const [s1 = 0, d1 = 0] = keys[i] ?? []
        assert.isTrue(s0 > s1 || (s0 === s1 && d0 >= d1), `order at ${i}: ${JSON.stringify(keys)}`)
      }
    })
  )

  it.effect("filters by account, mailbox, thread, unread, dates, category, score, spam and tag", () =>
    Effect.gen(function* () {
      const { base, a, b, idsA, idsB } = yield* seeded
      const all = items(yield* getJson(base, alice, "/api/v1/emails?limit=100"))
      const expect = (query: string, predicate: (item: unknown) => boolean) =>
        Effect.gen(function* () {
          const got = idsOf(yield* listAll(base, alice, `${query}&limit=3`))
          const want = idsOf(all.filter(predicate))
          assert.deepStrictEqual(got, want, query)
          return got
        })
      assert.deepStrictEqual(
        yield* expect(`accountId=${b.accountId}`, (i) => field(i, "accountId") === b.accountId),
        idsB
      )
      assert.lengthOf(yield* expect(`mailboxId=${a.mailboxId}`, (i) => field(i, "mailboxId") === a.mailboxId), 5)
      assert.deepStrictEqual(
        yield* expect("threadId=thread-meeting", (i) => field(i, "threadId") === "thread-meeting"),
        [idsA[3], idsA[2]]
      )
      assert.lengthOf(yield* expect("unread=true", (i) => field(i, "seen") === false), 4)
      assert.lengthOf(yield* expect("unread=false", (i) => field(i, "seen") === true), 2)
      const inRange = (i: unknown) => {
        const t = Date.parse(String(field(i, "date")))
        return t >= day(11).getTime() && t <= day(13).getTime()
      }
      assert.lengthOf(yield* expect(`dateFrom=${day(11).toISOString()}&dateTo=${day(13).toISOString()}`, inRange), 3)
      assert.include(yield* expect("category=finance", (i) => field(i, "category") === "finance"), idsA[0])
      yield* expect("minScore=6", (i) => Number(field(i, "score") ?? 0) >= 6)
      assert.include(yield* expect("spam=true", (i) => field(i, "spam") === true), idsA[4])
      assert.notInclude(yield* expect("spam=false", (i) => field(i, "spam") !== true), idsA[4])
      yield* expect("analysisState=analysed", (i) => field(i, "analysisState") === "analysed")
      const tagged = all.find((i) => {
        const tags = field(i, "tags")
        return Array.isArray(tags) && tags.length > 0
      })
      const tag = String((field(tagged, "tags") as Array<unknown> | undefined)?.[0] ?? "none")
      yield* expect(`tag=${encodeURIComponent(tag)}`, (i) => {
        const tags = field(i, "tags")
        return Array.isArray(tags) && tags.includes(tag)
      })
    })
  )

  it.effect("shows one message in full: analysis with band, attachments, sanitized HTML", () =>
    Effect.gen(function* () {
      const { base, idsA } = yield* seeded
      const detail = yield* getJson(base, alice, `/api/v1/emails/${idsA[0]}`)
      assert.strictEqual(field(detail, "subject"), "Ihre Rechnung für März 2026")
      assert.deepStrictEqual(field(detail, "from"), { name: "Telekom Deutschland", address: "rechnung@telekom.de" })
      assert.deepStrictEqual(field(detail, "to"), [{ name: null, address: "me@example.test" }])
      assert.include(String(field(detail, "html")), "data-remote-src")
      assert.include(String(field(detail, "text")), "Rechnungsbetrag")
      assert.deepStrictEqual(field(detail, "attachments", 0, "filename"), "Rechnung_2026_03.pdf")
      assert.deepStrictEqual(field(detail, "attachments", 0, "contentType"), "application/pdf")
      assert.deepStrictEqual(field(detail, "attachments", 0, "size"), 48_000)
      const score = Number(field(detail, "analysis", "score"))
      const expectedBand = score >= 8 ? "red" : score >= 5 ? "yellow" : "green"
      assert.strictEqual(field(detail, "analysis", "band"), expectedBand)
      assert.strictEqual(field(detail, "band"), expectedBand)
      assert.isNull(field(detail, "overrides"))
      assert.strictEqual(field(detail, "corrected"), false)
    })
  )

  it.effect("keeps corrections beside the analysis; they win in detail, filters and sorting", () =>
    Effect.gen(function* () {
      const { base, idsA } = yield* seeded
      const id = idsA[1] ?? "" // the newsletter
      const before = yield* getJson(base, alice, `/api/v1/emails/${id}`)
      const aiCategory = field(before, "analysis", "category")
      assert.strictEqual(aiCategory, "newsletter")

      const patched = yield* call(base, "PATCH", `/api/v1/emails/${id}`, {
        json: { category: "work", urgency: 3, importance: 3, tags: ["  Client X ", "client x", "Q2"] },
        headers: as(alice)
      })
      assert.strictEqual(patched.status, 200, patched.text)
      assert.strictEqual(field(patched.body, "category"), "work")
      assert.strictEqual(field(patched.body, "score"), 9)
      assert.strictEqual(field(patched.body, "band"), "red")
      assert.deepStrictEqual(field(patched.body, "tags"), ["client x", "q2"])
      assert.strictEqual(field(patched.body, "corrected"), true)
      assert.strictEqual(field(patched.body, "analysis", "category"), "newsletter") // the AI result is kept
      assert.strictEqual(field(patched.body, "overrides", "category"), "work")
      assert.isNull(field(patched.body, "overrides", "spam"))

      assert.include(ids(yield* getJson(base, alice, "/api/v1/emails?category=work")), id)
      assert.notInclude(ids(yield* getJson(base, alice, "/api/v1/emails?category=newsletter")), id)
      assert.deepStrictEqual(ids(yield* getJson(base, alice, "/api/v1/emails?minScore=9")), [id])
      assert.strictEqual(ids(yield* getJson(base, alice, "/api/v1/emails?sort=score&limit=1"))[0], id)
      assert.include(ids(yield* getJson(base, alice, "/api/v1/emails?tag=q2")), id)

      // a new analysis does not undo the correction
      const accepted = yield* call(base, "POST", `/api/v1/emails/${id}/reprocess`, { headers: as(alice) })
      assert.strictEqual(accepted.status, 202, accepted.text)
      yield* waitForJob(base, alice, String(field(accepted.body, "jobId")))
      const reanalysed = yield* getJson(base, alice, `/api/v1/emails/${id}`)
      assert.strictEqual(field(reanalysed, "analysisState"), "analysed")
      assert.strictEqual(field(reanalysed, "category"), "work")
      assert.strictEqual(field(reanalysed, "score"), 9)

      // null removes one correction; the rest stays
      const partly = yield* call(base, "PATCH", `/api/v1/emails/${id}`, {
        json: { category: null },
        headers: as(alice)
      })
      assert.strictEqual(partly.status, 200, partly.text)
      assert.strictEqual(field(partly.body, "category"), "newsletter")
      assert.strictEqual(field(partly.body, "score"), 9)
      // removing all of them leaves no correction
      const cleared = yield* call(base, "PATCH", `/api/v1/emails/${id}`, {
        json: { urgency: null, importance: null, tags: null },
        headers: as(alice)
      })
      assert.strictEqual(field(cleared.body, "corrected"), false)
      assert.isNull(field(cleared.body, "overrides"))
      assert.strictEqual(field(cleared.body, "score"), field(before, "score"))
    })
  )

  it.effect("is a 404 for unknown ids and for another user's, on every endpoint", () =>
    Effect.gen(function* () {
      const { base, idsA } = yield* seeded
      const id = idsA[0] ?? ""
      for (const [method, path, json] of [
        ["GET", `/api/v1/emails/${id}`, undefined],
        ["PATCH", `/api/v1/emails/${id}`, { spam: true }],
        ["POST", `/api/v1/emails/${id}/reprocess`, undefined],
        ["GET", `/api/v1/emails/${id}/similar`, undefined]
      ] as const) {
        const response = yield* call(base, method, path, { headers: as(bob), ...(json === undefined ? {} : { json }) })
        assert.strictEqual(response.status, 404, `${method} ${path}: ${response.text}`)
        assert.strictEqual(field(response.body, "_tag"), "EmailNotFound")
        const unknown = yield* call(base, method, path.replace(id, crypto.randomUUID()), {
          headers: as(alice),
          ...(json === undefined ? {} : { json })
        })
        assert.strictEqual(unknown.status, 404, `${method} unknown: ${unknown.text}`)
      }
      // bob's PATCH changed nothing
      const detail = yield* getJson(base, alice, `/api/v1/emails/${id}`)
      assert.isNull(field(detail, "overrides"))
      const malformed = yield* call(base, "GET", "/api/v1/emails/not-a-uuid", { headers: as(alice) })
      assert.strictEqual(malformed.status, 400)
      assert.strictEqual((yield* call(base, "GET", "/api/v1/emails")).status, 401)
    })
  )

  it.effect("answers 400 naming every invalid query field", () =>
    Effect.gen(function* () {
      const { base } = yield* seeded
      const response = yield* call(
        base,
        "GET",
        "/api/v1/emails?limit=0&minScore=12&unread=maybe&category=nope&accountId=x&dateFrom=yesterday&sort=random&surprise=1",
        { headers: as(alice) }
      )
      assert.strictEqual(response.status, 400, response.text)
      assert.strictEqual(field(response.body, "_tag"), "ValidationError")
      const paths = (field(response.body, "issues") as Array<unknown>).map((issue) => field(issue, "path"))
      assert.includeMembers(paths, [
        "query.limit",
        "query.minScore",
        "query.unread",
        "query.category",
        "query.accountId",
        "query.dateFrom",
        "query.sort"
      ])
      const big = yield* call(base, "GET", "/api/v1/emails?limit=101", { headers: as(alice) })
      assert.strictEqual(big.status, 400)
      const inverted = yield* call(
        base,
        "GET",
        `/api/v1/emails?dateFrom=${day(20).toISOString()}&dateTo=${day(1).toISOString()}`,
        { headers: as(alice) }
      )
      assert.strictEqual(inverted.status, 400, inverted.text)
      assert.includeMembers(
        (field(inverted.body, "issues") as Array<unknown>).map((issue) => field(issue, "path")),
        ["query.dateFrom", "query.dateTo"]
      )
      const garbage = yield* call(base, "GET", "/api/v1/emails?cursor=bm9wZQ", { headers: as(alice) })
      assert.strictEqual(garbage.status, 400)
      assert.strictEqual(field(garbage.body, "issues", 0, "path"), "query.cursor")
      const page = yield* getJson(base, alice, "/api/v1/emails?limit=1")
      const cursor = String(field(page, "nextCursor"))
      const mismatch = yield* call(base, "GET", `/api/v1/emails?sort=score&cursor=${cursor}`, { headers: as(alice) })
      assert.strictEqual(mismatch.status, 400, mismatch.text)
      const long = yield* call(base, "GET", `/api/v1/emails?threadId=${"x".repeat(1_001)}`, { headers: as(alice) })
      assert.strictEqual(long.status, 400)
    })
  )

  it.effect("answers 400 naming every invalid correction field; 400 for bad JSON, 413 when oversized", () =>
    Effect.gen(function* () {
      const { base, idsA } = yield* seeded
      const path = `/api/v1/emails/${idsA[2]}`
      const response = yield* call(base, "PATCH", path, {
        json: {
          urgency: 5,
          importance: "high",
          category: "nope",
          spam: "yes",
          tags: ["a", "b", "c", "d", "e", "f", "g", "h", "i"],
          surprise: true
        },
        headers: as(alice)
      })
      assert.strictEqual(response.status, 400, response.text)
      const paths = (field(response.body, "issues") as Array<unknown>).map((issue) => String(field(issue, "path")))
      for (const expected of [
        "payload.urgency",
        "payload.importance",
        "payload.category",
        "payload.spam",
        "payload.surprise"
      ]) {
        assert.include(paths, expected)
      }
      assert.isTrue(
        paths.some((p) => p.startsWith("payload.tags")),
        paths.join(", ")
      )
      const longTag = yield* call(base, "PATCH", path, { json: { tags: ["x".repeat(33)] }, headers: as(alice) })
      assert.strictEqual(longTag.status, 400)
      const badJson = yield* call(base, "PATCH", path, { body: '{"spam": tru', headers: as(alice) })
      assert.strictEqual(badJson.status, 400)
      const huge = yield* call(base, "PATCH", path, {
        body: JSON.stringify({ tags: ["x".repeat(2 * 1024 * 1024)] }),
        headers: as(alice)
      })
      assert.strictEqual(huge.status, 413)
      // nothing was stored by any of these
      assert.isNull(field(yield* getJson(base, alice, path), "overrides"))
    })
  )

  it.effect(
    "matrix: counts per urgency x importance equal the analysed list, per account, and follow a correction",
    () =>
      Effect.gen(function* () {
        const { base, a, idsA } = yield* seeded
        const cellKey = (urgency: unknown, importance: unknown) => `${String(urgency)}x${String(importance)}`
        /** What the matrix must say: the analysed list, counted by its effective urgency and importance. */
        const expectedFrom = (list: ReadonlyArray<unknown>) => {
          const counts = new Map<string, number>()
          for (const item of list) {
            const key = cellKey(field(item, "urgency"), field(item, "importance"))
            counts.set(key, (counts.get(key) ?? 0) + 1)
          }
          return counts
        }
        const countsOf = (body: unknown) => {
          const cells = field(body, "cells")
          assert.isArray(cells)
          const counts = new Map<string, number>()
          for (const cell of Array.isArray(cells) ? cells : []) {
            counts.set(cellKey(field(cell, "urgency"), field(cell, "importance")), Number(field(cell, "count")))
          }
          const total = [...counts.values()].reduce((sum, n) => sum + n, 0)
          assert.strictEqual(field(body, "total"), total)
          return counts
        }
        const compare = (query: string, matrixQuery: string) =>
          Effect.gen(function* () {
            const analysed = yield* listAll(base, alice, `analysisState=analysed&limit=100${query}`)
            assert.isAbove(analysed.length, 0)
            const counts = countsOf(yield* getJson(base, alice, `/api/v1/emails/matrix${matrixQuery}`))
            assert.deepStrictEqual([...counts].sort(), [...expectedFrom(analysed)].sort())
            return counts
          })

        const before = yield* compare("", "")
        yield* compare(`&accountId=${a.accountId}`, `?accountId=${a.accountId}`)
        // a cell's messages are listed with urgency and importance filters, as many as it counts
        for (const [key, count] of before) {
          const [urgency, importance] = key.split("x")
          const cell = yield* listAll(base, alice, `analysisState=analysed&urgency=${urgency}&importance=${importance}`)
          assert.strictEqual(cell.length, count, key)
        }

        // a correction moves the message to its new cell
        const id = idsA[0] ?? ""
        const detail = yield* getJson(base, alice, `/api/v1/emails/${id}`)
        const urgency = field(detail, "analysis", "urgency")
        const importance = field(detail, "analysis", "importance")
        const corrected = urgency === 3 ? 1 : 3
        const patched = yield* call(base, "PATCH", `/api/v1/emails/${id}`, {
          json: { urgency: corrected },
          headers: as(alice)
        })
        assert.strictEqual(patched.status, 200, patched.text)
        const after = yield* compare("", "")
        assert.strictEqual(
          after.get(cellKey(corrected, importance)),
          (before.get(cellKey(corrected, importance)) ?? 0) + 1
        )
        assert.strictEqual(
          after.get(cellKey(urgency, importance)) ?? 0,
          (before.get(cellKey(urgency, importance)) ?? 0) - 1
        )
        const restored = yield* call(base, "PATCH", `/api/v1/emails/${id}`, {
          json: { urgency: null },
          headers: as(alice)
        })
        assert.strictEqual(restored.status, 200, restored.text)

        // another user's mail is not counted (Bob's is not analysed); a bad filter is a 400
        assert.deepStrictEqual(yield* getJson(base, bob, "/api/v1/emails/matrix"), { cells: [], total: 0 })
        const bad = yield* call(base, "GET", "/api/v1/emails?urgency=4", { headers: as(alice) })
        assert.strictEqual(bad.status, 400, bad.text)
        const badAccount = yield* call(base, "GET", "/api/v1/emails/matrix?accountId=nope", { headers: as(alice) })
        assert.strictEqual(badAccount.status, 400, badAccount.text)
      })
  )
})
