/**
 * `rules.apply` over 10,000 stored messages with 20 rules, beside baselines measured in the same run.
 *
 *   npx tsx bench/rules.ts [messages=10000] [rounds=3]
 *
 * What runs: `RuleExecutor.apply` (the body of the `rules.apply` job, without the BullMQ hop) over a
 * fresh database (own name, migrated), running as the row-level-security-bound app role like the
 * worker. The 20 rules are those of bench/rules-eval.ts with their IMAP actions (move, read, flag,
 * delete) replaced by database-only ones (tags, priority): this measures the database/evaluation
 * path; with IMAP actions the server's UID STORE/MOVE round trips would dominate (one per distinct
 * change per mailbox and page of 200). An `AccountSessions` that dies proves no IMAP is touched.
 *
 * Measured, best of `rounds`:
 *   select     baseline: a plain keyset SELECT of the same rows and columns (pages of 200), no decoding
 *   read       the executor's read path: the same pages through RuleMail.page (view join, decode)
 *   evaluate   baseline: planActions + diffPlan over the same messages, in memory (no I/O)
 *   apply      rules.apply, first run: evaluate, write tags/priority overrides and one log row per
 *              rule and changed message (the overrides and log are cleared before each round)
 *   reapply    rules.apply again on the result: idempotent, finds nothing to change
 */
import { PgClient } from "@effect/sql-pg"
import { ConfigProvider, Effect, Layer, Redacted, Result, Schema } from "effect"
import { SqlClient } from "effect/sql"
import { spawnSync } from "node:child_process"
import { PlatformLive } from "../src/main/layers.ts"
import { AppConfig } from "../src/platform/Config.ts"
import { migrateAsOwner } from "../src/platform/Database.ts"
import { AccountSessions } from "../src/rules/AccountSessions.ts"
import { type CompiledRule, compileRuleResult, diffPlan, planActions } from "../src/rules/evaluate.ts"
import { RuleInput, ruleParseOptions } from "../src/rules/Rule.ts"
import { RuleExecutor } from "../src/rules/RuleExecutor.ts"
import { RuleMail, type RuleMessage } from "../src/rules/RuleMail.ts"
import { RuleStore } from "../src/rules/RuleStore.ts"
import { UserId } from "../src/users/UserId.ts"
import { UserScope } from "../src/users/UserScope.ts"

const MESSAGES = Number(process.argv[2] ?? 10_000)
const ROUNDS = Number(process.argv[3] ?? 3)
const PAGE = 200

const serverUrl = process.env["BENCH_POSTGRES_URL"] ?? "postgres://root@127.0.0.1:5432"
const database = `mh_bench_rules_${process.pid}`
const psql = (statement: string) => {
  const result = spawnSync("psql", [`${serverUrl}/postgres`, "-v", "ON_ERROR_STOP=1", "-qc", statement], {
    encoding: "utf8"
  })
  if (result.status !== 0) throw new Error(`psql failed: ${result.stderr}`)
}
const env: Record<string, string> = {
  NODE_ENV: "test",
  DATABASE_URL: `${serverUrl}/${database}`,
  REDIS_URL: process.env["BENCH_REDIS_URL"] ?? "redis://127.0.0.1:6379/0",
  REDIS_PREFIX: `mhbench_rules_${process.pid}`,
  LOG_LEVEL: "Warn"
}
const owner = UserId.make("0b0b0b0b-0000-4000-8000-000000000001")

// ---------------------------------------------------------------------------
// 20 rules (bench/rules-eval.ts, IMAP actions turned into database-only ones)
// ---------------------------------------------------------------------------

