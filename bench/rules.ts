/**
 * `rules.apply` over 10,000 stored messages with 20 rules, beside baselines measured in the same run.
 *
 *   npx tsx bench/rules.ts [messages=10000] [rounds=3]
 *
 * What runs: `RuleExecutor.apply` (the body of the `rules.apply` job, without the BullMQ hop) over a
 * fresh database (own name, migrated), running as the row-level-security-bound app role like the
 * worker. Rules and messages are those of bench/rules-eval.ts (bench/support/rules.ts), the rules
 * with their IMAP actions (move, read, flag, delete) replaced by database-only ones (tags,
 * priority): this measures the database/evaluation path; with IMAP actions the server's UID
 * STORE/MOVE round trips would dominate (one per distinct change per mailbox and page of 200). An
 * `AccountSessions` that dies proves no IMAP is touched.
 *
 * Measured, best of `rounds`:
 *   select     baseline: a plain keyset SELECT of the same rows and columns (pages of 200), no decoding
 *   read       the executor's read path: the same pages through RuleMailStore.page (view join, decode)
 *   evaluate   baseline: planActions + diffPlan over the same messages, in memory (no I/O)
 *   apply      rules.apply, first run: evaluate, write tags/priority overrides and one log row per
 *              rule and changed message (the overrides and log are cleared before each round)
 *   reapply    rules.apply again on the result: idempotent, finds nothing to change
 */
import { PgClient } from "@effect/sql-pg"
import { Effect, Layer, Redacted, Result, Schema } from "effect"
import { SqlClient } from "effect/sql"
import { EventsLive, PlatformLive } from "../src/main/layers.ts"
import { AccountSessions } from "../src/rules/AccountSessions.ts"
import { type CompiledRule, compileRuleResult, diffPlan, planActions } from "../src/rules/evaluate.ts"
import { ruleParseOptions } from "../src/contract/rules/Rule.ts"
import { CheckedRuleInput } from "../src/rules/regex.ts"
import { RuleEvaluator } from "../src/rules/RuleEvaluator.ts"
import { RuleExecutor } from "../src/rules/RuleExecutor.ts"
import { RuleMailStore, type RuleMessage } from "../src/rules/RuleMailStore.ts"
import { RuleStore } from "../src/rules/RuleStore.ts"
import { RunJournalStore } from "../src/rules/RunJournalStore.ts"
import { UserId } from "../src/contract/users/UserId.ts"
import { UserScope } from "../src/users/UserScope.ts"
import { type BenchEnvironment, benchEnvironment } from "./support/environment.ts"
import { databaseOnlyRuleInputs, type SyntheticMessage, syntheticMessages } from "./support/rules.ts"

const MESSAGES = Number(process.argv[2] ?? 10_000)
const ROUNDS = Number(process.argv[3] ?? 3)
const PAGE = 200

const owner = UserId.make("0b0b0b0b-0000-4000-8000-000000000001")

/** A synthetic message as a stored row (the columns the seed writes). */
const toRow = (m: SyntheticMessage, i: number) => ({
  uid: i + 1,
  junk: m.mailbox === "Junk",
  subject: m.subject,
  from_name: m.from.name,
  from_address: m.from.address,
  to_addresses: m.to.map((t) => ({ name: null, address: t.address })),
  cc_addresses: m.cc,
  text_body: m.bodyText,
  has_attachments: m.hasAttachment,
  seen: m.seen,
  flagged: m.flagged,
  flags: [...(m.seen ? ["\\Seen"] : []), ...(m.flagged ? ["\\Flagged"] : [])],
  category: m.category,
  urgency: m.urgency,
  importance: m.importance,
  spam: m.spam,
  tags: m.tags
})

