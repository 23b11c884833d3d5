/**
 * `import ki-mail-helper` end to end: an old installation written by the generator (SQLite and
 * PostgreSQL, encrypted like the old system), imported into a real database, the account synced from
 * a real Dovecot; then the imported rules decide on the synced mail as the old rules did, the
 * corrections sit on their messages, and a second run imports nothing. Failures (wrong password,
 * truncated file, unknown schema version, unknown users) write nothing.
 */
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import { DatabaseSync } from "node:sqlite"
import * as os from "node:os"
import * as path from "node:path"
import { assert, layer } from "@effect/vitest"
import { InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base"
import { Effect, Exit, Layer, Redacted, Schedule, Schema, Stream } from "effect"
import { AccountStore } from "../../src/accounts/AccountStore.ts"
import { ImportLive } from "../../src/import/ImportLive.ts"
import { countsOf, formatReport, type ImportReport, runImport } from "../../src/import/Importer.ts"
import { knownSchemaVersionsFor, parseSource } from "../../src/import/OldStore.ts"
import { compileRuleResult, matchesRule, type RuleSubject } from "../../src/rules/evaluate.ts"
import { RuleStore } from "../../src/rules/RuleStore.ts"
import { tracingWith } from "../../src/platform/Telemetry.ts"
import { UserId } from "../../src/contract/users/UserId.ts"
import { Dovecot } from "../harness/dovecot.ts"
import { baseUrl } from "../harness/http.ts"
import { adminSql, serverUrl } from "../harness/postgres.ts"
import { capturedLogs, Env, expectSucceeded, OwnerDb, ownerQuery, syncNow, syncTestLayer } from "../sync/support.ts"
import { EventBus } from "../../src/events/EventBus.ts"
import { eventually } from "../events/sseClient.ts"
import { ensureTestUser } from "../users/fixtures.ts"
import {
  IMAP_PASSWORD,
  IMAP_USER,
  installation,
  MASTER_PASSWORD,
  mappableRules,
  POSTGRES_SCHEMA_VERSION,
  messages,
  oldDecision,
  rawMessage,
  unmappableRules
} from "./fixture.ts"
import { writePostgres, writeSqlite } from "./oldInstallation.ts"

/** Every span of the test process, to check that no secret lands in one. */
const exporter = new InMemorySpanExporter()

const TestLayer = ImportLive.pipe(
  Layer.provideMerge(syncTestLayer({ worker: true, dovecot: { users: [{ user: IMAP_USER, pass: IMAP_PASSWORD }] } })),
  Layer.provideMerge(tracingWith(new SimpleSpanProcessor(exporter), { serviceName: "mail-helper-import-test" }))
)

const anna = UserId.make("a7777777-7777-4777-8777-777777777771")
const bert = UserId.make("a7777777-7777-4777-8777-777777777772")
const emailOf = (id: UserId) => `${id}@test.invalid`

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "mh-import-"))

const importFrom = (from: string, user: UserId | string, options?: { password?: string; dryRun?: boolean }) =>
  runImport({
    source: parseSource(from),
    email: typeof user === "string" && user.includes("@") ? user : emailOf(UserId.make(user)),
    masterPassword: Redacted.make(options?.password ?? MASTER_PASSWORD),
    dryRun: options?.dryRun ?? false
  })

const Count = Schema.Struct({ n: Schema.Number })

/** Waits until the user has no unfinished job, seen twice 200 ms apart (a job ending may queue the next). */
const followUpsEnded = (owner: UserId) =>
  ownerQuery(
    Count,
    (sql) =>
      sql`SELECT count(*)::int AS n FROM jobs WHERE user_id = ${owner} AND state IN ('queued', 'running', 'retrying')`
  ).pipe(
    Effect.flatMap(([row]) => ((row?.n ?? 1) === 0 ? Effect.void : Effect.fail(`${row?.n} unfinished jobs`))),
    Effect.andThen(Effect.sleep("200 millis")),
    Effect.andThen(
      ownerQuery(
        Count,
        (sql) =>
          sql`SELECT count(*)::int AS n FROM jobs WHERE user_id = ${owner} AND state IN ('queued', 'running', 'retrying')`
      )
    ),
    Effect.flatMap(([row]) => ((row?.n ?? 1) === 0 ? Effect.void : Effect.fail(`${row?.n} unfinished jobs`))),
    Effect.retry(Schedule.spaced("100 millis").pipe(Schedule.upTo({ times: 600 }))),
    Effect.orDie
  )
