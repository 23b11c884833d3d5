import { assert, layer } from "@effect/vitest"
import { Effect, Layer, Schedule, Schema } from "effect"
import { SqlClient } from "effect/sql"
import { AccountId, MailboxId } from "../../src/contract/accounts/Account.ts"
import { ProcessingStore } from "../../src/analysis/ProcessingStore.ts"
import { EmailId } from "../../src/contract/emails/EmailId.ts"
import { EmailStore } from "../../src/emails/EmailStore.ts"
import { RuleMailStore } from "../../src/rules/RuleMailStore.ts"
import { MailStore } from "../../src/sync/MailStore.ts"
import { UserId } from "../../src/contract/users/UserId.ts"
import { UserScope } from "../../src/users/UserScope.ts"
import { Dovecot } from "../harness/dovecot.ts"
import { baseUrl, createAccount, expectSucceeded, OwnerDb, syncNow, syncTestLayer } from "./support.ts"

/*
 * Issue 12 (a) against the Gmail-like Dovecot: `[Gmail]/All Mail` (\All) holds every message again
 * (virtual plugin). One message filed in INBOX and in the label folder Work is stored once per
 * folder (four copies: INBOX, Work, and both again in All Mail), and everything above the store
 * knows the copies are one message: exactly one canonical copy, full-text search finds it once,
 * analysis takes it once, the email list counts it once, a rule selects it once (the INBOX copy,
 * never the All Mail one) and the email view lists every folder it is in.
 */

const TestLayer = Layer.mergeAll(RuleMailStore.layer, EmailStore.layer, ProcessingStore.layer).pipe(
  Layer.provideMerge(syncTestLayer({ worker: true, dovecot: { gmailLike: true } }))
)

const alice = UserId.make("a9999999-1111-4111-8111-111111111111")
const PASSWORD = "gmail-copies-pw"

const message = (id: string, subject: string, word: string) =>
  [
    "From: Bob <bob@example.test>",
    "To: alice@example.test",
    `Subject: ${subject}`,
    "Date: Tue, 01 Dec 2026 10:00:00 +0000",
    `Message-ID: <${id}@example.test>`,
    "MIME-Version: 1.0",
    "Content-Type: text/plain; charset=utf-8",
    "",
    `Hello, this message mentions ${word} once.`,
    ""
  ].join("\r\n")

const Copy = Schema.Struct({ id: Schema.String, path: Schema.String, canonical: Schema.Boolean })