/** Seeds as the schema owner (superuser here), outside row-level security, in chunks of 1,000. */
const seed10k = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`INSERT INTO users (id, email, password_hash) VALUES (${owner}, 'bench@rules.invalid', '!')`
  const [account] = yield* sql<{ readonly id: string }>`
    INSERT INTO mail_accounts (user_id, label, host, port, security, username, password_sealed)
    VALUES (${owner}, 'bench', 'imap.invalid', 993, 'tls', 'bench', 'v1.x.x.x') RETURNING id`
  const boxes = yield* sql<{ readonly id: string; readonly path: string }>`
    INSERT INTO mailboxes (user_id, account_id, path, name, special_use, uid_validity) VALUES
      (${owner}, ${account?.id ?? ""}, 'INBOX', 'INBOX', 'inbox', 1),
      (${owner}, ${account?.id ?? ""}, 'Junk', 'Junk', 'junk', 1),
      (${owner}, ${account?.id ?? ""}, 'Trash', 'Trash', 'trash', 1)
    RETURNING id, path`
  const boxId = (path: string) => boxes.find((b) => b.path === path)?.id ?? ""
  const rows = syntheticMessages(MESSAGES).map(toRow)
  for (let i = 0; i < rows.length; i += 1000) {
    const chunk = rows.slice(i, i + 1000).map((r) => ({ ...r, mailbox_id: boxId(r.junk ? "Junk" : "INBOX") }))
    yield* sql`
      WITH x AS (
        SELECT * FROM jsonb_to_recordset(${JSON.stringify(chunk)}::jsonb) AS x(
          uid bigint, mailbox_id uuid, subject text, from_name text, from_address text, to_addresses jsonb,
          cc_addresses jsonb, text_body text, has_attachments boolean, seen boolean, flagged boolean, flags jsonb,
          category text, urgency smallint, importance smallint, spam boolean, tags jsonb)
      ), e AS (
        INSERT INTO emails (user_id, account_id, mailbox_id, uid_validity, uid, thread_id, subject, from_name,
                            from_address, to_addresses, cc_addresses, text_body, has_attachments, seen, flagged,
                            flags, sent_at, analysis_state)
        SELECT ${owner}, ${account?.id ?? ""}, x.mailbox_id, 1, x.uid, 't' || x.uid, x.subject, x.from_name,
               x.from_address, x.to_addresses, x.cc_addresses, x.text_body, x.has_attachments, x.seen, x.flagged,
               ARRAY(SELECT jsonb_array_elements_text(x.flags)), now() - make_interval(mins => x.uid::int), 'analysed'
        FROM x
        RETURNING id, uid
      )
      INSERT INTO email_analysis (email_id, user_id, urgency, importance, category, spam, summary, tags, language,
                                  provider, model, confidence)
      SELECT e.id, ${owner}, x.urgency, x.importance, x.category, x.spam, '', ARRAY(SELECT jsonb_array_elements_text(x.tags)),
             'de', 'bench', 'bench', 0.9
      FROM e JOIN x ON x.uid = e.uid
      WHERE x.category IS NOT NULL`
  }
  yield* sql`ANALYZE`
})

// ---------------------------------------------------------------------------
// Layers
// ---------------------------------------------------------------------------

/** Rules must not touch IMAP in this benchmark: a call is a bug in the benchmark. */
const NoImap = Layer.succeed(
  AccountSessions,
  AccountSessions.of({ connect: () => Effect.die(new Error("bench/rules.ts: rules asked for an IMAP session")) })
)
const rulesBenchLive = (bench: BenchEnvironment) =>
  RuleExecutor.layer.pipe(
    // the production path: evaluation in the worker threads
    Layer.provideMerge(
      Layer.mergeAll(
        RuleStore.layer,
        RuleMailStore.layer,
        RunJournalStore.layer,
        NoImap,
        RuleEvaluator.layerPool(2),
        EventsLive
      )
    ),
    Layer.provideMerge(PlatformLive),
    Layer.provide(bench.config)
  )
/** The schema owner (superuser here), outside row-level security. */
const ownerSql = (bench: BenchEnvironment) =>
  PgClient.layer({ url: Redacted.make(bench.databaseUrl), maxConnections: 2 })

// ---------------------------------------------------------------------------
// Measurement
// ---------------------------------------------------------------------------

const timed = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function* () {
    const start = performance.now()
    const value = yield* effect
    return { ms: performance.now() - start, value }
  })

const bestOf = <A, E, R>(
  label: string,
  effect: Effect.Effect<A, E, R>,
  before: Effect.Effect<void, E, R> = Effect.void
) =>
  Effect.gen(function* () {
    let best = Number.POSITIVE_INFINITY
    let value: A | undefined
    for (let round = 0; round < ROUNDS; round++) {
      yield* before
      const t = yield* timed(effect)
      if (t.ms < best) {
        best = t.ms
        value = t.value
      }
    }
    return { label, ms: best, value }
  })

