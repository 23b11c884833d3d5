/**
 * Search latency over one user's mailbox of 100,000 messages.
 *
 *   npx tsx bench/search.ts [messages=100000] [runs=25]
 *
 * A fresh database (migrated, removed afterwards) gets `messages` generated
 * German/English messages of one user (templates per topic + a Zipf-like
 * vocabulary; ~60 % German), their offline embeddings (384 dims) and an
 * analysis row each, loaded with COPY. Then, as the API does it (app role,
 * row-level security, Search service with hydration and snippets):
 *
 *   fulltext   Search.search(mode=fulltext, limit=20) for queries from rare to very
 *              common, German and English, a phrase and an exclusion
 *   semantic   Search.search(mode=semantic, limit=20): query embedding, index freshness
 *              check, full int8 scan of 100,000 vectors, exact re-scoring, hydration, snippets
 *   hybrid     both, fused (RRF)
 *   baseline   in the same loop, right after each search: a plain indexed SELECT of the
 *              same rows (EmailStore.summaries: primary-key lookup of the returned ids with
 *              the analysis/override joins, in the user's scope)
 *
 * Printed: p50/p95 per mode and per query, beside the baseline and the ratio; the cold
 * load of the vector index; a breakdown (the GIN probe alone; the same full-text query
 * without the SECURITY DEFINER probe, i.e. bound by row-level security, which cannot use
 * the GIN index; the vector scan alone).
 */
import { ConfigProvider, Effect, Layer } from "effect"
import { SqlClient } from "effect/sql"
import { spawn } from "node:child_process"
import { normalize, packQ8, vectorLiteral } from "../src/analysis/embeddingCodec.ts"
import { embedText } from "../src/analysis/offline/embedding.ts"
import { embeddingText } from "../src/analysis/ProcessingStore.ts"
import { EmailStore } from "../src/emails/EmailStore.ts"
import { EmailsLive } from "../src/emails/EmailsLive.ts"
import { PlatformLive } from "../src/main/layers.ts"
import { seededRandom } from "../src/platform/seededRandom.ts"
import type { SearchMode } from "../src/contract/search/SearchSchemas.ts"
import { Search } from "../src/search/Search.ts"
import { VectorIndex } from "../src/search/VectorIndex.ts"
import { UserId } from "../src/contract/users/UserId.ts"
import { UserScope } from "../src/users/UserScope.ts"
import { benchEnvironment } from "./support/environment.ts"

const MESSAGES = Number(process.argv[2] ?? 100_000)
const RUNS = Number(process.argv[3] ?? 25)
const LIMIT = 20
const DIMENSION = 384
const owner = UserId.make("5ea4c400-0000-4000-8000-000000000001")

// ---------------------------------------------------------------------------
// a deterministic mailbox
// ---------------------------------------------------------------------------

const random = seededRandom(0x2545f491)
const pick = <A>(xs: ReadonlyArray<A>): A => xs[Math.floor(random() * xs.length)] as A
/** Zipf-like: low indexes much more often. */
const zipf = <A>(xs: ReadonlyArray<A>): A => xs[Math.floor(xs.length * random() ** 2.2)] as A

const fillerDe =
  "und der die das ist nicht mit auf für von wir sie ich bitte danke gerne heute morgen woche termin frage antwort info projekt team kunde angebot vertrag unterlagen anhang nachricht kollegen abteilung büro planung übersicht stand zusammenfassung rückmeldung hinweis änderung besprechung gespräch idee vorschlag ergebnis bericht zahlen daten prüfung freigabe entwurf version liste aufgabe ziel zeitplan budget kosten preis bestellung lieferung konto zugang passwort sicherheit reise hotel zug flug urlaub familie freunde wochenende geburtstag feier essen garten wetter stadt haus wohnung auto fahrrad sport verein schule kinder arzt versicherung steuer bank überweisung rechnung mahnung zahlung betrag frist".split(
    " "
  )