const ruleInputs: ReadonlyArray<Record<string, unknown>> = [
  {
    name: "spam",
    priority: 1,
    stopProcessing: true,
    conditions: [{ field: "spam", value: true }],
    actions: [{ type: "addTag", tag: "to:Junk" }]
  },
  {
    name: "invoices",
    priority: 10,
    match: "any",
    conditions: [
      { field: "subject", op: "regex", value: "\\b(rechnung|invoice|faktura)\\b" },
      { field: "body", op: "contains", value: "zahlbar bis" }
    ],
    actions: [{ type: "addTag", tag: "invoice" }]
  },
  {
    name: "file invoices",
    priority: 11,
    conditions: [
      { field: "tag", op: "has", value: "invoice" },
      { field: "hasAttachment", value: true }
    ],
    actions: [{ type: "addTag", tag: "to:Finanzen/Rechnungen" }]
  },
  {
    name: "boss",
    priority: 12,
    conditions: [{ field: "from", op: "equals", value: "chefin@firma.de" }],
    actions: [
      { type: "addTag", tag: "flagged" },
      { type: "setPriority", importance: 3 }
    ]
  },
  {
    name: "company",
    priority: 13,
    conditions: [
      { field: "from", op: "domain", value: "firma.de" },
      { field: "urgency", op: "gte", value: 2 }
    ],
    actions: [{ type: "addTag", tag: "work" }]
  },
  {
    name: "newsletters",
    priority: 20,
    conditions: [{ field: "category", op: "in", value: ["newsletter", "marketing"] }],
    actions: [
      { type: "addTag", tag: "read" },
      { type: "addTag", tag: "to:Newsletter" }
    ]
  },
  {
    name: "unsubscribe footer",
    priority: 21,
    conditions: [
      { field: "body", op: "regex", value: "(abmelden|unsubscribe|newsletter abbestellen)" },
      { field: "category", op: "equals", value: "newsletter", negate: true }
    ],
    actions: [{ type: "addTag", tag: "bulk" }]
  },
  {
    name: "shipping",
    priority: 22,
    match: "any",
    conditions: [
      { field: "subject", op: "contains", value: "versandbestätigung" },
      { field: "subject", op: "contains", value: "ihre bestellung" },
      { field: "subject", op: "regex", value: "(shipped|dispatched|zugestellt)" }
    ],
    actions: [{ type: "addTag", tag: "shipping" }]
  },
  {
    name: "github",
    priority: 23,
    conditions: [{ field: "from", op: "domain", value: "github.com" }],
    actions: [
      { type: "addTag", tag: "dev" },
      { type: "addTag", tag: "to:Dev" }
    ]
  },
  {
    name: "ci failures",
    priority: 24,
    conditions: [
      { field: "from", op: "regex", value: "^(noreply|notifications)@" },
      { field: "subject", op: "regex", value: "(build|pipeline|run) (failed|fehlgeschlagen)" }
    ],
    actions: [{ type: "addTag", tag: "flagged" }]
  },
  {
    name: "bank",
    priority: 25,
    conditions: [{ field: "from", op: "domain", value: "sparkasse.de" }],
    actions: [
      { type: "addTag", tag: "bank" },
      { type: "setPriority", urgency: 3 }
    ]
  },
  {
    name: "iban in body",
    priority: 26,
    conditions: [{ field: "body", op: "regex", value: "\\bDE\\d{2}(?: ?\\d{4}){4} ?\\d{2}\\b" }],
    actions: [{ type: "addTag", tag: "iban" }]
  },
  {
    name: "cc only",
    priority: 27,
    conditions: [
      { field: "to", op: "equals", value: "me@example.org", negate: true },
      { field: "cc", op: "equals", value: "me@example.org" }
    ],
    actions: [{ type: "setPriority", importance: 1 }]
  },
  {
    name: "team list",
    priority: 28,
    conditions: [{ field: "recipients", op: "contains", value: "team@" }],
    actions: [{ type: "addTag", tag: "team" }]
  },
  {
    name: "urgent words",
    priority: 29,
    match: "any",
    conditions: [
      { field: "subject", op: "contains", value: "dringend" },
      { field: "subject", op: "contains", value: "urgent" },
      { field: "subject", op: "contains", value: "asap" }
    ],
    actions: [
      { type: "addTag", tag: "flagged" },
      { type: "setPriority", urgency: 3 }
    ]
  },
  {
    name: "low score read",
    priority: 30,
    conditions: [
      { field: "score", op: "lt", value: 5 },
      { field: "mailbox", op: "equals", value: "INBOX" }
    ],
    actions: [{ type: "addTag", tag: "read" }]
  },
  {
    name: "social",
    priority: 31,
    conditions: [{ field: "category", op: "equals", value: "social" }],
    actions: [{ type: "addTag", tag: "to:Social" }]
  },
  {
    name: "calendar",
    priority: 32,
    conditions: [{ field: "subject", op: "regex", value: "^(einladung|invitation|updated invitation):" }],
    actions: [{ type: "addTag", tag: "calendar" }]
  },
  {
    name: "todo cleanup",
    priority: 33,
    conditions: [
      { field: "tag", op: "has", value: "done" },
      { field: "tag", op: "has", value: "todo" }
    ],
    actions: [{ type: "removeTag", tag: "todo" }]
  },
  {
    name: "old junk",
    priority: 40,
    conditions: [
      { field: "mailbox", op: "equals", value: "Junk" },
      { field: "importance", op: "lte", value: 1 }
    ],
    actions: [{ type: "addTag", tag: "to:Trash" }]
  }
]

