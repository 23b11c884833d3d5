import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import { SqlClient } from "effect/sql"
import { Jobs } from "../../src/jobs/Jobs.ts"
import { SearchIndexJob } from "../../src/contract/jobs/SearchIndexJob.ts"
import { enqueueSearchIndexing } from "../../src/search/SearchIndexProcessor.ts"
import { UserId } from "../../src/contract/users/UserId.ts"
import { UserScope } from "../../src/users/UserScope.ts"
import { insertMails, makeMailbox } from "../emails/fixtures.ts"
import { appTestLayer, getJson, ids, waitForJob } from "../emails/helpers.ts"
import { baseUrl, field } from "../harness/http.ts"

const alice = UserId.make("a11ce000-0000-4000-8000-0000000000a1")
const bob = UserId.make("b0b00000-0000-4000-8000-0000000000b1")

const fulltext = (base: string, user: string, q: string) =>
  getJson(base, user, `/api/v1/search?q=${encodeURIComponent(q)}&mode=fulltext&limit=50`).pipe(
    Effect.map((body) => ids(body, "email"))
  )

/** How many of the owner's messages have no full-text vector (read in the owner's scope). */
const unindexed = (owner: UserId) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const rows = yield* (yield* UserScope).run(
      owner,
      sql<{ readonly n: number }>`SELECT count(*)::int AS n FROM emails WHERE search_vector IS NULL`
    )
    return rows[0]?.n ?? -1
  }).pipe(Effect.orDie)

layer(appTestLayer(), { excludeTestServices: true, timeout: "60 seconds" })("the full-text index", (it) => {
  it.effect("indexes a row written without deferral at once, and again when its subject changes", () =>
    Effect.gen(function* () {
      const base = yield* baseUrl
      const box = yield* makeMailbox(alice)
      const [id] = yield* insertMails(box, [
        { subject: "Quartalsbericht Tannenzapfen", text: "Die Zahlen für das dritte Quartal." }
      ])
      assert.deepStrictEqual(yield* fulltext(base, alice, "Tannenzapfen"), [id])
      const sql = yield* SqlClient.SqlClient
      yield* (yield* UserScope)
        .run(alice, sql`UPDATE emails SET subject = 'Jahresbericht Walnussbaum' WHERE id = ${id ?? ""}`)
        .pipe(Effect.orDie)
      assert.deepStrictEqual(yield* fulltext(base, alice, "Walnussbaum"), [id])
      assert.deepStrictEqual(yield* fulltext(base, alice, "Tannenzapfen"), [])
    })
  )

  it.effect("leaves deferred rows to search.index, which fills its owner's rows only", () =>
    Effect.gen(function* () {
      const base = yield* baseUrl
      const sql = yield* SqlClient.SqlClient
      const scope = yield* UserScope
      const aliceIds = yield* insertMails(yield* makeMailbox(alice), [
        { subject: "Lieferschein Kirschblüte", text: "Die Lieferung kommt am Montag." },
        { subject: "Invoices for the lighthouse", text: "Please find the invoices attached." }
      ])
      yield* insertMails(yield* makeMailbox(bob), [{ subject: "Kirschblüte bei Bob", text: "Bobs Garten." }])
      // what a sync batch does: change indexed columns in a transaction that defers the vector
      const defer = (owner: UserId) =>
        scope
          .run(
            owner,
            Effect.gen(function* () {
              yield* sql`SELECT set_config('app.search_index', 'deferred', true)`
              yield* sql`UPDATE emails SET subject = subject || '' WHERE user_id = ${owner}`
            })
          )
          .pipe(Effect.orDie)
      yield* defer(alice)
      yield* defer(bob)
      const aliceTotal = yield* unindexed(alice)
      assert.isAtLeast(aliceTotal, 2)
      assert.isAtLeast(yield* unindexed(bob), 1)
      assert.deepStrictEqual(yield* fulltext(base, alice, "Kirschblüte"), [], "an unindexed row is not found yet")

      const submitted = yield* enqueueSearchIndexing(alice).pipe(Effect.orDie)
      const job = yield* waitForJob(base, alice, submitted.jobId)
      assert.strictEqual(field(job, "state"), "succeeded")
      assert.strictEqual(field(job, "result", "indexed"), aliceTotal)
      assert.strictEqual(yield* unindexed(alice), 0)
      assert.deepStrictEqual(yield* fulltext(base, alice, "Kirschblüte"), [aliceIds[0]])
      // English stemming survives the move out of the generated column: "invoice" finds "invoices"
      assert.deepStrictEqual(yield* fulltext(base, alice, "invoice lighthouse"), [aliceIds[1]])
      assert.isAtLeast(yield* unindexed(bob), 1, "another user's rows are not touched")
    })
  )

  it.effect("runs for the job's owner only, whatever owner a payload names", () =>
    Effect.gen(function* () {
      const base = yield* baseUrl
      const sql = yield* SqlClient.SqlClient
      const scope = yield* UserScope
      yield* insertMails(yield* makeMailbox(alice), [{ subject: "Haselnuss", text: "Alice again." }])
      yield* insertMails(yield* makeMailbox(bob), [{ subject: "Haselnuss bei Bob", text: "Bob again." }])
      for (const owner of [alice, bob]) {
        yield* scope
          .run(
            owner,
            Effect.gen(function* () {
              yield* sql`SELECT set_config('app.search_index', 'deferred', true)`
              yield* sql`UPDATE emails SET subject = subject || '' WHERE user_id = ${owner}`
            })
          )
          .pipe(Effect.orDie)
      }
      const bobBefore = yield* unindexed(bob)
      assert.isAtLeast(bobBefore, 1)
      const jobs = yield* Jobs
      // the shape of a payload queued before the owner left payloads (issue 13)
      const stale = { owner: bob }
      const submitted = yield* jobs.submit(SearchIndexJob, stale, { ownerId: alice }).pipe(Effect.orDie)
      const job = yield* waitForJob(base, alice, submitted.jobId)
      assert.strictEqual(field(job, "state"), "succeeded", JSON.stringify(job))
      assert.strictEqual(yield* unindexed(alice), 0)
      assert.strictEqual(yield* unindexed(bob), bobBefore, "the other user's rows are not touched")
    })
  )
})