const fillerEn =
  "and the is not with on for from we you please thanks today tomorrow week appointment question answer info project team customer offer contract documents attachment message colleagues department office planning overview status summary feedback note change meeting call idea proposal result report numbers data review approval draft version list task goal schedule budget cost price order delivery account access password security travel hotel train flight vacation family friends weekend birthday party dinner garden weather city house apartment car bike sport club school kids doctor insurance tax bank transfer invoice reminder payment amount deadline".split(
    " "
  )
const names = ["Anna", "Ben", "Clara", "David", "Eva", "Felix", "Greta", "Hannes", "Ines", "Jonas", "Maria", "Tom"]
const companies = [
  "Stadtwerke",
  "Telekom",
  "Cloudhost",
  "Paketdienst",
  "FlyAway",
  "Bahn",
  "Acme",
  "Sparkasse",
  "Shopify",
  "GitLab"
]
const cities = ["München", "Berlin", "Hamburg", "Lisbon", "London", "Paris", "Wien", "Zürich", "Madrid", "Rome"]

interface Topic {
  readonly subjects: ReadonlyArray<(n: number) => string>
  readonly words: ReadonlyArray<string>
}
const topics: Record<"de" | "en", ReadonlyArray<Topic>> = {
  de: [
    {
      subjects: [
        (n) => `Ihre Rechnung Nr. ${n}`,
        (n) => `Zahlungserinnerung ${n}`,
        () => `Rechnung von ${pick(companies)}`
      ],
      words: ["Rechnung", "Rechnungsbetrag", "fällig", "bezahlen", "Zahlung", "Mahnung", "Betrag", "Euro", "Frist"]
    },
    {
      subjects: [
        (n) => `Ihre Lieferung ${n} ist unterwegs`,
        () => "Versandbestätigung",
        () => `Paket von ${pick(companies)}`
      ],
      words: ["Lieferung", "Paket", "zugestellt", "Sendungsverfolgung", "Bestellung", "Versand"]
    },
    {
      subjects: [
        () => `Besprechung am ${pick(["Montag", "Dienstag", "Donnerstag"])}`,
        () => "Termin verschieben?",
        () => `Protokoll der Teamsitzung`
      ],
      words: ["Besprechung", "Termin", "Sitzung", "Protokoll", "Agenda", "verschieben", "Raum"]
    },
    {
      subjects: [
        () => `Zugverbindung nach ${pick(cities)}`,
        () => `Ihre Reise nach ${pick(cities)}`,
        () => "Hotelbuchung bestätigt"
      ],
      words: ["Reise", "Fahrkarte", "Zug", "Hotel", "Buchung", "Abfahrt", "Gleis"]
    },
    {
      subjects: [() => "Sicherheitshinweis zu Ihrem Konto", () => "Neue Anmeldung erkannt", () => "Passwort geändert"],
      words: ["Anmeldung", "Sicherheit", "Passwort", "Konto", "Gerät", "Code"]
    },
    {
      subjects: [
        () => `Newsletter ${pick(["März", "April", "Mai"])}`,
        () => "Angebote der Woche",
        () => "Neuigkeiten für Sie"
      ],
      words: ["Newsletter", "Angebot", "Rabatt", "abmelden", "Neuigkeiten", "Aktion"]
    },
    {
      subjects: [() => `Grüße von ${pick(names)}`, () => "Wochenende?", () => `Geburtstag von ${pick(names)}`],
      words: ["Wochenende", "Familie", "Geburtstag", "Feier", "Essen", "Grüße"]
    },
    {
      subjects: [(n) => `Wochenbericht ${n}`, () => "Statusbericht Projekt", () => "Zahlen des Quartals"],
      words: ["Bericht", "Status", "Quartal", "Zahlen", "Umsatz", "Projekt", "Budget"]
    }
  ],
  en: [
    {
      subjects: [
        (n) => `Invoice #${n}`,
        () => `Payment reminder from ${pick(companies)}`,
        () => "Your invoice is ready"
      ],
      words: ["invoice", "payment", "due", "amount", "overdue", "billing", "receipt"]
    },
    {
      subjects: [(n) => `Your order ${n} has shipped`, () => "Delivery update", () => "Your parcel is on its way"],
      words: ["order", "shipped", "delivery", "parcel", "tracking", "courier"]
    },
    {
      subjects: [
        () => "Budget planning meeting for the quarterly review",
        () => "Can we move tomorrow's meeting?",
        () => "Meeting notes"
      ],
      words: ["meeting", "agenda", "quarterly", "budget", "review", "notes", "schedule"]
    },
    {
      subjects: [
        () => `Your flight to ${pick(cities)} is confirmed`,
        () => "Hotel booking confirmation",
        () => "Trip itinerary"
      ],
      words: ["flight", "booking", "hotel", "itinerary", "departure", "gate", "boarding"]
    },
    {
      subjects: [() => "Security alert for your account", () => "New sign-in detected", () => "Password changed"],
      words: ["security", "sign-in", "password", "device", "verification", "code"]
    },
    {
      subjects: [() => "Weekly newsletter", () => "Deals of the week", () => "What's new this month"],
      words: ["newsletter", "deals", "discount", "unsubscribe", "news", "offer"]
    },
    {
      subjects: [() => `Hi from ${pick(names)}`, () => "Dinner on Saturday?", () => "Photos from the weekend"],
      words: ["weekend", "dinner", "family", "photos", "birthday", "party"]
    },
    {
      subjects: [(n) => `Weekly status report ${n}`, () => "Project status", () => "Quarterly numbers"],
      words: ["report", "status", "quarter", "numbers", "revenue", "project", "milestone"]
    }
  ]
}