// ---------------------------------------------------------------------------
// 10,000 stored messages (deterministic, the distribution of bench/rules-eval.ts)
// ---------------------------------------------------------------------------

let seed = 42
const rnd = () => {
  seed = (seed * 1103515245 + 12345) & 0x7fffffff
  return seed / 0x7fffffff
}
const pick = <A>(items: ReadonlyArray<A>): A => {
  const item = items[Math.floor(rnd() * items.length)]
  if (item === undefined) throw new Error("empty list")
  return item
}
const senders = [
  { name: "Chefin", address: "chefin@firma.de" },
  { name: "Kollege", address: "max.mustermann@firma.de" },
  { name: "GitHub", address: "notifications@github.com" },
  { name: "Sparkasse", address: "service@sparkasse.de" },
  { name: "Muster Shop", address: "rechnung@muster-shop.de" },
  { name: "Newsletter", address: "news@angebote.example" },
  { name: "Freundin", address: "anna@mail.de" },
  { name: null, address: "noreply@ci.example.com" },
  { name: "Paketdienst", address: "info@paket.example" }
]
const subjects = [
  "Ihre Rechnung Nr. 2024-%n",
  "Versandbestätigung für Ihre Bestellung %n",
  "Re: Treffen am Donnerstag",
  "[repo] Run failed: CI - main (%n)",
  "Einladung: Projektbesprechung",
  "DRINGEND: Freigabe benötigt",
  "Wochenangebote bis zu 50% Rabatt",
  "Kontoauszug verfügbar",
  "Your order has shipped",
  "Fwd: Fotos vom Wochenende",
  "Invoice #%n from Example Corp"
]
const paragraphs = [
  "Sehr geehrte Damen und Herren, vielen Dank für Ihre Nachricht. Wir melden uns zeitnah bei Ihnen.",
  "Der Betrag von 49,90 EUR ist zahlbar bis zum 31.12. auf das Konto DE89 3704 0044 0532 0130 00.",
  "Hallo zusammen, anbei die Unterlagen für das Meeting. Viele Grüße und bis morgen!",
  "If you no longer wish to receive these emails, click here to unsubscribe from this list.",
  "Die Sendung wurde heute zugestellt. Bitte prüfen Sie den Inhalt auf Vollständigkeit.",
  "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore.",
  "The build for commit 3f2a1c failed in job test (ubuntu-latest). See the logs for details."
]
const categories = ["newsletter", "marketing", "work", "finance", "social", "personal", null]
const people = ["me@example.org", "team@example.org", "bob@example.org", "carol@partner.example"]

