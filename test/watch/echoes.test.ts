/**
 * The echo of our own flag write (src/watch/EchoFilter.ts) against a real Dovecot (NOTIFY): a rule
 * flags a fresh message with a UID STORE, the account's watcher hears the server's FETCH (UID FLAGS
 * MODSEQ) of it, and finds the flags already stored: no `mail.sync` is queued for it. A flag change
 * by another IMAP client (to another message, once the echo was heard) is still synced. Counted in
 * the jobs table, never timed.
 */
import { assert, layer } from "@effect/vitest"
import { Effect, Schedule, Schema } from "effect"
import { ImapFlow } from "imapflow"
import { randomUUID } from "node:crypto"
import { Dovecot, type DovecotServer } from "../harness/dovecot.ts"
import {
  baseUrl,
  capturedLogs,
  createAccount,
  field,
  ownerQuery,
  storedEmails,
  syncTestLayer
} from "../sync/support.ts"

const owner = "d5555555-5555-4555-8555-555555555555"
const user = "watch-echo"
const pass = "pass-echo"

const TestLayer = syncTestLayer({
  worker: true,
  env: {
    WATCH_ENABLED: "true",
    WATCH_OWNERSHIP: "local",
    WATCH_REFRESH_SECONDS: "1",
    WATCH_COALESCE_MILLIS: "300"
  },
  dovecot: { users: [{ user, pass }] }
})

const poll = Schedule.spaced("200 millis").pipe(Schedule.upTo({ times: 600 }))

/** Retries `check` (a failing Effect) until it holds, for at most two minutes. */
const eventually = <A, R>(what: string, check: Effect.Effect<A, string, R>) =>
  check.pipe(
    Effect.retry(poll),
    Effect.mapError((last) => new Error(`${what}: ${last}`)),
    Effect.orDie
  )

const message = (subject: string) =>
  `From: a@example.com\r\nTo: b@example.com\r\nSubject: ${subject}\r\nMessage-ID: <${randomUUID()}@example.com>\r\n\r\nbody of ${subject}\r\n`

const client = (server: DovecotServer) =>
  Effect.acquireRelease(
    Effect.promise(async () => {
      const c = new ImapFlow({
        host: server.host,
        port: server.port,
        secure: false,
        auth: { user, pass },
        logger: false,
        disableAutoIdle: true
      })
      await c.connect()
      return c
    }),
    (c) => Effect.promise(() => c.logout().catch(() => undefined))
  )

const Count = Schema.Struct({ n: Schema.Number })
const count = (rows: ReadonlyArray<{ readonly n: number }>) => rows[0]?.n ?? 0

/** The account's `mail.sync` jobs not ended yet. */
const openSyncs = (accountId: string) =>
  Effect.map(
    ownerQuery(
      Count,
      (
        sql
      ) => sql`SELECT count(*)::float8 AS n FROM jobs WHERE kind = 'mail.sync' AND payload->>'accountId' = ${accountId}
                  AND state NOT IN ('succeeded', 'failed', 'cancelled')`
    ),
    count
  )

/** The account's `mail.sync` jobs queued since the rules.apply job of `emailId` started. */
const syncsSinceRules = (accountId: string, emailId: string) =>
  ownerQuery(
    Schema.Struct({ payload: Schema.Unknown, result: Schema.Unknown }),
    (sql) => sql`SELECT payload, result FROM jobs WHERE kind = 'mail.sync' AND payload->>'accountId' = ${accountId}
                 AND created_at >= (SELECT min(started_at) FROM jobs WHERE kind = 'rules.apply' AND user_id = ${owner}
                                     AND payload->'emailIds' ? ${emailId})
                 ORDER BY created_at`
  )

