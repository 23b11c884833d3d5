/**
 * Rules tests against real services: the API and an in-process worker over this file's own database
 * and Redis prefix, and a throw-away Dovecot. Messages are appended to Dovecot over IMAP and the
 * matching rows (mailbox with its real UIDVALIDITY, email with its real UID, analysis) are inserted
 * directly, as the sync would have stored them.
 */
import { NodeHttpServer } from "@effect/platform-node"
import * as fs from "node:fs"
import * as path from "node:path"
import { assert } from "@effect/vitest"
import { Effect, Layer, Redacted, Schedule } from "effect"
import { HttpRouter } from "effect/http"
import { SqlClient } from "effect/sql"
import { HttpAppLive } from "../../src/main/httpLayers.ts"
import { JobsLive, PlatformLive } from "../../src/main/layers.ts"
import { WorkerLive } from "../../src/main/workerLayers.ts"
import { Crypto } from "../../src/platform/Crypto.ts"
import { UserId } from "../../src/contract/users/UserId.ts"
import { UserScope } from "../../src/users/UserScope.ts"
import { Dovecot, type DovecotServer } from "../harness/dovecot.ts"
import { call, field } from "../harness/http.ts"
import { encodeWord } from "../harness/mailgen.ts"
import { configLayer, withTestEnv } from "../harness/TestEnv.ts"
import { TestAuthenticationLive } from "../harness/TestAuthentication.ts"
import { ensureTestUser } from "../users/fixtures.ts"

export const PASSWORD = "Rules-Test-Passw0rd"

/** API + worker + Dovecot (with these IMAP users) + Crypto (to seal the seeded accounts' passwords). */
export const rulesTestLayer = (imapUsers: ReadonlyArray<string>) =>
  Layer.mergeAll(
    withTestEnv((env) =>
      Layer.mergeAll(
        HttpRouter.serve(HttpAppLive(TestAuthenticationLive), { disableLogger: true, disableListenLog: true }).pipe(
          Layer.provideMerge(NodeHttpServer.layerTest)
        ),
        WorkerLive,
        Crypto.layer
      ).pipe(Layer.provideMerge(JobsLive), Layer.provideMerge(PlatformLive), Layer.provide(configLayer(env)))
    ),
    Dovecot.layer({ users: imapUsers.map((user) => ({ user, pass: PASSWORD })) })
  )

export const as = (user: string) => ({ "x-test-user": user })
export const userId = (id: string) => UserId.make(id)

// ---------------------------------------------------------------------------
// Seeding
// ---------------------------------------------------------------------------

export interface MessageSpec {
  readonly subject: string
  readonly from?: { readonly name: string; readonly address: string }
  readonly to?: string
  readonly body?: string
  readonly flags?: ReadonlyArray<string>
  readonly hasAttachment?: boolean
  readonly analysis?: {
    readonly urgency: number
    readonly importance: number
    readonly category: string
    readonly spam?: boolean
    readonly tags?: ReadonlyArray<string>
  }
}

export interface Seeded {
  readonly emailId: string
  readonly uid: number
  readonly messageId: string
  readonly mailbox: string
}

let counter = 0

export const rawMessage = (spec: MessageSpec, messageId: string): string =>
  [
    `Message-ID: ${messageId}`,
    `Date: ${new Date(Date.UTC(2025, 2, 1, 8, counter % 60)).toUTCString().replace("GMT", "+0000")}`,
    `From: ${encodeWord(spec.from?.name ?? "Sender")} <${spec.from?.address ?? "sender@example.com"}>`,
    `To: ${spec.to ?? "me@example.org"}`,
    `Subject: ${encodeWord(spec.subject)}`,
    "MIME-Version: 1.0",
    "Content-Type: text/plain; charset=utf-8",
    "Content-Transfer-Encoding: 8bit",
    "",
    spec.body ?? "Hello,\r\nthis is a test message.\r\n"
  ].join("\r\n")

