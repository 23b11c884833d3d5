import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import { SqlClient } from "effect/sql"
import { enqueueNewMailProcessing } from "../../src/analysis/enqueue.ts"
import { UserId } from "../../src/contract/users/UserId.ts"
import { UserScope } from "../../src/users/UserScope.ts"
import { insertMails, type Mailbox, type MailSpec, makeMailbox } from "../emails/fixtures.ts"
import { appTestLayer, as, getJson, waitForJob } from "../emails/helpers.ts"
import { baseUrl, call, field } from "../harness/http.ts"

/**
 * Learning from corrections (issue 19), end to end: real API, worker, PostgreSQL and Redis, the
 * offline provider as the base analysis. LEARNING_MIN_CORRECTIONS = 5; the debounce is long
 * enough that a burst of PATCHes over HTTP on a loaded machine stays one training.
 */

const newUser = () => UserId.make(crypto.randomUUID())

let counter = 0
const vendorMail = (): MailSpec => ({
  subject: `VendorX account update ${++counter}`,
  from: { name: "VendorX", address: "updates@vendorx.example" },
  text: "Here is the monthly account update from VendorX. Nothing to do on your side."
})
const ordinary: ReadonlyArray<MailSpec> = [
  {
    subject: "Can we move tomorrow's meeting?",
    from: { name: "Maria Keller", address: "maria.keller@acme.example" },
    text: "Hi, could we move tomorrow's project meeting to 3 pm? Please let me know by tonight. Maria"
  },
  {
    subject: "Our weekly newsletter: 10 tips for spring",
    from: { name: "Gardening Weekly", address: "news@gardening.example" },
    text: "Hello gardeners! This week: ten tips for spring planting. Unsubscribe any time.",
    headers: { listUnsubscribe: "<https://gardening.example/unsubscribe>", listId: "<weekly.gardening.example>" }
  },
  {
    subject: "Ihre Rechnung für März 2026",
    from: { name: "Telekom Deutschland", address: "rechnung@telekom.de" },
    text: "Guten Tag,\n\nder Rechnungsbetrag von 39,95 € ist fällig am 24.03.2026.\n\nIhre Telekom"
  },
  {
    subject: "Lunch on Friday?",
    from: { name: "Tom Baker", address: "tom.baker@mail.example" },
    text: "Hi, do you have time for lunch on Friday? Cheers, Tom"
  }
]

const processAll = (base: string, owner: UserId) =>
  Effect.gen(function* () {
    const { analyze, embed } = yield* enqueueNewMailProcessing(owner).pipe(Effect.orDie)
    const analyzed = yield* waitForJob(base, owner, analyze.jobId)
    yield* waitForJob(base, owner, embed.jobId)
    assert.strictEqual(field(analyzed, "state"), "succeeded", JSON.stringify(analyzed))
  })

const mailbox = (owner: UserId, specs: ReadonlyArray<MailSpec>) =>
  Effect.gen(function* () {
    const box = yield* makeMailbox(owner)
    const ids = yield* insertMails(box, specs)
    return { box, ids }
  })

const patch = (base: string, owner: string, id: string, json: unknown) =>
  Effect.gen(function* () {
    const response = yield* call(base, "PATCH", `/api/v1/emails/${id}`, { headers: as(owner), json })
    assert.strictEqual(response.status, 200, response.text)
    return response.body
  })

/** The owner's model.train jobs (their records, under the owner's row-level security). */
const trainJobs = (owner: UserId) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const scope = yield* UserScope
    return yield* scope.run(
      owner,
      sql<{ id: string }>`SELECT id::text AS id FROM jobs WHERE kind = 'model.train' AND user_id = ${owner}`
    )
  }).pipe(Effect.orDie)

/** Waits for the owner's only model.train job to end; its final JSON. */
const trained = (base: string, owner: UserId) =>
  Effect.gen(function* () {
    const jobs = yield* trainJobs(owner)
    assert.strictEqual(jobs.length, 1, "one model.train job per burst of corrections")
    const job = yield* waitForJob(base, owner, jobs[0]?.id ?? "")
    assert.strictEqual(field(job, "state"), "succeeded", JSON.stringify(job))
    return job
  })

const modelVersions = (owner: UserId) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const scope = yield* UserScope
    const rows = yield* scope.system(
      "test: the models of a user",
      sql<{ n: number }>`SELECT count(DISTINCT version)::int AS n FROM personal_models WHERE user_id = ${owner}`
    )
    return rows[0]?.n ?? 0
  }).pipe(Effect.orDie)

