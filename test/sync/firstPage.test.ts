import { assert, layer } from "@effect/vitest"
import { Effect, Schedule, Schema } from "effect"
import { AnalyzeMailJob } from "../../src/contract/jobs/AnalyzeMailJob.ts"
import { bands } from "../../src/jobs/FairShare.ts"
import { Jobs } from "../../src/jobs/Jobs.ts"
import { FIRST_PAGE } from "../../src/sync/MailSync.ts"
import { Dovecot } from "../harness/dovecot.ts"
import { generateMessages } from "../harness/mailgen.ts"
import { baseUrl, createAccount, expectSucceeded, ownerQuery, syncNow, syncTestLayer } from "./support.ts"

/*
 * Issue 17, "the first screen": when an account is added, the newest messages of its INBOX (the
 * first page) are analysed first, by an interactive mail.analyze job of their own queued right after
 * the first stored batch's commit; the rest of the mailbox follows as bulk work, after it.
 */

const PASSWORD = "first-Page-Passw0rd"
/** Above 4 x FIRST_PAGE: the sync takes the newest UIDs' sizes first, as for a large mailbox. */
const COUNT = 900
const dora = "d4444444-4444-4444-8444-444444444444"

const TestLayer = syncTestLayer({
  worker: true,
  dovecot: { users: [{ user: "first", pass: PASSWORD }] }
})

const Email = Schema.Struct({
  id: Schema.String,
  uid: Schema.Number,
  created_at: Schema.Date,
  analysed_at: Schema.NullOr(Schema.Date)
})
const JobRow = Schema.Struct({
  id: Schema.String,
  kind: Schema.String,
  state: Schema.String,
  payload: Schema.Unknown,
  created_at: Schema.Date
})

const idsOf = (payload: unknown): ReadonlyArray<string> | null => {
  if (typeof payload !== "object" || payload === null || !("emailIds" in payload)) return null
  const ids = payload.emailIds
  return Array.isArray(ids) ? ids.map(String) : null
}

layer(TestLayer, { excludeTestServices: true, timeout: "300 seconds" })("the first page of a new account", (it) => {
  it.effect(
    "is analysed first, by an interactive job of its own queued after its commit; the rest after it, as bulk",
    () =>
      Effect.gen(function* () {
        const server = yield* Dovecot
        const base = yield* baseUrl
        const jobs = yield* Jobs
        const messages = generateMessages(COUNT, { seed: 17, domain: "firstpage.test" })
        yield* Effect.promise(() =>
          server.seedMaildir(
            "first",
            "INBOX",
            messages.map((m) => ({ raw: m.raw, flags: [] }))
          )
        )
        const accountId = yield* createAccount(base, dora, server, { username: "first", password: PASSWORD })
        // adding the account queued its first sync; this request gets it (or a later one, once it ended)
        expectSucceeded(yield* syncNow(base, dora, accountId))

        // every message analysed, no analysis job left
        const followUps = ownerQuery(
          JobRow,
          (sql) => sql`SELECT id, kind, state, payload, created_at FROM jobs
            WHERE user_id = ${dora} AND kind IN ('mail.analyze', 'mail.embed', 'search.index') ORDER BY created_at, id`
        )
        const emails = ownerQuery(
          Email,
          (sql) => sql`SELECT e.id, e.uid::int AS uid, e.created_at, a.analysed_at FROM emails e
            LEFT JOIN email_analysis a ON a.email_id = e.id WHERE e.account_id = ${accountId}`
        )
        yield* Effect.gen(function* () {
          const unfinished = (yield* followUps).filter((job) => !["succeeded", "failed"].includes(job.state))
          const unanalysed = (yield* emails).filter((email) => email.analysed_at === null)
          if (unfinished.length > 0 || unanalysed.length > 0) {
            return yield* Effect.fail(`${unfinished.length} jobs running, ${unanalysed.length} messages unanalysed`)
          }
        }).pipe(Effect.retry(Schedule.spaced("200 millis").pipe(Schedule.upTo({ times: 1_200 }))), Effect.orDie)

        const stored = yield* emails
        assert.strictEqual(stored.length, COUNT)
        const byUid = [...stored].sort((a, b) => b.uid - a.uid)
        const firstPage = byUid.slice(0, FIRST_PAGE)
        const older = byUid.slice(FIRST_PAGE)
        const firstPageIds = new Set(firstPage.map((email) => email.id))

        // the first follow-up job of the sync: the first page's analysis, its ids exactly
        const [first, ...rest] = yield* followUps
        assert.isDefined(first)
        if (first === undefined) return
        assert.strictEqual(first.kind, AnalyzeMailJob.name, "the first follow-up job is the first page's analysis")
        assert.deepStrictEqual(
          [...(idsOf(first.payload) ?? [])].sort(),
          [...firstPageIds].sort(),
          "the first analysis job names the newest messages"
        )
        // queued after the first page's rows were written (their transaction's start)
        const firstPageWritten = Math.max(...firstPage.map((email) => email.created_at.getTime()))
        assert.isAtLeast(first.created_at.getTime(), firstPageWritten)
        // interactive: its turn (BullMQ priority) is in the interactive band; the rest are bulk
        const queue = yield* jobs.queue(AnalyzeMailJob.name)
        const priorityOf = (id: string) =>
          Effect.promise(() => queue.getJob(id)).pipe(Effect.map((job) => job?.opts.priority ?? null))
        const firstPriority = yield* priorityOf(first.id)
        assert.isNotNull(firstPriority)
        assert.isAtMost(firstPriority ?? Number.POSITIVE_INFINITY, bands.interactive.high, "first page: interactive")
        const restAnalysis = rest.filter((job) => job.kind === AnalyzeMailJob.name)
        assert.isAtLeast(restAnalysis.length, 1)
        for (const job of restAnalysis) {
          assert.isNull(idsOf(job.payload), "the rest: all pending")
          assert.isAtLeast((yield* priorityOf(job.id)) ?? 0, bands.bulk.low, "the rest: bulk")
        }

        // the whole first page analysed before any older message
        const lastOfFirstPage = Math.max(...firstPage.map((email) => email.analysed_at?.getTime() ?? 0))
        const firstOfOlder = Math.min(...older.map((email) => email.analysed_at?.getTime() ?? 0))
        assert.isBelow(lastOfFirstPage, firstOfOlder, "the first page was analysed before the older mail")
      }),
    // a 900-message sync and its analysis on a loaded 2-core machine: well over the default 60 s
    300_000
  )
})