/** The mail_accounts row for the Dovecot user (password sealed as src/accounts does); reused when it exists. */
export const seedAccount = (owner: string, server: { host: string; port: number }, imapUser: string) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const scope = yield* UserScope
    const crypto = yield* Crypto
    yield* ensureTestUser(userId(owner))
    const existing = yield* scope.run(
      userId(owner),
      sql<{ readonly id: string }>`
        SELECT id FROM mail_accounts
        WHERE user_id = ${owner} AND host = ${server.host} AND port = ${server.port} AND username = ${imapUser}`
    )
    if (existing[0] !== undefined) return existing[0].id
    const id = globalThis.crypto.randomUUID()
    const sealed = yield* crypto.encrypt(Redacted.make(PASSWORD), `mail_accounts:${id}:password`)
    yield* scope.run(
      userId(owner),
      sql`
        INSERT INTO mail_accounts (id, user_id, label, host, port, security, username, password_sealed)
        VALUES (${id}, ${owner}, ${`test ${imapUser}`}, ${server.host}, ${server.port}, 'none', ${imapUser}, ${sealed})`
    )
    return id
  }).pipe(Effect.orDie)

/** The mailbox row (UIDVALIDITY as the server reports it), created when missing; returns its id. */
export const seedMailbox = (
  owner: string,
  accountId: string,
  server: DovecotServer,
  imapUser: string,
  path: string,
  specialUse: string | null = null
) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const scope = yield* UserScope
    const status = yield* Effect.promise(() => server.mailboxStatus(imapUser, path))
    const rows = yield* scope.run(
      userId(owner),
      sql<{ readonly id: string }>`
        INSERT INTO mailboxes (user_id, account_id, path, name, special_use, uid_validity)
        VALUES (${owner}, ${accountId}, ${path}, ${path.split("/").at(-1) ?? path}, ${specialUse}, ${status.uidValidity})
        ON CONFLICT (account_id, path) DO UPDATE SET uid_validity = EXCLUDED.uid_validity
        RETURNING id`
    )
    return rows[0]?.id ?? ""
  }).pipe(Effect.orDie)

/** Appends each message to the server and inserts its row (and analysis) as the sync would. */
export const seedMessages = (
  owner: string,
  accountId: string,
  server: DovecotServer,
  imapUser: string,
  mailbox: string,
  specs: ReadonlyArray<MessageSpec>
) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const scope = yield* UserScope
    const mailboxId = yield* seedMailbox(owner, accountId, server, imapUser, mailbox)
    const status = yield* Effect.promise(() => server.mailboxStatus(imapUser, mailbox))
    const seeded: Array<Seeded> = []
    for (const spec of specs) {
      counter += 1
      const messageId = `<rules-${counter}.${Date.now().toString(36)}@test.example>`
      const uid = yield* Effect.promise(() =>
        server.append(imapUser, PASSWORD, mailbox, rawMessage(spec, messageId), spec.flags ?? [])
      )
      const flags = spec.flags ?? []
      const rows = yield* scope.run(
        userId(owner),
        sql<{ readonly id: string }>`
          INSERT INTO emails (user_id, account_id, mailbox_id, uid_validity, uid, message_id, thread_id, subject,
                              from_name, from_address, to_addresses, flags, seen, flagged, text_body,
                              has_attachments, sent_at, received_at, analysis_state)
          VALUES (${owner}, ${accountId}, ${mailboxId}, ${status.uidValidity}, ${uid}, ${messageId}, ${messageId},
                  ${spec.subject}, ${spec.from?.name ?? "Sender"}, ${spec.from?.address ?? "sender@example.com"},
                  ${JSON.stringify([{ name: null, address: spec.to ?? "me@example.org" }])}::jsonb,
                  ARRAY(SELECT jsonb_array_elements_text(${JSON.stringify(flags)}::jsonb)),
                  ${flags.includes("\\Seen")}, ${flags.includes("\\Flagged")},
                  ${spec.body ?? "Hello,\nthis is a test message.\n"}, ${spec.hasAttachment ?? false},
                  now() - make_interval(mins => ${specs.length - seeded.length}), now(),
                  ${spec.analysis === undefined ? "pending" : "analysed"})
          RETURNING id`
      )
      const emailId = rows[0]?.id ?? ""
      if (spec.analysis !== undefined) {
        const a = spec.analysis
        yield* scope.run(
          userId(owner),
          sql`
            INSERT INTO email_analysis (email_id, user_id, urgency, importance, category, spam, summary, tags,
                                        language, provider, model, confidence)
            VALUES (${emailId}, ${owner}, ${a.urgency}, ${a.importance}, ${a.category}, ${a.spam ?? false}, 'summary',
                    ARRAY(SELECT jsonb_array_elements_text(${JSON.stringify(a.tags ?? [])}::jsonb)),
                    'en', 'test', 'test', 0.9)`
        )
      }
      seeded.push({ emailId, uid, messageId, mailbox })
    }
    return seeded
  }).pipe(Effect.orDie)

