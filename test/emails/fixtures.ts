import { Effect, Schema } from "effect"
import { SqlClient } from "effect/sql"
import type { UserId } from "../../src/contract/users/UserId.ts"
import { UserScope } from "../../src/users/UserScope.ts"
import { ensureTestUser } from "../users/fixtures.ts"

/**
 * Stored mail for tests of analysis, the emails API and search, written the
 * way the sync writes it (camelCase header keys, mailparser-style address
 * lists), in the owner's scope.
 */

export interface MailSpec {
  readonly subject: string
  readonly text: string
  readonly from?: { readonly name?: string; readonly address: string }
  readonly to?: ReadonlyArray<string>
  readonly date?: Date
  readonly seen?: boolean
  readonly threadId?: string
  readonly html?: string
  readonly headers?: Readonly<Record<string, string>>
  readonly attachments?: ReadonlyArray<{
    readonly filename: string
    readonly contentType: string
    readonly size: number
  }>
}

export interface Mailbox {
  readonly owner: UserId
  readonly accountId: string
  readonly mailboxId: string
}

const Id = Schema.Struct({ id: Schema.String })
const decodeIds = Schema.decodeUnknownEffect(Schema.Array(Id))

let uidCounter = 0

/** A user (if new), an account and an INBOX for them. */
export const makeMailbox = (owner: UserId, label = "Test account") =>
  Effect.gen(function* () {
    yield* ensureTestUser(owner)
    const sql = yield* SqlClient.SqlClient
    const scope = yield* UserScope
    return yield* scope.run(
      owner,
      Effect.gen(function* () {
        const [account] = yield* sql`
          INSERT INTO mail_accounts (user_id, label, host, port, security, username, password_sealed)
          VALUES (${owner}, ${label}, 'imap.example.test', 993, 'tls', ${`${label}-${crypto.randomUUID()}`}, 'sealed')
          RETURNING id`.pipe(Effect.flatMap(decodeIds))
        const [mailbox] = yield* sql`
          INSERT INTO mailboxes (user_id, account_id, path, name, special_use, uid_validity)
          VALUES (${owner}, ${account?.id ?? ""}::uuid, 'INBOX', 'INBOX', 'inbox', 1)
          RETURNING id`.pipe(Effect.flatMap(decodeIds))
        return { owner, accountId: account?.id ?? "", mailboxId: mailbox?.id ?? "" } satisfies Mailbox
      })
    )
  }).pipe(Effect.orDie)

/** Inserts the messages (pending analysis and embedding); their ids in order. */
export const insertMails = (box: Mailbox, specs: ReadonlyArray<MailSpec>) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const scope = yield* UserScope
    const rows = specs.map((spec, i) => ({
      ord: i,
      uid: ++uidCounter,
      message_id: `<m${uidCounter}@example.test>`,
      thread_id: spec.threadId ?? `thread-${uidCounter}`,
      subject: spec.subject,
      from_name: spec.from?.name ?? null,
      from_address: spec.from?.address ?? "sender@example.test",
      to_addresses: (spec.to ?? ["me@example.test"]).map((address) => ({ name: null, address })),
      sent_at: (spec.date ?? new Date(Date.UTC(2026, 0, 1, 12, 0, i))).toISOString(),
      seen: spec.seen ?? false,
      size: spec.text.length + spec.subject.length,
      text_body: spec.text,
      html_body: spec.html ?? null,
      headers: spec.headers ?? {},
      has_attachments: (spec.attachments ?? []).length > 0
    }))
    const ids = yield* scope.run(
      box.owner,
      Effect.gen(function* () {
        const inserted = yield* sql`
          INSERT INTO emails (user_id, account_id, mailbox_id, uid_validity, uid, message_id, thread_id, subject,
            from_name, from_address, to_addresses, sent_at, seen, size, text_body, html_body, headers, has_attachments)
          SELECT ${box.owner}, ${box.accountId}::uuid, ${box.mailboxId}::uuid, 1, r.uid, r.message_id, r.thread_id,
            r.subject, r.from_name, r.from_address, r.to_addresses, r.sent_at, r.seen, r.size, r.text_body,
            r.html_body, r.headers, r.has_attachments
          FROM jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) AS r(
            uid bigint, message_id text, thread_id text, subject text, from_name text, from_address text,
            to_addresses jsonb, sent_at timestamptz, seen boolean, size integer, text_body text, html_body text,
            headers jsonb, has_attachments boolean, ord integer)
          ORDER BY r.ord
          RETURNING id`.pipe(Effect.flatMap(decodeIds))
        const attachments = specs.flatMap((spec, i) =>
          (spec.attachments ?? []).map((a, position) => ({
            email_id: inserted[i]?.id ?? "",
            position,
            filename: a.filename,
            content_type: a.contentType,
            size: a.size
          }))
        )
        if (attachments.length > 0) {
          yield* sql`
            INSERT INTO attachments (user_id, email_id, position, filename, content_type, size)
            SELECT ${box.owner}, a.email_id, a.position, a.filename, a.content_type, a.size
            FROM jsonb_to_recordset(${JSON.stringify(attachments)}::jsonb) AS a(
              email_id uuid, position integer, filename text, content_type text, size integer)`
        }
        return inserted.map((row) => row.id)
      })
    )
    return ids
  }).pipe(Effect.orDie)

/** Direct reads for assertions, in the owner's scope. */
export const emailState = (owner: UserId, id: string) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const scope = yield* UserScope
    const rows = yield* scope.run(
      owner,
      sql<{
        analysis_state: string
        analysis_attempts: number
        analysis_error: string | null
        embedding_state: string
        embedding_error: string | null
      }>`SELECT analysis_state, analysis_attempts, analysis_error, embedding_state, embedding_error
         FROM emails WHERE id = ${id}::uuid`
    )
    const row = rows[0]
    if (row === undefined) return yield* Effect.die(new Error(`no email ${id}`))
    return row
  }).pipe(Effect.orDie)