/** Rows an import may write, per table, seen by the owner (no row-level security). */
const footprint = (owner: UserId) =>
  Effect.gen(function* () {
    const out: Record<string, number> = {}
    for (const table of ["mail_accounts", "rules", "import_items", "import_pending_corrections", "email_overrides"]) {
      const [row] = yield* ownerQuery(
        Count,
        (sql) => sql`SELECT count(*)::int AS n FROM ${sql(table)} WHERE user_id = ${owner}`
      )
      out[table] = row?.n ?? -1
    }
    return out
  })

const counts = (report: ImportReport) => ({
  account: countsOf(report, "account"),
  rule: countsOf(report, "rule"),
  correction: countsOf(report, "correction"),
  tag: countsOf(report, "tag"),
  trustedSender: countsOf(report, "trustedSender")
})

layer(TestLayer, { excludeTestServices: true, timeout: "240 seconds" })("import ki-mail-helper", (it) => {
  it.effect("SQLite: dry run, import, sync, same rule decisions, corrections applied, re-run imports nothing", () =>
    Effect.gen(function* () {
      const server = yield* Dovecot
      const base = yield* baseUrl
      yield* ensureTestUser(anna)
      yield* Effect.promise(() =>
        server.seedMaildir(
          IMAP_USER,
          "INBOX",
          messages.map((m, i) => ({ raw: rawMessage(m, i) }))
        )
      )
      const file = path.join(tmp, "emails.db")
      writeSqlite(file, installation(emailOf(anna), server.host, server.port))

      // the owner's events from here on: the import announces the account it creates, the dry run nothing
      // (the subscription GET /api/v1/events streams; this file's API has no events route)
      const heard: Array<string> = []
      const subscription = yield* (yield* EventBus).subscribe(anna, {
        lastEventId: undefined,
        types: new Set(["account.changed"])
      })
      yield* subscription.pipe(
        Stream.runForEach((message) =>
          Effect.sync(() => heard.push(message._tag === "event" ? message.data : "reset"))
        ),
        Effect.forkScoped
      )
      // dry run: the full report, nothing written
      const before = yield* footprint(anna)
      const dry = yield* importFrom(file, anna, { dryRun: true })
      assert.deepStrictEqual(yield* footprint(anna), before)
      const expectedCounts = {
        account: { imported: 1, skipped: 0, unmapped: 1 },
        rule: { imported: mappableRules.length, skipped: 0, unmapped: unmappableRules.length },
        // 101 and 102 import; 103 has no correction (one "skipped" line); 104's account is not imported
        correction: { imported: 2, skipped: 1, unmapped: 1 },
        tag: { imported: 2, skipped: 0, unmapped: 1 },
        trustedSender: { imported: 0, skipped: 0, unmapped: 2 }
      }
      assert.deepStrictEqual(counts(dry), expectedCounts)
      const dryText = formatReport(dry)
      assert.include(dryText, "DRY RUN")
      for (const rule of unmappableRules) {
        const item = dry.items.find((i) => i.kind === "rule" && i.source.startsWith(`rule ${rule.id} `))
        assert.strictEqual(item?.outcome, "unmapped", rule.name)
        assert.match(item?.details.join("\n") ?? "", rule.expected, rule.name)
      }

      // the import
      const report = yield* importFrom(file, anna)
      assert.deepStrictEqual(counts(report), expectedCounts)
      const text = formatReport(report)
      for (const secret of [MASTER_PASSWORD, IMAP_PASSWORD, "oauth-token-value"]) {
        assert.notInclude(text, secret)
        assert.isFalse(
          capturedLogs.some((line) => line.includes(secret)),
          "a secret reached the logs"
        )
      }

      // the account: host, user, and the password re-sealed under our keyring
      const store = yield* AccountStore
      const [account, ...others] = yield* store.list(anna)
      assert.strictEqual(others.length, 0)
      assert.isDefined(account)
      if (account === undefined) return
      assert.strictEqual(account.label, "Büro ✉")
      assert.strictEqual(account.username, IMAP_USER)
      // the old system had no per-account interval
      assert.strictEqual(account.syncIntervalMinutes, 15)
      assert.notInclude(account.passwordSealed, IMAP_PASSWORD)
      assert.strictEqual(Redacted.value(yield* store.password(account)), IMAP_PASSWORD)
      yield* eventually("account.changed (created) of the imported account", () =>
        heard.some((data) => data.includes(`"accountId":"${account.id}"`) && data.includes(`"change":"created"`))
      )
      assert.lengthOf(
        heard.filter((data) => data.includes(`"change":"created"`)),
        1,
        "one created event: the dry run announced nothing"
      )

      // the rules, in the old order
      const rules = yield* (yield* RuleStore).list(anna)
      assert.deepStrictEqual(
        rules.map((r) => r.input.name),
        mappableRules.map((r) => r.name)
      )
      assert.deepStrictEqual(
        rules.map((r) => r.input.enabled),
        mappableRules.map((r) => r.active)
      )
      const chefin = rules[1]?.input
      assert.strictEqual(chefin?.stopProcessing, true)
      assert.deepStrictEqual(chefin?.actions, [{ type: "setPriority", urgency: 3, importance: 3 }, { type: "flag" }])
      assert.deepStrictEqual(rules[3]?.input.actions, [{ type: "delete" }])

      // the sync brings the mail back; the after-sync hook applies the waiting corrections
      const job = yield* syncNow(base, anna, account.id)
      expectSucceeded(job)
      // the sync's follow-ups (analysis, then the imported rules on the new mail, which may set a
      // priority) run after it: what follows reads their outcome, so wait until they have ended
      yield* followUpsEnded(anna)

      const Stored = Schema.Struct({
        uid: Schema.Number,
        message_id: Schema.NullOr(Schema.String),
        from_name: Schema.NullOr(Schema.String),
        from_address: Schema.NullOr(Schema.String),
        subject: Schema.NullOr(Schema.String),
        text_body: Schema.NullOr(Schema.String),
        has_attachments: Schema.Boolean,
        urgency: Schema.NullOr(Schema.Number),
        importance: Schema.NullOr(Schema.Number),
        category: Schema.NullOr(Schema.String),
        tags: Schema.Array(Schema.String)
      })
      const stored = yield* ownerQuery(
        Stored,
        (sql) => sql`
          SELECT e.uid::int AS uid, e.message_id, e.from_name, e.from_address, e.subject, e.text_body,
            e.has_attachments, f.urgency, f.importance, f.category, f.tags
          FROM emails e JOIN email_effective f ON f.email_id = e.id
          WHERE e.user_id = ${anna} ORDER BY e.uid`
      )
      assert.strictEqual(stored.length, messages.length)

      // old rule -> new rule -> the same decision on every fixture message (the table)
      const table: Array<string> = []
      for (const old of mappableRules) {
        const imported = rules.find((r) => r.input.name === old.name)
        assert.isDefined(imported, old.name)
        if (imported === undefined) continue
        const compiled = compileRuleResult(imported.input)
        assert.isTrue(compiled._tag === "Success", old.name)
        if (compiled._tag !== "Success") continue
        for (const m of messages) {
          // by Message-ID: the imported rules also run on the new mail and may have moved it
          const row = stored.find((r) => r.message_id === m.messageId)
          assert.isDefined(row, m.messageId)
          if (row === undefined) continue
          const subject: RuleSubject = {
            from: row.from_address === null ? null : { name: row.from_name ?? "", address: row.from_address },
            to: [],
            cc: [],
            subject: row.subject ?? "",
            bodyText: row.text_body ?? "",
            hasAttachment: row.has_attachments,
            mailbox: "INBOX",
            category: null,
            urgency: null,
            importance: null,
            score: null,
            spam: null,
            tags: [],
            flags: { seen: false, flagged: false }
          }
          const before = oldDecision(old, m)
          const after = matchesRule(compiled.success, subject)
          table.push(`${old.name} | ${m.messageId} | old ${before} | new ${after}`)
          assert.strictEqual(after, before, `${old.name} on ${m.messageId}`)
        }
      }
      // every rule matches something, so the table is not all "false = false"
      for (const old of mappableRules) {
        assert.isTrue(
          messages.some((m) => oldDecision(old, m)),
          `${old.name} matches no fixture message`
        )
      }

      // corrections: by Message-ID (m1) and by folder + UID (UID 4); the category without an equivalent is not kept
      const m1 = stored.find((r) => r.message_id === "<m1@shop.example>")
      // (the imported rule "Rechnungen" matches m1 too and adds its tag, as the old system's rule did)
      assert.deepStrictEqual(
        { urgency: m1?.urgency, importance: m1?.importance, tags: [...(m1?.tags ?? [])].sort() },
        { urgency: 3, importance: 1, tags: ["Rechnungen", "wichtig für steuer"] }
      )
      // the old category "dringend" has no equivalent: reported, left out
      assert.notStrictEqual(m1?.category, "dringend")
      // the correction without Message-ID was found by INBOX + UID 4
      const m4 = stored.find((r) => r.message_id === "<m4@friend.example>")
      assert.strictEqual(m4?.importance, 3)
      assert.deepStrictEqual(m4?.tags, ["ärger"])
      assert.notStrictEqual(m4?.category, "aktion_erforderlich")
      const [waiting] = yield* ownerQuery(
        Count,
        (sql) =>
          sql`SELECT count(*)::int AS n FROM import_pending_corrections WHERE user_id = ${anna} AND applied_at IS NULL`
      )
      assert.strictEqual(waiting?.n, 0)

      // spans: the import's are there, and no secret is in any span's name, attributes or events
      const spans = exporter.getFinishedSpans()
      assert.isTrue(
        spans.some((span) => span.name === "import.run"),
        `spans: ${[...new Set(spans.map((span) => span.name))].join(", ")}`
      )
      const spanText = JSON.stringify(
        spans.map((span) => ({ name: span.name, attributes: span.attributes, events: span.events }))
      )
      for (const secret of [MASTER_PASSWORD, IMAP_PASSWORD, "oauth-token-value"]) assert.notInclude(spanText, secret)

      // a correction made here afterwards wins over the imported one
      const owner = yield* OwnerDb
      yield* owner`UPDATE email_overrides SET urgency = 1 WHERE user_id = ${anna} AND urgency = 3`

      // second run: nothing twice
      const afterFirst = yield* footprint(anna)
      const again = yield* importFrom(file, anna)
      assert.deepStrictEqual(yield* footprint(anna), afterFirst)
      assert.deepStrictEqual(counts(again), {
        account: { imported: 0, skipped: 1, unmapped: 1 },
        rule: { imported: 0, skipped: mappableRules.length, unmapped: unmappableRules.length },
        correction: { imported: 0, skipped: 3, unmapped: 1 },
        tag: { imported: 0, skipped: 2, unmapped: 1 },
        trustedSender: { imported: 0, skipped: 0, unmapped: 2 }
      })
      const [kept] = yield* ownerQuery(
        Count,
        (sql) => sql`SELECT count(*)::int AS n FROM email_overrides WHERE user_id = ${anna} AND urgency = 1`
      )
      assert.isAtLeast(kept?.n ?? 0, 1)
    }).pipe(Effect.scoped)
  )

  it.effect("PostgreSQL source: the same import, only the named user's rows", () =>
    Effect.gen(function* () {
      yield* ensureTestUser(bert)
      const name = `mh_old_${process.pid}_${Math.random().toString(36).slice(2, 8)}`
      yield* Effect.acquireRelease(
        Effect.promise(() => adminSql(`CREATE DATABASE ${name}`)),
        () => Effect.promise(() => adminSql(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`))
      )
      writePostgres(serverUrl(name), installation(emailOf(bert), "imap.example.org", 143, POSTGRES_SCHEMA_VERSION))
      const report = yield* importFrom(serverUrl(name), bert)
      assert.strictEqual(countsOf(report, "account").imported, 1)
      assert.strictEqual(countsOf(report, "rule").imported, mappableRules.length)
      assert.notInclude(formatReport(report), "fremde Regel")
      const rules = yield* (yield* RuleStore).list(bert)
      assert.isFalse(rules.some((r) => r.input.name === "fremde Regel"))
      const again = yield* importFrom(serverUrl(name), bert)
      assert.strictEqual(countsOf(again, "rule").imported, 0)
      assert.strictEqual(countsOf(again, "rule").skipped, mappableRules.length)
    }).pipe(Effect.scoped)
  )

  it.effect("an older SQLite file: the pre-DEK master key, no user_override_* columns", () =>
    Effect.gen(function* () {
      const erik = UserId.make("a7777777-7777-4777-8777-777777777775")
      yield* ensureTestUser(erik)
      const file = path.join(tmp, "erik.db")
      writeSqlite(
        file,
        installation(emailOf(erik), "imap.example.org", 143, "ph18_trusted_senders", {
          keyFormat: "masterKey",
          withoutOverrideColumns: true
        })
      )
      const wrong = yield* Effect.flip(importFrom(file, erik, { password: "not-the-master-password" }))
      assert.strictEqual(wrong._tag, "WrongMasterPassword")
      const report = yield* importFrom(file, erik)
      assert.strictEqual(countsOf(report, "account").imported, 1)
      assert.strictEqual(countsOf(report, "rule").imported, mappableRules.length)
      // without the override columns only the tags are corrections (101 and 102 carry one each)
      assert.strictEqual(countsOf(report, "correction").imported, 2)
      const store = yield* AccountStore
      const account = (yield* store.list(erik))[0]
      assert.isDefined(account)
      if (account !== undefined) assert.strictEqual(Redacted.value(yield* store.password(account)), IMAP_PASSWORD)
    })
  )

  it.effect(
    "refuses with a clear error and writes nothing: wrong password, truncated file, unknown version, users",
    () =>
      Effect.gen(function* () {
        const carl = UserId.make("a7777777-7777-4777-8777-777777777773")
        yield* ensureTestUser(carl)
        const file = path.join(tmp, "carl.db")
        writeSqlite(file, installation(emailOf(carl), "imap.example.org", 143))
        const before = yield* footprint(carl)

        const failure = <A, E extends { readonly _tag: string; readonly message: string }, R>(
          effect: Effect.Effect<A, E, R>
        ) =>
          Effect.gen(function* () {
            const exit = yield* Effect.exit(effect)
            if (Exit.isSuccess(exit)) return assert.fail("the import should have failed")
            const error = exit.cause.reasons.find((r) => r._tag === "Fail")
            if (error === undefined || error._tag !== "Fail") return assert.fail("expected a typed failure")
            return error.error
          })

        const wrong = yield* failure(importFrom(file, carl, { password: "not-the-master-password" }))
        assert.strictEqual(wrong._tag, "WrongMasterPassword")
        assert.match(wrong.message, /wrong master password/)
        assert.notInclude(wrong.message, "not-the-master-password")

        const truncatedFile = path.join(tmp, "truncated.db")
        const bytes = fs.readFileSync(file)
        fs.writeFileSync(truncatedFile, bytes.subarray(0, Math.floor(bytes.length / 2)))
        const truncated = yield* failure(importFrom(truncatedFile, carl))
        assert.strictEqual(truncated._tag, "ImportSourceUnreadable")
        assert.include(truncated.message, truncatedFile)

        const notADatabase = path.join(tmp, "notes.txt")
        fs.writeFileSync(notADatabase, "hello, this is not SQLite ".repeat(100))
        assert.strictEqual((yield* failure(importFrom(notADatabase, carl)))._tag, "ImportSourceUnreadable")
        assert.strictEqual(
          (yield* failure(importFrom(path.join(tmp, "missing.db"), carl)))._tag,
          "ImportSourceUnreadable"
        )

        const futureFile = path.join(tmp, "future.db")
        writeSqlite(futureFile, installation(emailOf(carl), "imap.example.org", 143, "zz_from_the_future"))
        const future = yield* failure(importFrom(futureFile, carl))
        assert.strictEqual(future._tag, "UnknownSchemaVersion")
        assert.include(future.message, "zz_from_the_future")
        for (const known of knownSchemaVersionsFor("sqlite")) assert.include(future.message, known)

        // the PostgreSQL chain's head id also names an early SQLite revision (before the data key)
        const collidingFile = path.join(tmp, "colliding.db")
        writeSqlite(collidingFile, installation(emailOf(carl), "imap.example.org", 143, POSTGRES_SCHEMA_VERSION))
        assert.strictEqual((yield* failure(importFrom(collidingFile, carl)))._tag, "UnknownSchemaVersion")

        // tables made by create_all alone: no alembic_version
        const unversionedFile = path.join(tmp, "unversioned.db")
        writeSqlite(unversionedFile, installation(emailOf(carl), "imap.example.org", 143, null))
        const unversioned = yield* failure(importFrom(unversionedFile, carl))
        assert.strictEqual(unversioned._tag, "UnknownSchemaVersion")
        assert.include(unversioned.message, "no alembic_version")

        // the right password, but one field damaged: named, never shown, nothing written
        const damagedFile = path.join(tmp, "damaged.db")
        fs.copyFileSync(file, damagedFile)
        const db = new DatabaseSync(damagedFile)
        const row = db.prepare("SELECT encrypted_imap_password AS p FROM mail_accounts WHERE id = 1").get()
        const sealed = typeof row?.["p"] === "string" ? Buffer.from(row["p"], "base64") : Buffer.alloc(0)
        sealed[14] = (sealed[14] ?? 0) ^ 0xff
        db.prepare("UPDATE mail_accounts SET encrypted_imap_password = ? WHERE id = 1").run(sealed.toString("base64"))
        db.close()
        const damaged = yield* failure(importFrom(damagedFile, carl))
        assert.strictEqual(damaged._tag, "OldDataCorrupt")
        assert.include(damaged.message, "mail account 1: IMAP password")
        assert.notInclude(damaged.message, sealed.toString("base64"))

        // --user must exist here
        const nobody = yield* failure(importFrom(file, "nobody@example.org"))
        assert.strictEqual(nobody._tag, "ImportUserNotFound")
        assert.include(nobody.message, "nobody@example.org")
        // --user exists here but not in the old file (the other user of the file is not theirs to import)
        const annasFile = path.join(tmp, "annas.db")
        writeSqlite(annasFile, installation(emailOf(anna), "imap.example.org", 143))
        const other = yield* failure(importFrom(annasFile, carl))
        assert.strictEqual(other._tag, "ImportUserNotFound")
        assert.match(other.message, /has no user with email/)

        assert.deepStrictEqual(yield* footprint(carl), before)
      })
  )

  it.effect("the CLI: password from the environment or stdin, never echoed; a dry run; errors exit 1", () =>
    Effect.gen(function* () {
      const env = yield* Env
      const dora = UserId.make("a7777777-7777-4777-8777-777777777774")
      yield* ensureTestUser(dora)
      const file = path.join(tmp, "dora.db")
      writeSqlite(file, installation(emailOf(dora), "imap.example.org", 143))
      const cli = (args: ReadonlyArray<string>, extra: Record<string, string>, input?: string) => {
        const result = spawnSync(
          process.execPath,
          ["--import", "tsx", "src/main/cli.ts", "import", "ki-mail-helper", ...args],
          {
            env: { ...process.env, ...env.env, LOG_LEVEL: "Warn", ...extra },
            encoding: "utf8",
            timeout: 120_000,
            ...(input === undefined ? {} : { input })
          }
        )
        return { status: result.status, output: `${result.stdout}${result.stderr}` }
      }
      const args = ["--from", file, "--user", emailOf(dora)]

      const dry = cli([...args, "--dry-run"], { MAIL_HELPER_IMPORT_PASSWORD: MASTER_PASSWORD })
      assert.strictEqual(dry.status, 0, dry.output)
      assert.include(dry.output, "DRY RUN (nothing written)")
      assert.match(
        dry.output,
        new RegExp(`rule +would import ${mappableRules.length}, skipped 0, unmapped ${unmappableRules.length}`)
      )
      assert.match(dry.output, /unmapped: trusted sender 41/)
      for (const secret of [MASTER_PASSWORD, IMAP_PASSWORD]) assert.notInclude(dry.output, secret)
      assert.deepStrictEqual((yield* footprint(dora))["rules"], 0)

      const wrong = cli(args, { MAIL_HELPER_IMPORT_PASSWORD: "wrong-master" })
      assert.strictEqual(wrong.status, 1, wrong.output)
      assert.match(wrong.output, /error: wrong master password/)
      assert.notInclude(wrong.output, "wrong-master")

      // no variable: the password is read from the terminal (here: stdin), not echoed
      const typed = cli(args, {}, `${MASTER_PASSWORD}\n`)
      assert.strictEqual(typed.status, 0, typed.output)
      assert.match(
        typed.output,
        new RegExp(`rule +imported ${mappableRules.length}, skipped 0, unmapped ${unmappableRules.length}`)
      )
      assert.notInclude(typed.output, MASTER_PASSWORD)
      assert.deepStrictEqual((yield* footprint(dora))["rules"], mappableRules.length)
    })
  )
})