// ---------------------------------------------------------------------------
// Looking at both sides
// ---------------------------------------------------------------------------

export interface ServerMessage {
  readonly mailbox: string
  readonly uid: number
  readonly flags: ReadonlyArray<string>
  readonly modseq: number
  readonly messageId: string | null
}

/** Every message of the user on the server, by Dovecot's own view (doveadm, no IMAP client). */
export const serverMessages = (server: DovecotServer, imapUser: string) =>
  Effect.promise(async () => {
    const output = await server.doveadm([
      "fetch",
      "-u",
      imapUser,
      "mailbox uid flags modseq hdr.message-id",
      "mailbox",
      "*",
      "all"
    ])
    const messages: Array<ServerMessage> = []
    for (const block of output.split("\f")) {
      const get = (name: string) => new RegExp(`^${name}:(.*)$`, "m").exec(block)?.[1]?.trim()
      const uid = get("uid")
      if (uid === undefined) continue
      const flags = get("flags") ?? ""
      messages.push({
        mailbox: get("mailbox") ?? "",
        uid: Number(uid),
        flags: flags === "" ? [] : flags.split(/\s+/).filter((flag) => flag !== "\\Recent"),
        modseq: Number(get("modseq") ?? "0"),
        messageId: get("hdr.message-id") ?? null
      })
    }
    return messages
  })

/** IMAP logins of the user so far, from Dovecot's log (a run that sends no command does not log in). */
export const loginCount = (server: DovecotServer, imapUser: string) =>
  Effect.sync(() => {
    const log = fs.readFileSync(path.join(server.root, "log", "dovecot.log"), "utf8")
    return log.split("\n").filter((line) => line.includes(`imap-login: Info: Login: user=<${imapUser}>`)).length
  })

export const onServer = (messages: ReadonlyArray<ServerMessage>, messageId: string): ServerMessage => {
  const found = messages.filter((m) => m.messageId === messageId)
  assert.strictEqual(found.length, 1, `exactly one copy of ${messageId} on the server: ${JSON.stringify(found)}`)
  const [message] = found
  if (message === undefined) throw new Error("unreachable")
  return message
}

export interface StoredEmail {
  readonly mailbox: string
  readonly uid: number
  readonly uidValidity: number
  readonly seen: boolean
  readonly flagged: boolean
  readonly flags: ReadonlyArray<string>
  readonly tags: ReadonlyArray<string>
  readonly urgency: number | null
  readonly importance: number | null
}

/** The stored row with its effective analysis values, as the rules see them. */
export const stored = (owner: string, emailId: string) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const scope = yield* UserScope
    const rows = yield* scope.run(
      userId(owner),
      sql<{
        readonly mailbox: string
        readonly uid: number
        readonly uid_validity: number
        readonly seen: boolean
        readonly flagged: boolean
        readonly flags: ReadonlyArray<string>
        readonly tags: ReadonlyArray<string>
        readonly urgency: number | null
        readonly importance: number | null
      }>`
        SELECT m.path AS mailbox, e.uid::float8 AS uid, e.uid_validity::float8 AS uid_validity, e.seen, e.flagged,
               e.flags, f.tags, f.urgency::int AS urgency, f.importance::int AS importance
        FROM emails e JOIN mailboxes m ON m.id = e.mailbox_id JOIN email_effective f ON f.email_id = e.id
        WHERE e.id = ${emailId}`
    )
    const row = rows[0]
    assert.isDefined(row, `email ${emailId} is stored`)
    if (row === undefined) throw new Error("unreachable")
    return {
      mailbox: row.mailbox,
      uid: row.uid,
      uidValidity: row.uid_validity,
      seen: row.seen,
      flagged: row.flagged,
      flags: row.flags,
      tags: row.tags,
      urgency: row.urgency,
      importance: row.importance
    } satisfies StoredEmail
  }).pipe(Effect.orDie)