interface Generated {
  readonly id: string
  readonly subject: string
  readonly fromName: string
  readonly fromAddress: string
  readonly body: string
  readonly date: Date
  readonly language: "de" | "en"
  readonly category: string
}
const categoryOf = ["finance", "shopping", "work", "travel", "security", "newsletter", "personal", "work"]

const generate = (i: number): Generated => {
  const language = random() < 0.6 ? "de" : "en"
  const topicIndex = Math.floor(random() * 8)
  const topic = topics[language][topicIndex] as Topic
  const filler = language === "de" ? fillerDe : fillerEn
  const sentences: Array<string> = []
  const count = 3 + Math.floor(random() * 10)
  for (let s = 0; s < count; s++) {
    const words: Array<string> = []
    const length = 6 + Math.floor(random() * 10)
    for (let w = 0; w < length; w++) words.push(random() < 0.25 ? pick(topic.words) : zipf(filler))
    if (random() < 0.2) words.push(pick(names), pick(cities))
    sentences.push(`${words.join(" ")}.`)
  }
  // a rare, unique-ish reference in about 1 in 10,000 messages
  if (i % 10_007 === 0) sentences.push("Referenz XK4711ZQ")
  const company = pick(companies)
  return {
    id: crypto.randomUUID(),
    subject: pick(topic.subjects)(1000 + Math.floor(random() * 90_000)),
    fromName: random() < 0.5 ? pick(names) : company,
    fromAddress: `${pick(["info", "noreply", "team", "kontakt"])}@${company.toLowerCase()}.example`,
    body: `${language === "de" ? "Hallo" : "Hello"} ${pick(names)},\n\n${sentences.join(" ")}\n\n${pick(names)}`,
    date: new Date(Date.UTC(2022, 0, 1) + Math.floor(random() * 4 * 365 * 86_400_000)),
    language,
    category: categoryOf[topicIndex] ?? "other"
  }
}

// ---------------------------------------------------------------------------
// COPY through psql
// ---------------------------------------------------------------------------

const copyField = (value: string | null): string =>
  value === null
    ? "\\N"
    : value.replaceAll("\\", "\\\\").replaceAll("\t", "\\t").replaceAll("\n", "\\n").replaceAll("\r", "\\r")

