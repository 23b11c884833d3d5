/**
 * A regression guard for the database transactions one fresh message costs (issue 15, fair share:
 * each user-scoped transaction is at least four round trips, and the worker's CPU goes into them).
 * One new message in a stored mailbox, a targeted `mail.sync` as a watcher queues it, and everything
 * it queues (`mail.analyze` with its embeddings, `rules.apply` for an enabled rule): the transactions
 * of that work are counted from the trace the sync's submit starts (every follow-up job joins it).
 * Counted by trace, the worker's background loops (scheduler ticks, sweeps, reconcilers) run in
 * traces of their own and are not counted; the job bookkeeping batched across jobs (state writes)
 * is not in the trace either. Nothing here is timed.
 */
import { InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base"
import { assert, layer } from "@effect/vitest"
import { Effect, Schedule, Schema } from "effect"
import { randomUUID } from "node:crypto"
import { AccountId } from "../../src/contract/accounts/Account.ts"
import { MailSyncJob } from "../../src/contract/jobs/MailSyncJob.ts"
import { UserId } from "../../src/contract/users/UserId.ts"
import { Jobs } from "../../src/jobs/Jobs.ts"
import { Dovecot } from "../harness/dovecot.ts"
import { baseUrl } from "../harness/http.ts"
import { createAccount, expectSucceeded, field, ownerQuery, syncNow, syncTestLayer, waitForJob } from "./support.ts"

const owner = "e7777777-7777-4777-8777-777777777777"
const USER = "txcount"
const PASS = "txcount-Passw0rd!"

const exporter = new InMemorySpanExporter()

const TestLayer = syncTestLayer({
  worker: true,
  dovecot: { users: [{ user: USER, pass: PASS }] },
  spanProcessor: new SimpleSpanProcessor(exporter)
})

/**
 * The most transactions the fresh-mail path of one message may commit (the sync, its follow-up
 * decisions, the analysis job with its embedding, the rules job). On main before this change: 29;
 * after it: 21 (the server profile not rewritten -1; the sync's follow-up reads in one transaction -1;
 * the rules run's opening reads -2; the analysis job's opening reads -1; an empty claim read with its
 * lock-out check, in the embedding and the analysis -2; a targeted sync's account and mailboxes -1).
 */
const MAX_TRANSACTIONS = 21

const message = (subject: string) =>
  `From: a@example.com\r\nTo: ${USER}@example.com\r\nSubject: ${subject}\r\nMessage-ID: <${randomUUID()}@example.com>\r\n\r\nbody of ${subject}\r\n`

const Count = Schema.Struct({ n: Schema.Number })

/** Every job of the owner ended. */
const settled = Effect.gen(function* () {
  const open = yield* ownerQuery(
    Count,
    (sql) => sql`SELECT count(*)::int AS n FROM jobs WHERE user_id = ${owner}
      AND state NOT IN ('succeeded', 'failed', 'cancelled')`
  )
  if ((open[0]?.n ?? 0) > 0) return yield* Effect.fail("jobs still running")
}).pipe(Effect.retry(Schedule.spaced("100 millis").pipe(Schedule.upTo({ times: 1_200 }))), Effect.orDie)

const isTransaction = (span: ReadableSpan) => span.name === "sql.transaction"
const queryText = (span: ReadableSpan) => {
  const text = span.attributes["db.query.text"]
  return typeof text === "string" ? text.replace(/\s+/g, " ").trim() : undefined
}

/** The trace's outermost transactions, each with its statements (set_config left out), and statements outside any. */
const transactionsOf = (traceId: string) => {
  const spans = exporter.getFinishedSpans().filter((span) => span.spanContext().traceId === traceId)
  const byId = new Map(spans.map((span) => [span.spanContext().spanId, span]))
  const parent = (span: ReadableSpan) => {
    const id = span.parentSpanContext?.spanId
    return id === undefined ? undefined : byId.get(id)
  }
  const enclosing = (span: ReadableSpan): ReadableSpan | undefined => {
    let outer: ReadableSpan | undefined
    for (let cursor = parent(span); cursor !== undefined; cursor = parent(cursor)) {
      if (isTransaction(cursor)) outer = cursor
    }
    return outer
  }
  const transactions = spans.filter((span) => isTransaction(span) && enclosing(span) === undefined)
  const statements = new Map<ReadableSpan, Array<string>>(transactions.map((span) => [span, []]))
  const outside: Array<string> = []
  for (const span of spans) {
    const text = queryText(span)
    if (text === undefined || text.startsWith("SELECT set_config('role'")) continue
    const tx = enclosing(span)
    if (tx === undefined) outside.push(text.slice(0, 90))
    else statements.get(tx)?.push(text.slice(0, 90))
  }
  const listed = transactions
    .sort((a, b) => (a.startTime[0] - b.startTime[0]) * 1e9 + (a.startTime[1] - b.startTime[1]))
    .map((tx) => (statements.get(tx) ?? []).join(" | "))
  return { transactions: listed, outside }
}

layer(TestLayer, { excludeTestServices: true, timeout: "180 seconds" })("a fresh message's transactions", (it) => {
  it.effect("one new message: its sync, analysis and rules commit at most the counted transactions", () =>
    Effect.gen(function* () {
      const server = yield* Dovecot
      const base = yield* baseUrl
      const jobs = yield* Jobs
      yield* Effect.promise(() => server.append(USER, PASS, "INBOX", message("already there")))
      const accountId = yield* createAccount(base, owner, server, { username: USER, password: PASS })
      expectSucceeded(yield* syncNow(base, owner, accountId))
      yield* settled
      yield* ownerQuery(
        Schema.Struct({ id: Schema.String }),
        (sql) => sql`INSERT INTO rules (user_id, name, priority, match, conditions, actions)
                     VALUES (${owner}, 'fresh', 100, 'all', '[{"field":"subject","op":"contains","value":"fresh"}]'::jsonb,
                             '[{"type":"flag"}]'::jsonb)
                     RETURNING id::text AS id`
      )

      /** One new message in INBOX and the targeted sync a watcher queues for it; its trace's id once all ended. */
      const freshMessage = (subject: string) =>
        Effect.gen(function* () {
          yield* Effect.promise(() => server.append(USER, PASS, "INBOX", message(subject)))
          const submitted = yield* jobs.submit(
            MailSyncJob,
            { accountId: Schema.decodeUnknownSync(AccountId)(accountId), mailboxes: ["INBOX"] },
            { ownerId: Schema.decodeUnknownSync(UserId)(owner) }
          )
          const job = yield* waitForJob(base, owner, submitted.jobId)
          expectSucceeded(job)
          yield* settled
          return String(field(job, "traceId"))
        }).pipe(Effect.orDie)

      // the first fresh message warms what a running worker has warm (its first sync of the account)
      yield* freshMessage("fresh warm-up")
      const traceId = yield* freshMessage("fresh counted")
      const kinds = yield* ownerQuery(
        Schema.Struct({ kind: Schema.String }),
        (sql) => sql`SELECT kind FROM jobs WHERE user_id = ${owner} AND trace_id = ${traceId} ORDER BY created_at`
      )
      // the whole path ran in the trace: the sync, the analysis (embedding inside it) and the rules
      assert.deepStrictEqual(
        kinds.map((row) => row.kind),
        ["mail.sync", "mail.analyze", "rules.apply"]
      )
      const { transactions, outside } = transactionsOf(traceId)
      const listing = `${transactions.length} transactions:\n${transactions.map((tx) => `  ${tx}`).join("\n")}\noutside a transaction:\n${outside.map((s) => `  ${s}`).join("\n")}`
      console.log(listing)
      assert.isAtMost(transactions.length, MAX_TRANSACTIONS, listing)
    })
  )
})