// ---------------------------------------------------------------------------
// API helpers
// ---------------------------------------------------------------------------

export const createRule = (base: string, user: string, rule: Record<string, unknown>) =>
  Effect.gen(function* () {
    const response = yield* call(base, "POST", "/api/v1/rules", { json: rule, headers: as(user) })
    assert.strictEqual(response.status, 201, response.text)
    return String(field(response.body, "id"))
  })

export const deleteAllRules = (base: string, user: string) =>
  Effect.gen(function* () {
    const list = yield* call(base, "GET", "/api/v1/rules", { headers: as(user) })
    const items = field(list.body, "items")
    for (const item of Array.isArray(items) ? items : []) {
      const response = yield* call(base, "DELETE", `/api/v1/rules/${String(field(item, "id"))}`, { headers: as(user) })
      assert.strictEqual(response.status, 204, response.text)
    }
  })

export const getJob = (base: string, user: string, id: string) =>
  call(base, "GET", `/api/v1/jobs/${id}`, { headers: as(user) })

/** Polls a job until `done(state)` (bounded: 30 s). */
export const waitForJob = (base: string, user: string, id: string, done: (state: string) => boolean) =>
  getJob(base, user, id).pipe(
    Effect.flatMap((response) => {
      const state = String(field(response.body, "state"))
      return done(state) ? Effect.succeed(response.body) : Effect.fail(`still ${state}`)
    }),
    Effect.retry(Schedule.spaced("100 millis").pipe(Schedule.upTo({ times: 300 }))),
    Effect.orDie
  )

export const terminal = (state: string) => ["succeeded", "failed", "cancelled"].includes(state)

/**
 * POST /rules/apply as a client does it: without `confirm` (a 409 that carries the count), then with the
 * count it was shown. Returns the 202's body.
 */
export const confirmedApply = (base: string, user: string, body: Record<string, unknown> = {}) =>
  Effect.gen(function* () {
    const preview = yield* call(base, "POST", "/api/v1/rules/apply", { json: body, headers: as(user) })
    assert.strictEqual(preview.status, 409, preview.text)
    assert.strictEqual(field(preview.body, "_tag"), "ApplyConfirmationRequired", preview.text)
    const count = field(preview.body, "count")
    assert.isNumber(count)
    const response = yield* call(base, "POST", "/api/v1/rules/apply", {
      json: { ...body, confirm: count },
      headers: as(user)
    })
    assert.strictEqual(response.status, 202, response.text)
    return { response, count: Number(count) }
  })

/** POST /rules/apply (confirmed) and wait until the job ends; returns the job. */
export const applyAndWait = (base: string, user: string, body: Record<string, unknown> = {}) =>
  Effect.gen(function* () {
    const { response } = yield* confirmedApply(base, user, body)
    const jobId = String(field(response.body, "jobId"))
    const job = yield* waitForJob(base, user, jobId, terminal)
    assert.strictEqual(field(job, "state"), "succeeded", JSON.stringify(job))
    return { jobId, job }
  })

/** The user's execution log (GET /rules/log), newest first (follows the cursor). */
export const allRuns = (base: string, user: string, query = "") =>
  Effect.gen(function* () {
    const items: Array<unknown> = []
    let cursor: string | null = null
    do {
      const separator = query === "" ? "?" : "&"
      const path: string = `/api/v1/rules/log${query === "" ? "" : `?${query}`}${cursor === null ? "" : `${separator}cursor=${cursor}`}`
      const response = yield* call(base, "GET", path, { headers: as(user) })
      assert.strictEqual(response.status, 200, response.text)
      const page = field(response.body, "items")
      if (Array.isArray(page)) items.push(...page)
      const next = field(response.body, "nextCursor")
      cursor = typeof next === "string" ? next : null
    } while (cursor !== null)
    return items
  })