const copyInto = (databaseUrl: string, target: string, rows: Iterable<ReadonlyArray<string | null>>) =>
  Effect.promise(
    () =>
      new Promise<void>((resolve, reject) => {
        const child = spawn("psql", [databaseUrl, "-v", "ON_ERROR_STOP=1", "-qc", `\\copy ${target} FROM STDIN`], {
          stdio: ["pipe", "inherit", "inherit"]
        })
        child.on("error", reject)
        child.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`COPY ${target} failed (${code})`))))
        const iterator = rows[Symbol.iterator]()
        const pump = () => {
          while (true) {
            let chunk = ""
            for (let n = 0; n < 500; n++) {
              const next = iterator.next()
              if (next.done === true) {
                child.stdin.end(chunk)
                return
              }
              chunk += `${next.value.map(copyField).join("\t")}\n`
            }
            if (!child.stdin.write(chunk)) {
              child.stdin.once("drain", pump)
              return
            }
          }
        }
        pump()
      })
  )

// ---------------------------------------------------------------------------
// measurement
// ---------------------------------------------------------------------------

const percentile = (xs: ReadonlyArray<number>, p: number): number => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] ?? Number.NaN
}
const ms = (x: number) => `${x.toFixed(1)} ms`.padStart(10)

const timed = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function* () {
    const t0 = performance.now()
    const value = yield* effect
    return { value, ms: performance.now() - t0 }
  })

const fulltextQueries = [
  "XK4711ZQ", // ~10 messages
  "Hotelbuchung bestätigt",
  "Rechnungen", // German stemming, common
  "invoices overdue",
  '"quarterly review"',
  "Lieferung -Paket",
  "meeting", // very common
  "Besprechung Termin verschieben"
]
const semanticQueries = [
  "when is my invoice due for payment",
  "Rechnung bezahlen bis Ende des Monats",
  "plan the quarterly budget review meeting",
  "Zugfahrt nach München buchen",
  "someone signed in to my account from a new device",
  "photos from the birthday party at the weekend"
]