const makeRow = (i: number) => {
  const paragraphCount = 2 + Math.floor(rnd() * 30)
  const body = Array.from({ length: i % 50 === 0 ? 300 : paragraphCount }, () => pick(paragraphs)).join("\n\n")
  const from = pick(senders)
  const seen = rnd() < 0.5
  const flagged = rnd() < 0.1
  const category = pick(categories)
  return {
    uid: i + 1,
    junk: rnd() >= 0.9,
    subject: pick(subjects).replace("%n", String(1000 + i)),
    from_name: from.name,
    from_address: from.address,
    to_addresses: Array.from({ length: 1 + Math.floor(rnd() * 3) }, () => ({ name: null, address: pick(people) })),
    cc_addresses: rnd() < 0.3 ? [{ name: "Me", address: "me@example.org" }] : [],
    text_body: body,
    has_attachments: rnd() < 0.4,
    seen,
    flagged,
    flags: [...(seen ? ["\\Seen"] : []), ...(flagged ? ["\\Flagged"] : [])],
    category,
    urgency: 1 + Math.floor(rnd() * 3),
    importance: 1 + Math.floor(rnd() * 3),
    spam: rnd() < 0.05,
    tags: rnd() < 0.2 ? ["todo", "done"] : []
  }
}

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
  const rows = Array.from({ length: MESSAGES }, (_, i) => makeRow(i))
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
const RulesBenchLive = RuleExecutor.layer.pipe(
  Layer.provideMerge(Layer.mergeAll(RuleStore.layer, RuleMail.layer, NoImap)),
  Layer.provideMerge(PlatformLive),
  Layer.provide(ConfigProvider.layer(ConfigProvider.fromUnknown(env)))
)
const OwnerSql = PgClient.layer({ url: Redacted.make(`${serverUrl}/${database}`), maxConnections: 2 })

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

const program = Effect.gen(function* () {
  const executor = yield* RuleExecutor
  const store = yield* RuleStore
  const mail = yield* RuleMail
  const scope = yield* UserScope
  const sql = yield* SqlClient.SqlClient

  for (const input of ruleInputs) {
    yield* store.create(owner, Schema.decodeUnknownSync(RuleInput)(input, ruleParseOptions))
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
    "read (RuleMail.page: view join + decode)",
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
  }).pipe(Effect.provide(OwnerSql), Effect.orDie)
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
  row(apply, `  (${summary?.changed} messages changed, ${summary?.actionsApplied} actions, ${summary?.runs} log rows)`)
  row(reapply, `  (${reapply.value?.summary.changed} changed, ${reapply.value?.summary.runs} log rows)`)
  const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}x`
  console.log(`  apply / select    ${ratio(apply.ms, select.ms)} the time of a plain SELECT of the same rows`)
  console.log(`  apply / evaluate  ${ratio(apply.ms, evaluate.ms)} the time of the evaluation alone`)
  console.log(`  reapply / select  ${ratio(reapply.ms, select.ms)}`)
  console.log(`  read / select     ${ratio(read.ms, select.ms)} (view join + Schema decode of the read path)`)
  if (reapply.value?.summary.changed !== 0) throw new Error("reapply changed something: not idempotent")
  if (summary?.failedMessages !== 0) throw new Error("apply failed for some messages")
})

psql(`CREATE DATABASE ${database}`)
try {
  const config = ConfigProvider.layer(ConfigProvider.fromUnknown(env))
  await Effect.runPromise(migrateAsOwner.pipe(Effect.provide(AppConfig.layer), Effect.provide(config)))
  await Effect.runPromise(seed10k.pipe(Effect.provide(OwnerSql)))
  await Effect.runPromise(program.pipe(Effect.provide(RulesBenchLive)))
} finally {
  psql(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`)
}