const program = (bench: BenchEnvironment) =>
  Effect.gen(function* () {
    const executor = yield* RuleExecutor
    const store = yield* RuleStore
    const mail = yield* RuleMailStore
    const scope = yield* UserScope
    const sql = yield* SqlClient.SqlClient

    for (const input of databaseOnlyRuleInputs) {
      yield* store.create(owner, Schema.decodeUnknownSync(CheckedRuleInput)(input, ruleParseOptions))
    }
    const compiled: ReadonlyArray<CompiledRule> = (yield* store.list(owner)).map((r) =>
      Result.getOrThrow(compileRuleResult(r.input, { id: r.id }))
    )
    const selection = {}

    // baseline: plain keyset SELECT of the same rows and columns
    const select = yield* bestOf(
      "select (baseline: plain SELECT, pages of 200)",
      Effect.gen(function* () {
        let after = "00000000-0000-0000-0000-000000000000"
        let n = 0
        for (;;) {
          const rows = yield* scope.run(
            owner,
            sql<{ readonly id: string }>`
            SELECT e.id, e.uid, e.flags, e.seen, e.flagged, e.subject, e.from_name, e.from_address, e.to_addresses,
                   e.cc_addresses, left(e.text_body, 65536) AS body, e.has_attachments, e.mailbox_id
            FROM emails e
            WHERE e.user_id = ${owner} AND e.id > ${after}
            ORDER BY e.id LIMIT ${PAGE}`
          )
          n += rows.length
          const last = rows.at(-1)
          if (last === undefined || rows.length < PAGE) break
          after = last.id
        }
        return n
      })
    )

    // the executor's read path
    let loaded: ReadonlyArray<RuleMessage> = []
    const read = yield* bestOf(
      "read (RuleMailStore.page: view join + decode)",
      Effect.gen(function* () {
        const all: Array<RuleMessage> = []
        let after: string | null = null
        for (;;) {
          const page: ReadonlyArray<RuleMessage> = yield* mail.page(owner, selection, after, PAGE)
          all.push(...page)
          const last = page.at(-1)
          if (last === undefined || page.length < PAGE) break
          after = last.id
        }
        loaded = all
        return all.length
      })
    )

    // baseline: evaluation alone, in memory
    const evaluate = yield* bestOf(
      "evaluate (baseline: planActions + diffPlan, memory)",
      Effect.sync(() => {
        let changes = 0
        for (const message of loaded) {
          const state = { ...message.state }
          changes += diffPlan(planActions(compiled, state), state).length
        }
        return changes
      })
    )

    const reset = Effect.gen(function* () {
      const owned = yield* SqlClient.SqlClient
      yield* owned`DELETE FROM rule_runs`
      yield* owned`DELETE FROM email_overrides`
    }).pipe(Effect.provide(ownerSql(bench)), Effect.orDie)
    const apply = yield* bestOf(
      "apply (rules.apply, first run: writes)",
      executor.apply({ ownerId: owner, selection, jobId: null, trigger: "manual", pageSize: PAGE }),
      reset
    )
    const reapply = yield* bestOf(
      "reapply (rules.apply again: nothing to do)",
      executor.apply({ ownerId: owner, selection, jobId: null, trigger: "manual", pageSize: PAGE })
    )

    const messages = select.value ?? 0
    const pairs = messages * compiled.length
    const rate = (n: number, ms: number) => Math.round((n * 1000) / ms).toLocaleString("en-US")
    console.log(
      `rules.apply: ${compiled.length} rules x ${messages.toLocaleString("en-US")} stored messages ` +
        `(database-only actions, no IMAP), pages of ${PAGE}, best of ${ROUNDS}; node ${process.version}`
    )
    const row = (m: { label: string; ms: number }, extra = "") =>
      console.log(
        `  ${m.label.padEnd(52)} ${m.ms.toFixed(0).padStart(6)} ms ${rate(messages, m.ms).padStart(9)} messages/s ` +
          `${rate(pairs, m.ms).padStart(11)} message x rule/s${extra}`
      )
    row(select)
    row(read)
    row(evaluate, `  (${evaluate.value} changes planned)`)
    const summary = apply.value?.summary
    row(
      apply,
      `  (${summary?.changed} messages changed, ${summary?.actionsApplied} actions, ${summary?.runs} log rows)`
    )
    row(reapply, `  (${reapply.value?.summary.changed} changed, ${reapply.value?.summary.runs} log rows)`)
    const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}x`
    console.log(`  apply / select    ${ratio(apply.ms, select.ms)} the time of a plain SELECT of the same rows`)
    console.log(`  apply / evaluate  ${ratio(apply.ms, evaluate.ms)} the time of the evaluation alone`)
    console.log(`  reapply / select  ${ratio(reapply.ms, select.ms)}`)
    console.log(`  read / select     ${ratio(read.ms, select.ms)} (view join + Schema decode of the read path)`)
    if (reapply.value?.summary.changed !== 0) throw new Error("reapply changed something: not idempotent")
    if (summary?.failedMessages !== 0) throw new Error("apply failed for some messages")
  })

await Effect.runPromise(
  Effect.gen(function* () {
    const bench = yield* benchEnvironment("rules")
    yield* seed10k.pipe(Effect.provide(ownerSql(bench)))
    yield* program(bench).pipe(Effect.provide(rulesBenchLive(bench)))
  }).pipe(Effect.scoped)
)