const detail = (base: string, owner: UserId, id: string) => getJson(base, owner, `/api/v1/emails/${id}`)

const targetQuality = (quality: unknown, target: string) => {
  const targets = field(quality, "targets")
  assert.isArray(targets)
  const found = (Array.isArray(targets) ? targets : []).find((t) => field(t, "target") === target)
  assert.isDefined(found, `no quality for ${target}: ${JSON.stringify(quality)}`)
  return found
}

/** New mail of the pattern and an ordinary one, analysed; their ids. */
const newMail = (base: string, box: Mailbox) =>
  Effect.gen(function* () {
    const ids = yield* insertMails(box, [vendorMail(), vendorMail(), ordinary[0] ?? vendorMail()])
    yield* processAll(base, box.owner)
    return ids
  })

layer(appTestLayer({ LEARNING_MIN_CORRECTIONS: "5", LEARNING_DEBOUNCE_MS: "3000" }), {
  excludeTestServices: true,
  timeout: "240 seconds"
})("learning from corrections", (it) => {
  it.effect(
    "a corrected pattern is learnt and says personal; other users unchanged; one job for a burst; rescore; tags; deleting the user deletes the models",
    () =>
      Effect.gen(function* () {
        const base = yield* baseUrl
        const alice = newUser()
        const bob = newUser()
        const aliceVendor = Array.from({ length: 10 }, vendorMail)
        const aliceUntouched = [vendorMail(), vendorMail()]
        const a = yield* mailbox(alice, [...aliceVendor, ...aliceUntouched, ...ordinary, ...ordinary])
        const b = yield* mailbox(bob, [...Array.from({ length: 10 }, vendorMail), ...ordinary])
        yield* processAll(base, alice)
        yield* processAll(base, bob)

        const first = yield* detail(base, alice, a.ids[0] ?? "")
        const baseImportance = field(first, "importance")
        // the pattern is one the base gets "wrong" for alice: she wants 3
        assert.notStrictEqual(
          baseImportance,
          3,
          "the base must disagree with the preference for this test to mean anything"
        )
        assert.strictEqual(field(first, "decisions", "importance", "source"), "base")

        // a burst of corrections: one job, one training
        for (const id of a.ids.slice(0, 10)) yield* patch(base, alice, id, { importance: 3, tags: ["vendor"] })
        const job = yield* trained(base, alice)
        assert.strictEqual(field(job, "result", "trainings"), 1, JSON.stringify(job))
        assert.strictEqual(yield* modelVersions(alice), 1)

        const quality = yield* getJson(base, alice, "/api/v1/analysis/quality")
        const importance = targetQuality(quality, "importance")
        assert.strictEqual(field(importance, "used"), true, JSON.stringify(importance))
        assert.strictEqual(field(importance, "corrections"), 10)
        assert.strictEqual(field(importance, "baseAccuracy"), 0)
        assert.strictEqual(field(importance, "personalAccuracy"), 1)
        assert.strictEqual(field(targetQuality(quality, "tag:vendor"), "used"), true)
        const series = field(quality, "series")
        assert.isTrue(Array.isArray(series) && series.length >= 5, JSON.stringify(series))

        // new mail of the pattern: scored as corrected, by the personal model
        const [aliceNew, aliceNew2, aliceOrdinary] = yield* newMail(base, a.box)
        for (const id of [aliceNew, aliceNew2]) {
          const d = yield* detail(base, alice, id ?? "")
          assert.strictEqual(field(d, "importance"), 3, JSON.stringify(field(d, "decisions")))
          assert.strictEqual(field(d, "decisions", "importance", "source"), "personal")
          assert.strictEqual(field(d, "analysis", "importance"), baseImportance, "the base stays as the provider said")
          assert.deepStrictEqual(field(d, "tagSuggestions"), ["vendor"])
        }
        const o = yield* detail(base, alice, aliceOrdinary ?? "")
        assert.strictEqual(field(o, "importance"), field(o, "analysis", "importance"), "ordinary mail keeps its base")

        // accepting a suggestion applies it and it is no longer suggested
        const accepted = yield* patch(base, alice, aliceNew ?? "", { acceptSuggestedTag: "vendor" })
        assert.include(field(accepted, "tags"), "vendor")
        assert.deepStrictEqual(field(accepted, "tagSuggestions"), [])

        // bob never corrected anything: his mail of the same sender keeps the base
        const [bobNew] = yield* newMail(base, b.box)
        const bd = yield* detail(base, bob, bobNew ?? "")
        assert.strictEqual(field(bd, "importance"), baseImportance)
        assert.strictEqual(field(bd, "decisions", "importance", "source"), "base")
        assert.deepStrictEqual(field(bd, "tagSuggestions"), [])

        // rescore: alice's mail analysed before the model is blended again; corrections still win
        const untouched = a.ids[10] ?? ""
        assert.strictEqual(field(yield* detail(base, alice, untouched), "importance"), baseImportance)
        const rescore = yield* call(base, "POST", "/api/v1/analysis/rescore", {
          headers: as(alice),
          json: { since: "2000-01-01T00:00:00Z" }
        })
        assert.strictEqual(rescore.status, 202, rescore.text)
        const rescored = yield* waitForJob(base, alice, String(field(rescore.body, "jobId")))
        assert.strictEqual(field(rescored, "state"), "succeeded", JSON.stringify(rescored))
        const after = yield* detail(base, alice, untouched)
        assert.strictEqual(field(after, "importance"), 3)
        assert.strictEqual(field(after, "decisions", "importance", "source"), "personal")
        const corrected = yield* detail(base, alice, a.ids[0] ?? "")
        assert.strictEqual(field(corrected, "decisions", "importance", "source"), "correction")
        const bad = yield* call(base, "POST", "/api/v1/analysis/rescore", {
          headers: as(alice),
          json: { since: "2026-01-02T00:00:00Z", until: "2026-01-01T00:00:00Z" }
        })
        assert.strictEqual(bad.status, 400, bad.text)

        // deleting the user deletes the models
        const sql = yield* SqlClient.SqlClient
        const scope = yield* UserScope
        yield* scope.system("test: delete a user", sql`DELETE FROM users WHERE id = ${alice}`).pipe(Effect.orDie)
        assert.strictEqual(yield* modelVersions(alice), 0)
      })
  )

  it.effect("below the minimum nothing changes, and the quality answer says why", () =>
    Effect.gen(function* () {
      const base = yield* baseUrl
      const carol = newUser()
      const c = yield* mailbox(carol, [...Array.from({ length: 6 }, vendorMail), ...ordinary])
      yield* processAll(base, carol)
      const baseImportance = field(yield* detail(base, carol, c.ids[0] ?? ""), "importance")
      for (const id of c.ids.slice(0, 3)) yield* patch(base, carol, id, { importance: 3 })
      yield* trained(base, carol)
      const quality = yield* getJson(base, carol, "/api/v1/analysis/quality")
      const importance = targetQuality(quality, "importance")
      assert.strictEqual(field(importance, "used"), false)
      assert.strictEqual(field(importance, "whyNot"), "too_few_corrections")
      const [fresh] = yield* newMail(base, c.box)
      const d = yield* detail(base, carol, fresh ?? "")
      assert.strictEqual(field(d, "importance"), baseImportance)
      assert.strictEqual(field(d, "decisions", "importance", "source"), "base")
      assert.include(String(field(d, "decisions", "importance", "reason")), "fewer than the minimum")
    })
  )

  it.effect("a model not better than the base on held-out corrections is not used", () =>
    Effect.gen(function* () {
      const base = yield* baseUrl
      const dave = newUser()
      const d = yield* mailbox(dave, [...Array.from({ length: 8 }, vendorMail), ...ordinary])
      yield* processAll(base, dave)
      // corrections that confirm the base: the base is right on every one of them
      for (const id of d.ids.slice(0, 8)) {
        const shown = yield* detail(base, dave, id)
        yield* patch(base, dave, id, { importance: field(shown, "analysis", "importance") })
      }
      yield* trained(base, dave)
      const quality = yield* getJson(base, dave, "/api/v1/analysis/quality")
      const importance = targetQuality(quality, "importance")
      assert.strictEqual(field(importance, "used"), false, JSON.stringify(importance))
      assert.strictEqual(field(importance, "whyNot"), "not_better_than_base")
      assert.strictEqual(field(importance, "baseAccuracy"), 1)
      assert.include(String(field(importance, "explanation")), "not better than the base")
      const [fresh] = yield* newMail(base, d.box)
      const shown = yield* detail(base, dave, fresh ?? "")
      assert.strictEqual(field(shown, "decisions", "importance", "source"), "base")
      assert.include(String(field(shown, "decisions", "importance", "reason")), "not better than the base")
    })
  )
})