layer(TestLayer, { excludeTestServices: true, timeout: "120 seconds" })("Gmail-like copies are one message", (it) => {
  it.effect("stored per folder, searched, analysed, counted and selected by rules once, its folders listed", () =>
    Effect.gen(function* () {
      const server = yield* Dovecot
      const base = yield* baseUrl
      const owner = yield* OwnerDb
      const user = "gmailcopies"
      yield* Effect.promise(async () => {
        await server.addUser(user, PASSWORD)
        await server.createMailbox(user, "Work")
        const labelled = message("labelled.1", "Quarterly numbers", "zebrafinch")
        await server.append(user, PASSWORD, "INBOX", labelled)
        await server.append(user, PASSWORD, "Work", labelled)
        await server.append(user, PASSWORD, "INBOX", message("other.2", "Lunch", "pelican"))
      })
      const accountId = yield* createAccount(base, alice, server, { username: user, password: PASSWORD })
      expectSucceeded(yield* syncNow(base, alice, accountId))

      // stored once per folder
      const copies = yield* owner`
        SELECT e.id::text AS id, m.path, e.canonical FROM emails e JOIN mailboxes m ON m.id = e.mailbox_id
        WHERE e.account_id = ${accountId} AND e.message_id = '<labelled.1@example.test>'
        ORDER BY m.path, e.id`.pipe(Effect.flatMap(Schema.decodeUnknownEffect(Schema.Array(Copy))))
      const paths = [...new Set(copies.map((copy) => copy.path))]
      assert.deepStrictEqual(paths, ["INBOX", "Work", "[Gmail]/All Mail"])
      assert.isAtLeast(copies.length, 3)
      assert.strictEqual(copies.filter((copy) => copy.canonical).length, 1, "one canonical copy")
      // migration 0057 backfills older rows with the same key in SQL: that formula agrees with messageKeyFor
      const Agrees = Schema.Struct({ agrees: Schema.Boolean, n: Schema.Number })
      const [agreement] = yield* owner`
        WITH f AS (
          SELECT message_key, ARRAY[
            nullif(regexp_replace(coalesce(message_id, ''), '[<>[:space:]]', '', 'g'), ''),
            lower(from_address),
            CASE WHEN sent_at IS NULL THEN NULL ELSE floor(extract(epoch FROM sent_at) * 1000)::bigint::text END,
            subject,
            CASE WHEN text_body IS NULL OR text_body = '' THEN html_body ELSE text_body END] AS fields
          FROM emails WHERE account_id = ${accountId})
        SELECT bool_and(message_key = encode(sha256(convert_to(
          (SELECT string_agg(octet_length(coalesce(v, ''))::text || ':' || coalesce(v, ''), '' ORDER BY i)
           FROM unnest(fields) WITH ORDINALITY AS u(v, i)), 'UTF8')), 'base64')) AS agrees,
          count(*)::int AS n
        FROM f`.pipe(Effect.flatMap(Schema.decodeUnknownEffect(Schema.Array(Agrees))))
      assert.deepStrictEqual(agreement, { agrees: true, n: 6 })
      const inboxCopy = copies.find((copy) => copy.path === "INBOX")
      assert.isDefined(inboxCopy)

      // full-text search finds it once
      const sql = yield* SqlClient.SqlClient
      const scope = yield* UserScope
      const hits = yield* scope.run(
        alice,
        sql<{ readonly email_id: string }>`
          SELECT email_id::text FROM app_fulltext_search(websearch_to_tsquery('simple', 'zebrafinch'), 50)`
      )
      assert.strictEqual(hits.length, 1, "search returns the message once")

      // analysis takes each message once (the worker analyses after the sync): wait until nothing
      // is left, then every message has one analysis, on its canonical copy
      const processing = yield* ProcessingStore
      yield* processing.countAnalysisPending(alice, { accountId }).pipe(
        Effect.flatMap((n) => (n === 0 ? Effect.void : Effect.fail(`${n} pending`))),
        Effect.retry(Schedule.spaced("100 millis").pipe(Schedule.upTo({ times: 300 }))),
        Effect.orDie
      )
      const Analysed = Schema.Struct({ canonical: Schema.Boolean, analyses: Schema.Number })
      const analysed = yield* owner`
        SELECT e.canonical, count(a.email_id)::int AS analyses
        FROM emails e LEFT JOIN email_analysis a ON a.email_id = e.id
        WHERE e.account_id = ${accountId} GROUP BY e.canonical ORDER BY e.canonical`.pipe(
        Effect.flatMap(Schema.decodeUnknownEffect(Schema.Array(Analysed)))
      )
      assert.deepStrictEqual(analysed, [
        { canonical: false, analyses: 0 },
        { canonical: true, analyses: 2 }
      ])

      // the email list counts it once; a mailbox's own list still shows its copy
      const emails = yield* EmailStore
      const all = yield* emails.list(alice, { filters: { accountId }, sort: "date", limit: 50 })
      assert.strictEqual(all.items.length, 2, "the list counts each message once")

      // a rule selects it once, in INBOX (never the All Mail copy)
      const rules = yield* RuleMailStore
      assert.strictEqual(yield* rules.count(alice, { accountId }), 2)
      const page = yield* rules.page(alice, { accountId }, null, 100)
      const selected = page.filter((row) => row.subjectLine === "Quarterly numbers")
      assert.deepStrictEqual(
        selected.map((row) => row.mailboxPath),
        ["INBOX"]
      )
      assert.strictEqual(yield* rules.count(alice, { accountId, mailbox: "Work" }), 1)
      const named = yield* rules.page(alice, { accountId, emailIds: copies.map((copy) => copy.id) }, null, 100)
      assert.strictEqual(named.length, 1, "every copy named: the rule still acts once")
      // new-mail runs name the analysed (canonical) copy, whichever folder it is in: the rule acts on
      // the INBOX copy, not on the All Mail one the default selection leaves alone
      for (const copy of copies) {
        const one = yield* rules.page(alice, { accountId, emailIds: [copy.id] }, null, 100)
        assert.deepStrictEqual(
          one.map((row) => row.mailboxPath),
          ["INBOX"],
          `naming the ${copy.path} copy`
        )
      }

      // the email view knows the copies are one message
      const detail = yield* emails.get(alice, EmailId.make(inboxCopy?.id ?? ""))
      assert.deepStrictEqual(
        [...new Set(detail.copies.map((copy) => copy.mailboxPath))],
        ["INBOX", "Work", "[Gmail]/All Mail"]
      )
      assert.strictEqual(detail.copies.filter((copy) => copy.canonical).length, 1)

      // the canonical copy expunged (as the sync deletes it): a surviving copy takes over, the All
      // Mail one first; the message is still listed once
      const Location = Schema.Struct({
        mailbox_id: MailboxId,
        uid_validity: Schema.Number,
        uid: Schema.Number
      })
      const [canonicalCopy] = yield* owner`
        SELECT mailbox_id, uid_validity::float8 AS uid_validity, uid::float8 AS uid FROM emails
        WHERE account_id = ${accountId} AND message_id = '<labelled.1@example.test>' AND canonical`.pipe(
        Effect.flatMap(Schema.decodeUnknownEffect(Schema.Array(Location)))
      )
      assert.isDefined(canonicalCopy)
      if (canonicalCopy === undefined) return
      const store = yield* MailStore
      yield* store.deleteUids(
        {
          owner: alice,
          accountId: AccountId.make(accountId),
          mailboxId: canonicalCopy.mailbox_id,
          uidValidity: canonicalCopy.uid_validity
        },
        [canonicalCopy.uid]
      )
      const after = yield* owner`
        SELECT e.id::text AS id, m.path, e.canonical FROM emails e JOIN mailboxes m ON m.id = e.mailbox_id
        WHERE e.account_id = ${accountId} AND e.message_id = '<labelled.1@example.test>'
        ORDER BY m.path, e.id`.pipe(Effect.flatMap(Schema.decodeUnknownEffect(Schema.Array(Copy))))
      assert.strictEqual(after.length, copies.length - 1)
      assert.deepStrictEqual(
        after.filter((copy) => copy.canonical).map((copy) => copy.path),
        ["[Gmail]/All Mail"],
        "the All Mail copy took over"
      )
      const listed = yield* emails.list(alice, { filters: { accountId }, sort: "date", limit: 50 })
      assert.strictEqual(listed.items.length, 2)
    })
  )
})