layer(TestLayer, { excludeTestServices: true, timeout: "300 seconds" })("echoes of our own flag writes", (it) => {
  it.effect("a rule's UID STORE queues no sync; another client's flag change is synced", () =>
    Effect.gen(function* () {
      const server = yield* Dovecot
      const base = yield* baseUrl
      const accountId = yield* createAccount(base, owner, server, { username: user, password: pass })
      // the API's first call created the owner
      yield* ownerQuery(
        Schema.Struct({ id: Schema.String }),
        (sql) => sql`INSERT INTO rules (user_id, name, priority, match, conditions, actions)
                     VALUES (${owner}, 'fresh', 100, 'all', '[{"field":"subject","op":"contains","value":"fresh"}]'::jsonb,
                             '[{"type":"flag"}]'::jsonb)
                     RETURNING id::text AS id`
      )
      yield* eventually(
        "first syncs ended",
        Effect.flatMap(
          ownerQuery(
            Count,
            (sql) =>
              sql`SELECT count(*)::float8 AS n FROM jobs WHERE kind = 'mail.sync' AND payload->>'accountId' = ${accountId}`
          ),
          (rows) => (count(rows) > 0 ? Effect.void : Effect.fail("no sync yet"))
        ).pipe(
          Effect.andThen(
            Effect.flatMap(openSyncs(accountId), (n) => (n === 0 ? Effect.void : Effect.fail(`${n} open`)))
          )
        )
      )
      const c = yield* client(server)

      // a message no rule touches: the other client's change goes to it
      yield* Effect.promise(() => c.append("INBOX", message("plain one")))
      const plain = yield* eventually(
        "the plain message stored",
        Effect.flatMap(storedEmails(accountId, "INBOX"), (emails) => {
          const email = emails.find((e) => e.subject === "plain one")
          return email === undefined ? Effect.fail(JSON.stringify(emails)) : Effect.succeed(email)
        })
      )

      // a fresh message: stored by the watcher's sync, then the rule flags it on the server (UID STORE)
      // and in its row
      yield* Effect.promise(() => c.append("INBOX", message("fresh one")))
      const fresh = yield* eventually(
        "the rule flagged the message",
        Effect.flatMap(storedEmails(accountId, "INBOX"), (emails) => {
          const email = emails.find((e) => e.subject === "fresh one")
          return email?.flagged ? Effect.succeed(email) : Effect.fail(JSON.stringify(emails))
        })
      )
      // the watcher heard the rule's STORE: it dropped it as stored, or (without the echo filter) a sync
      // was queued for it
      yield* eventually(
        "the echo heard",
        Effect.suspend(() =>
          capturedLogs.some((line) => line.includes("flag report already stored") && line.includes(accountId))
            ? Effect.void
            : Effect.flatMap(syncsSinceRules(accountId, fresh.id), (syncs) =>
                syncs.length > 0 ? Effect.void : Effect.fail("neither dropped nor synced")
              )
        )
      )

      // another client marks the plain message seen: a change we did not write, which must be synced
      yield* Effect.promise(async () => {
        const lock = await c.getMailboxLock("INBOX")
        try {
          await c.messageFlagsAdd(String(plain.uid), ["\\Seen"], { uid: true })
        } finally {
          lock.release()
        }
      })
      yield* eventually(
        "the other client's flag stored",
        Effect.flatMap(storedEmails(accountId, "INBOX"), (emails) => {
          const email = emails.find((e) => e.uid === plain.uid)
          return email?.seen === true ? Effect.void : Effect.fail(JSON.stringify(emails))
        })
      )
      yield* eventually(
        "syncs ended",
        Effect.flatMap(openSyncs(accountId), (n) => (n === 0 ? Effect.void : Effect.fail(`${n} open`)))
      )
      // the syncs queued since the rule ran: the other client's change alone, no echo of the rule's STORE
      const since = yield* syncsSinceRules(accountId, fresh.id)
      assert.strictEqual(since.length, 1, `syncs since the rule ran: ${JSON.stringify(since)}`)
      assert.strictEqual(field(since[0]?.result, "flagUpdates"), 1, JSON.stringify(since))
    })
  )
})