const main = Effect.gen(function* () {
  const bench = yield* benchEnvironment("search")
  const setup = performance.now()
  bench.psql(`INSERT INTO users (id, email, password_hash) VALUES ('${owner}', 'bench@search.invalid', '!')`)
  const accountId = bench.psql(`
    INSERT INTO mail_accounts (user_id, label, host, port, security, username, password_sealed)
    VALUES ('${owner}', 'Bench', 'imap.example.test', 993, 'tls', 'bench', 'sealed') RETURNING id`)
  const mailboxId = bench.psql(`
    INSERT INTO mailboxes (user_id, account_id, path, name, special_use, uid_validity)
    VALUES ('${owner}', '${accountId}', 'INBOX', 'INBOX', 'inbox', 1) RETURNING id`)

  const messages: Array<Generated> = []
  for (let i = 0; i < MESSAGES; i++) messages.push(generate(i))
  // stored in arrival order, as a sync stores them (UIDs ascend with arrival)
  messages.sort((a, b) => a.date.getTime() - b.date.getTime())
  const generatedAt = performance.now()

  yield* copyInto(
    bench.databaseUrl,
    "emails (id, user_id, account_id, mailbox_id, uid_validity, uid, message_id, thread_id, subject, from_name, from_address, sent_at, size, text_body, analysis_state, embedding_state)",
    messages.map((m, i) => [
      m.id,
      owner,
      accountId,
      mailboxId,
      "1",
      String(i + 1),
      `<${m.id}@bench.example>`,
      `t-${Math.floor(i / 3)}`,
      m.subject,
      m.fromName,
      m.fromAddress,
      m.date.toISOString(),
      String(m.body.length),
      m.body,
      "analysed",
      "embedded"
    ])
  )
  const emailsAt = performance.now()
  yield* copyInto(
    bench.databaseUrl,
    "email_analysis (email_id, user_id, urgency, importance, category, spam, summary, tags, language, provider, model, confidence)",
    messages.map((m) => [
      m.id,
      owner,
      String(1 + Math.floor(random() * 3)),
      String(1 + Math.floor(random() * 3)),
      m.category,
      "f",
      m.body.slice(0, 120),
      "{}",
      m.language,
      "offline",
      "offline-rules-v1",
      "0.7"
    ])
  )
  const model = `offline-hash-v1-${DIMENSION}`
  function* embeddingRows() {
    for (const m of messages) {
      const unit = normalize(embedText(embeddingText(m.subject, m.fromName, m.body, 8_000), DIMENSION))
      yield [
        m.id,
        owner,
        model,
        String(DIMENSION),
        vectorLiteral(unit),
        `\\x${Buffer.from(packQ8(unit)).toString("hex")}`
      ]
    }
  }
  yield* copyInto(bench.databaseUrl, "embeddings (email_id, user_id, model, dimension, vector, q8)", embeddingRows())
  bench.psql("VACUUM ANALYZE emails")
  bench.psql("VACUUM ANALYZE email_analysis")
  bench.psql("VACUUM ANALYZE embeddings")
  const loadedAt = performance.now()
  const size = bench.psql("SELECT pg_size_pretty(pg_database_size(current_database()))")
  console.log(
    `search benchmark: ${MESSAGES.toLocaleString("en")} messages of one user, ${RUNS} runs per query, limit ${LIMIT}, ` +
      `node ${globalThis.process.version}, PostgreSQL ${bench.psql("SHOW server_version")}`
  )
  console.log(
    `setup: generate ${((generatedAt - setup) / 1000).toFixed(1)} s, COPY emails ${((emailsAt - generatedAt) / 1000).toFixed(1)} s, ` +
      `analysis + embeddings + VACUUM ${((loadedAt - emailsAt) / 1000).toFixed(1)} s; database ${size}`
  )

  const services = EmailsLive.pipe(
    Layer.provideMerge(PlatformLive),
    Layer.provide(ConfigProvider.layer(ConfigProvider.fromUnknown(bench.env)))
  )
  yield* Effect.gen(function* () {
    const search = yield* Search
    const emails = yield* EmailStore
    const index = yield* VectorIndex
    const sql = yield* SqlClient.SqlClient
    const scope = yield* UserScope

    const cold = yield* timed(search.search(owner, semanticQueries[0] ?? "", "semantic", LIMIT))
    const stats = yield* index.stats
    console.log(
      `vector index cold load + first query: ${cold.ms.toFixed(0)} ms for ${stats.vectors.toLocaleString("en")} vectors ` +
        `(${(stats.bytes / 1024 / 1024).toFixed(1)} MB in memory)\n`
    )

    const runMode = (mode: SearchMode, queries: ReadonlyArray<string>) =>
      Effect.gen(function* () {
        const all: Array<number> = []
        const allBase: Array<number> = []
        console.log(`${mode}`)
        console.log(
          `  ${"query".padEnd(44)} ${"hits".padStart(5)} ${"p50".padStart(10)} ${"p95".padStart(10)} ${"base p50".padStart(10)} ${"base p95".padStart(10)}`
        )
        for (const q of queries) {
          yield* search.search(owner, q, mode, LIMIT) // warm-up
          const times: Array<number> = []
          const base: Array<number> = []
          let hits = 0
          for (let r = 0; r < RUNS; r++) {
            const result = yield* timed(search.search(owner, q, mode, LIMIT))
            hits = result.value.items.length
            times.push(result.ms)
            const ids = result.value.items.map((hit) => hit.email.id)
            const plain = yield* timed(emails.summaries(owner, ids))
            base.push(plain.ms)
          }
          all.push(...times)
          allBase.push(...base)
          console.log(
            `  ${q.padEnd(44)} ${String(hits).padStart(5)} ${ms(percentile(times, 50))} ${ms(percentile(times, 95))} ${ms(percentile(base, 50))} ${ms(percentile(base, 95))}`
          )
        }
        const p50 = percentile(all, 50)
        const p95 = percentile(all, 95)
        const b50 = percentile(allBase, 50)
        const b95 = percentile(allBase, 95)
        console.log(
          `  ${"ALL".padEnd(44)} ${"".padStart(5)} ${ms(p50)} ${ms(p95)} ${ms(b50)} ${ms(b95)}   ratio p50 ${(p50 / b50).toFixed(1)}x, p95 ${(p95 / b95).toFixed(1)}x; p95 < 100 ms: ${p95 < 100 ? "yes" : "NO"}\n`
        )
        return { p50, p95, b50, b95 }
      })

    const fulltext = yield* runMode("fulltext", fulltextQueries)
    const semantic = yield* runMode("semantic", semanticQueries)
    const hybrid = yield* runMode("hybrid", [...semanticQueries.slice(0, 3), ...fulltextQueries.slice(2, 5)])

    // similar: a whole message as the query (a dense vector: every dimension is scanned)
    const similarTimes: Array<number> = []
    const similarBase: Array<number> = []
    for (let r = 0; r < RUNS * 2; r++) {
      const id = messages[(r * 7_919) % messages.length]?.id ?? ""
      const result = yield* timed(search.similar(owner, id, LIMIT))
      similarTimes.push(result.ms)
      similarBase.push(
        (yield* timed(
          emails.summaries(
            owner,
            result.value.items.map((hit) => hit.email.id)
          )
        )).ms
      )
    }
    console.log(
      `similar (GET /emails/:id/similar, ${RUNS * 2} messages)  p50 ${ms(percentile(similarTimes, 50))}  p95 ${ms(percentile(similarTimes, 95))}` +
        `   baseline p50 ${ms(percentile(similarBase, 50))}  p95 ${ms(percentile(similarBase, 95))}\n`
    )

    // breakdown
    const tsq = (q: string) =>
      sql`(websearch_to_tsquery('english', ${q}) || websearch_to_tsquery('german', ${q}) || websearch_to_tsquery('simple', ${q}))`
    const probe = (q: string) => scope.run(owner, sql`SELECT email_id FROM app_fulltext_search(${tsq(q)}, ${LIMIT})`)
    const rlsBound = (q: string) =>
      scope.run(
        owner,
        sql`SELECT id, ts_rank_cd(search_vector, ${tsq(q)}, 1) AS rank FROM emails
            WHERE search_vector @@ ${tsq(q)} ORDER BY rank DESC, mail_date DESC LIMIT ${LIMIT}`
      )
    const breakdown = (
      name: string,
      f: (q: string) => Effect.Effect<unknown, unknown>,
      queries: ReadonlyArray<string>
    ) =>
      Effect.gen(function* () {
        const times: Array<number> = []
        for (const q of queries) {
          yield* f(q)
          for (let r = 0; r < Math.max(3, Math.floor(RUNS / 3)); r++) times.push((yield* timed(f(q))).ms)
        }
        console.log(`  ${name.padEnd(62)} p50 ${ms(percentile(times, 50))}  p95 ${ms(percentile(times, 95))}`)
      })
    console.log("breakdown")
    yield* breakdown("GIN probe alone (app_fulltext_search, SECURITY DEFINER)", probe, fulltextQueries)
    yield* breakdown("same query bound by RLS (no GIN: scans the user's rows)", rlsBound, [
      "XK4711ZQ",
      "Rechnungen",
      "meeting"
    ])
    const vector = normalize(embedText(semanticQueries[2] ?? "", DIMENSION))
    yield* breakdown(
      "vector index, short query (sparse): check + scan of all vectors",
      () => index.nearest(owner, model, vector, 40),
      ["x"]
    )
    const sample = messages[0]
    const whole = normalize(
      embedText(embeddingText(sample?.subject ?? "", sample?.fromName ?? "", sample?.body ?? "", 8_000), DIMENSION)
    )
    yield* breakdown(
      "vector index, a message as query (dense): check + scan",
      () => index.nearest(owner, model, whole, 40),
      ["x"]
    )

    console.log(
      `\nsummary: fulltext p50 ${fulltext.p50.toFixed(1)} / p95 ${fulltext.p95.toFixed(1)} ms (baseline ${fulltext.b50.toFixed(1)} / ${fulltext.b95.toFixed(1)}), ` +
        `semantic p50 ${semantic.p50.toFixed(1)} / p95 ${semantic.p95.toFixed(1)} ms (baseline ${semantic.b50.toFixed(1)} / ${semantic.b95.toFixed(1)}), ` +
        `hybrid p50 ${hybrid.p50.toFixed(1)} / p95 ${hybrid.p95.toFixed(1)} ms`
    )
  }).pipe(Effect.provide(services), Effect.orDie)
})

Effect.runPromise(Effect.scoped(main)).catch((error) => {
  console.error(error)
  globalThis.process.exitCode = 1
})
