import { type Decision, Decisions } from "../contract/analysis/Decisions.ts"
import { Context, Effect, Layer, Option, Schema } from "effect"
import { SqlClient } from "effect/sql"
import { Level } from "../contract/analysis/Analysis.ts"
import { addressesOf } from "../analysis/mailFields.ts"
import { type DatabaseError, decodeRows } from "../platform/Database.ts"
import { UserId } from "../contract/users/UserId.ts"
import { inUserScope, UserScope } from "../users/UserScope.ts"
import { EmailId, EmailNotFound } from "../contract/emails/EmailId.ts"
import {
  type AnalysisView,
  AnalysisState,
  bandOf,
  type Correction,
  EmailDetail,
  EmailSummary,
  EmbeddingState,
  type OverridesView,
  scoreOf
} from "../contract/emails/EmailViews.ts"

/**
 * The emails repository: lists with filters and keyset pagination over the
 * effective values, one message in full, the user's corrections, and the
 * reset that precedes a reprocess. Every statement runs in the user's scope
 * (row-level security) and names the user as well.
 */

export type SortOrder = "date" | "score"

export interface ListFilters {
  readonly accountId?: string | undefined
  readonly mailboxId?: string | undefined
  readonly threadId?: string | undefined
  readonly category?: string | undefined
  readonly tag?: string | undefined
  readonly minScore?: number | undefined
  /** Effective urgency / importance (a correction wins): one cell of the 3 x 3 matrix. */
  readonly urgency?: number | undefined
  readonly importance?: number | undefined
  readonly unread?: boolean | undefined
  readonly spam?: boolean | undefined
  readonly analysisState?: typeof AnalysisState.Type | undefined
  /** Inclusive bounds on `date`. */
  readonly dateFrom?: Date | undefined
  readonly dateTo?: Date | undefined
}

/** Where the previous page ended (its last item). */
export interface Position {
  readonly date: Date
  readonly id: string
  /** The effective score (0 when unknown), for `sort=score`. */
  readonly score: number
}

export interface ListQuery {
  readonly filters: ListFilters
  readonly sort: SortOrder
  readonly limit: number
  readonly after?: Position | undefined
}

export interface ListPage {
  readonly items: ReadonlyArray<EmailSummary>
  /** Set when there is a next page: the position of the last item. */
  readonly next: Position | undefined
}

const SummaryRow = Schema.Struct({
  id: EmailId,
  account_id: Schema.String,
  mailbox_id: Schema.String,
  thread_id: Schema.String,
  subject: Schema.NullOr(Schema.String),
  from_name: Schema.NullOr(Schema.String),
  from_address: Schema.NullOr(Schema.String),
  mail_date: Schema.Date,
  seen: Schema.Boolean,
  flagged: Schema.Boolean,
  has_attachments: Schema.Boolean,
  size: Schema.Number,
  analysis_state: AnalysisState,
  urgency: Schema.NullOr(Level),
  importance: Schema.NullOr(Level),
  category: Schema.NullOr(Schema.String),
  spam: Schema.NullOr(Schema.Boolean),
  tags: Schema.Array(Schema.String),
  summary: Schema.NullOr(Schema.String),
  corrected: Schema.Boolean
})
type SummaryRow = typeof SummaryRow.Type

const DetailRow = Schema.Struct({
  ...SummaryRow.fields,
  message_id: Schema.NullOr(Schema.String),
  in_reply_to: Schema.NullOr(Schema.String),
  references_ids: Schema.Array(Schema.String),
  to_addresses: Schema.Unknown,
  cc_addresses: Schema.Unknown,
  reply_to: Schema.Unknown,
  sent_at: Schema.NullOr(Schema.Date),
  received_at: Schema.NullOr(Schema.Date),
  flags: Schema.Array(Schema.String),
  text_body: Schema.NullOr(Schema.String),
  html_body: Schema.NullOr(Schema.String),
  analysis_attempts: Schema.Number,
  analysis_error: Schema.NullOr(Schema.String),
  embedding_state: EmbeddingState,
  embedding_error: Schema.NullOr(Schema.String),
  parse_warnings: Schema.Array(Schema.String),
  canonical_id: Schema.String
})

const CopyRow = Schema.Struct({
  id: EmailId,
  mailbox_id: Schema.String,
  mailbox_path: Schema.String,
  canonical: Schema.Boolean
})

const AttachmentRow = Schema.Struct({
  id: Schema.String,
  position: Schema.Number,
  filename: Schema.NullOr(Schema.String),
  content_type: Schema.String,
  size: Schema.Number,
  content_id: Schema.NullOr(Schema.String),
  disposition: Schema.NullOr(Schema.String),
  sha256: Schema.NullOr(Schema.String)
})

const AnalysisRow = Schema.Struct({
  urgency: Level,
  importance: Level,
  category: Schema.String,
  spam: Schema.Boolean,
  summary: Schema.String,
  tags: Schema.Array(Schema.String),
  language: Schema.String,
  provider: Schema.String,
  model: Schema.String,
  confidence: Schema.Number,
  analysed_at: Schema.Date,
  decisions: Schema.NullOr(Decisions),
  tag_suggestions: Schema.Array(Schema.String)
})

const OverridesRow = Schema.Struct({
  urgency: Schema.NullOr(Level),
  importance: Schema.NullOr(Level),
  category: Schema.NullOr(Schema.String),
  spam: Schema.NullOr(Schema.Boolean),
  tags: Schema.NullOr(Schema.Array(Schema.String)),
  updated_at: Schema.Date
})

const IdRow = Schema.Struct({ id: Schema.String })

/** One cell of the urgency x importance matrix: how many analysed messages it holds. */
const MatrixCellRow = Schema.Struct({ urgency: Level, importance: Level, count: Schema.Int })
export type MatrixCellCount = typeof MatrixCellRow.Type

const toSummary = (row: SummaryRow): EmailSummary => {
  const score = scoreOf(row.urgency, row.importance)
  return new EmailSummary({
    id: row.id,
    accountId: row.account_id,
    mailboxId: row.mailbox_id,
    threadId: row.thread_id,
    subject: row.subject,
    from: { name: row.from_name, address: row.from_address },
    date: row.mail_date,
    seen: row.seen,
    flagged: row.flagged,
    hasAttachments: row.has_attachments,
    size: row.size,
    analysisState: row.analysis_state,
    urgency: row.urgency,
    importance: row.importance,
    score,
    band: bandOf(score),
    category: row.category,
    spam: row.spam,
    tags: row.tags,
    summary: row.summary,
    corrected: row.corrected
  })
}

export interface EmailStoreShape {
  readonly list: (userId: UserId, query: ListQuery) => Effect.Effect<ListPage, DatabaseError>
  /**
   * Analysed messages (each once, its canonical copy) per effective urgency x importance; cells
   * without messages are left out.
   */
  readonly matrix: (
    userId: UserId,
    filters: { readonly accountId?: string | undefined }
  ) => Effect.Effect<ReadonlyArray<MatrixCellCount>, DatabaseError>
  readonly get: (userId: UserId, id: EmailId) => Effect.Effect<EmailDetail, EmailNotFound | DatabaseError>
  /** The user's messages among `ids`, as summaries keyed by id (unknown and foreign ids are left out). */
  readonly summaries: (
    userId: UserId,
    ids: ReadonlyArray<string>
  ) => Effect.Effect<ReadonlyMap<string, EmailSummary>, DatabaseError>
  readonly correct: (
    userId: UserId,
    id: EmailId,
    correction: Correction
  ) => Effect.Effect<EmailDetail, EmailNotFound | DatabaseError>
  /** Sets analysis and embedding back to pending (attempts and errors cleared) before a reprocess. */
  readonly resetForReprocess: (userId: UserId, id: EmailId) => Effect.Effect<void, EmailNotFound | DatabaseError>
  /**
   * The inbox's first page for nobody (row-level security shows no row) on `connections` pool
   * connections at once, and one made-up row through the list's decoding: opens those connections,
   * loads their backends' catalog caches for the list's tables, and runs the code of the list once,
   * which the API's first GET /emails after its start paid for otherwise (issue 16). Reads nothing.
   */
  readonly warmUp: (connections: number) => Effect.Effect<void, DatabaseError>
}

export class EmailStore extends Context.Service<EmailStore, EmailStoreShape>()("mail-helper/EmailStore") {
  static readonly layer = Layer.effect(
    EmailStore,
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const scope = yield* UserScope
      const decodeSummaries = decodeRows(SummaryRow)
      const decodeDetail = decodeRows(DetailRow)
      const decodeAttachments = decodeRows(AttachmentRow)
      const decodeAnalysis = decodeRows(AnalysisRow)
      const decodeOverrides = decodeRows(OverridesRow)
      const decodeIds = decodeRows(IdRow)
      const decodeTags = decodeRows(Schema.Struct({ tags: Schema.Array(Schema.String) }))
      const decodeCopies = decodeRows(CopyRow)
      const decodeMatrix = decodeRows(MatrixCellRow)
      const inScope = inUserScope(scope)

      const summaryColumns = sql`
        e.id, e.account_id, e.mailbox_id, e.thread_id, e.subject, e.from_name, e.from_address, e.mail_date,
        e.seen, e.flagged, e.has_attachments, e.size, COALESCE(cc.analysis_state, e.analysis_state) AS analysis_state,
        COALESCE(o.urgency, a.urgency) AS urgency,
        COALESCE(o.importance, a.importance) AS importance,
        COALESCE(o.category, a.category) AS category,
        COALESCE(o.spam, a.spam) AS spam,
        COALESCE(o.tags, a.tags, '{}') AS tags,
        a.summary,
        (o.email_id IS NOT NULL) AS corrected`
      // one message, several copies (migration 0057): a copy shows the analysis and the corrections
      // of the message's canonical copy
      const joins = sql`
        LEFT JOIN LATERAL (
          SELECT c.id, c.analysis_state, c.priority_score FROM emails c
          WHERE NOT e.canonical AND c.account_id = e.account_id AND c.message_key = e.message_key AND c.canonical
        ) cc ON true
        LEFT JOIN email_analysis a ON a.email_id = COALESCE(cc.id, e.id)
        LEFT JOIN email_overrides o ON o.email_id = COALESCE(cc.id, e.id)`
      // the same for lists of canonical copies only, where `cc` is always empty: joined on e.id, the
      // planner looks each page row's analysis up by key (with COALESCE it scanned the user's analysis)
      const canonicalJoins = sql`
        LEFT JOIN LATERAL (
          SELECT c.id, c.analysis_state, c.priority_score FROM emails c
          WHERE NOT e.canonical AND c.account_id = e.account_id AND c.message_key = e.message_key AND c.canonical
        ) cc ON true
        LEFT JOIN email_analysis a ON a.email_id = e.id
        LEFT JOIN email_overrides o ON o.email_id = e.id`

      const list = (userId: UserId, query: ListQuery) => {
        const f = query.filters
        // The stored sort key (migration 0071): the effective score, kept by triggers. The lists of one
        // message per row (canonical copies) read the row's own key, which emails_priority_order
        // serves without a sort; a mailbox's list shows copies, whose key is their canonical copy's.
        const score =
          f.mailboxId === undefined ? sql`e.priority_score` : sql`COALESCE(cc.priority_score, e.priority_score)`
        const conditions = [
          sql`e.user_id = ${userId}`,
          // a message once (its canonical copy), except in a mailbox's own list, which shows its copies
          ...(f.mailboxId === undefined ? [sql`e.canonical`] : []),
          ...(f.accountId === undefined ? [] : [sql`e.account_id = ${f.accountId}::uuid`]),
          ...(f.mailboxId === undefined ? [] : [sql`e.mailbox_id = ${f.mailboxId}::uuid`]),
          ...(f.threadId === undefined ? [] : [sql`e.thread_id = ${f.threadId}`]),
          ...(f.unread === undefined ? [] : [f.unread ? sql`NOT e.seen` : sql`e.seen`]),
          ...(f.dateFrom === undefined ? [] : [sql`e.mail_date >= ${f.dateFrom}`]),
          ...(f.dateTo === undefined ? [] : [sql`e.mail_date <= ${f.dateTo}`]),
          ...(f.analysisState === undefined
            ? []
            : [sql`COALESCE(cc.analysis_state, e.analysis_state) = ${f.analysisState}`]),
          ...(f.category === undefined ? [] : [sql`COALESCE(o.category, a.category) = ${f.category}`]),
          ...(f.tag === undefined ? [] : [sql`${f.tag} = ANY(COALESCE(o.tags, a.tags, '{}'))`]),
          ...(f.minScore === undefined ? [] : [sql`${score} >= ${f.minScore}`]),
          ...(f.urgency === undefined ? [] : [sql`COALESCE(o.urgency, a.urgency) = ${f.urgency}`]),
          ...(f.importance === undefined ? [] : [sql`COALESCE(o.importance, a.importance) = ${f.importance}`]),
          ...(f.spam === undefined
            ? []
            : [f.spam ? sql`COALESCE(o.spam, a.spam) IS TRUE` : sql`COALESCE(o.spam, a.spam) IS NOT TRUE`]),
          ...(query.after === undefined
            ? []
            : query.sort === "date"
              ? [sql`(e.mail_date, e.id) < (${query.after.date}, ${query.after.id}::uuid)`]
              : [
                  sql`(${score}, e.mail_date, e.id) < (${query.after.score}, ${query.after.date}, ${query.after.id}::uuid)`
                ])
        ]
        const order =
          query.sort === "date" ? sql`e.mail_date DESC, e.id DESC` : sql`${score} DESC, e.mail_date DESC, e.id DESC`
        return sql`
          SELECT ${summaryColumns}
          FROM emails e ${f.mailboxId === undefined ? canonicalJoins : joins}
          WHERE ${sql.and(conditions)}
          ORDER BY ${order}
          LIMIT ${query.limit + 1}`.pipe(
          Effect.flatMap(decodeSummaries),
          Effect.map((rows): ListPage => {
            const page = rows.slice(0, query.limit).map(toSummary)
            const last = page.at(-1)
            return {
              items: page,
              next:
                rows.length > query.limit && last !== undefined
                  ? { date: last.date, id: last.id, score: last.score ?? 0 }
                  : undefined
            }
          }),
          inScope(userId),
          Effect.withSpan("EmailStore.list", { attributes: { "emails.sort": query.sort } })
        )
      }

      const summaries = (userId: UserId, ids: ReadonlyArray<string>) =>
        ids.length === 0
          ? Effect.succeed(new Map<string, EmailSummary>())
          : sql`
              SELECT ${summaryColumns}
              FROM emails e ${joins}
              WHERE e.user_id = ${userId} AND e.id = ANY(${ids}::uuid[])`.pipe(
              Effect.flatMap(decodeSummaries),
              Effect.map((rows) => new Map(rows.map((row) => [row.id, toSummary(row)]))),
              inScope(userId),
              Effect.withSpan("EmailStore.summaries")
            )

      const detail = (userId: UserId, id: EmailId) =>
        Effect.gen(function* () {
          const rows = yield* sql`
            SELECT ${summaryColumns},
              e.message_id, e.in_reply_to, e.references_ids, e.to_addresses, e.cc_addresses, e.reply_to,
              e.sent_at, e.received_at, e.flags, e.text_body, e.html_body,
              e.analysis_attempts, e.analysis_error, e.embedding_state, e.embedding_error, e.parse_warnings,
              COALESCE(cc.id, e.id)::text AS canonical_id
            FROM emails e ${joins}
            WHERE e.user_id = ${userId} AND e.id = ${id}::uuid`.pipe(Effect.flatMap(decodeDetail))
          const row = rows[0]
          if (row === undefined) return Option.none<EmailDetail>()
          const attachments = yield* sql`
            SELECT id, position, filename, content_type, size, content_id, disposition, sha256
            FROM attachments WHERE user_id = ${userId} AND email_id = ${id}::uuid
            ORDER BY position`.pipe(Effect.flatMap(decodeAttachments))
          const [analysisRow] = yield* sql`
            SELECT COALESCE(base_urgency, urgency) AS urgency, COALESCE(base_importance, importance) AS importance,
              COALESCE(base_category, category) AS category, COALESCE(base_spam, spam) AS spam, summary,
              COALESCE(base_tags, tags) AS tags, language, provider, model, confidence, analysed_at,
              decisions, tag_suggestions
            FROM email_analysis WHERE user_id = ${userId} AND email_id = ${row.canonical_id}::uuid`.pipe(
            Effect.flatMap(decodeAnalysis)
          )
          const [overridesRow] = yield* sql`
            SELECT urgency, importance, category, spam, tags, updated_at
            FROM email_overrides WHERE user_id = ${userId} AND email_id = ${row.canonical_id}::uuid`.pipe(
            Effect.flatMap(decodeOverrides)
          )
          const copies = yield* sql`
            SELECT c.id::text AS id, c.mailbox_id::text AS mailbox_id, m.path AS mailbox_path, c.canonical
            FROM emails e
            JOIN emails c ON c.id = e.id OR (c.account_id = e.account_id AND c.message_key = e.message_key)
            JOIN mailboxes m ON m.id = c.mailbox_id
            WHERE e.user_id = ${userId} AND e.id = ${id}::uuid
            ORDER BY m.path, c.id`.pipe(Effect.flatMap(decodeCopies))
          const summary = toSummary(row)
          const analysis: AnalysisView | null =
            analysisRow === undefined
              ? null
              : (() => {
                  const score = 2 * analysisRow.urgency + analysisRow.importance
                  return {
                    urgency: analysisRow.urgency,
                    importance: analysisRow.importance,
                    score,
                    band: bandOf(score) ?? "green",
                    category: analysisRow.category,
                    spam: analysisRow.spam,
                    summary: analysisRow.summary,
                    tags: analysisRow.tags,
                    language: analysisRow.language,
                    provider: analysisRow.provider,
                    model: analysisRow.model,
                    confidence: analysisRow.confidence,
                    analysedAt: analysisRow.analysed_at
                  }
                })()
          const overrides: OverridesView | null =
            overridesRow === undefined
              ? null
              : {
                  urgency: overridesRow.urgency,
                  importance: overridesRow.importance,
                  category: overridesRow.category,
                  spam: overridesRow.spam,
                  tags: overridesRow.tags,
                  updatedAt: overridesRow.updated_at
                }
          return Option.some(
            new EmailDetail({
              ...summary,
              messageId: row.message_id,
              inReplyTo: row.in_reply_to,
              references: row.references_ids,
              to: addressesOf(row.to_addresses),
              cc: addressesOf(row.cc_addresses),
              replyTo: addressesOf(row.reply_to),
              sentAt: row.sent_at,
              receivedAt: row.received_at,
              flags: row.flags,
              text: row.text_body,
              html: row.html_body,
              attachments: attachments.map((a) => ({
                id: a.id,
                position: a.position,
                filename: a.filename,
                contentType: a.content_type,
                size: a.size,
                contentId: a.content_id,
                disposition: a.disposition,
                sha256: a.sha256
              })),
              analysis,
              overrides,
              decisions:
                analysisRow === undefined
                  ? null
                  : decisionsOf(analysisRow.decisions, overridesRow === undefined ? null : overridesRow),
              tagSuggestions: (analysisRow?.tag_suggestions ?? []).filter((tag) => !summary.tags.includes(tag)),
              analysisAttempts: row.analysis_attempts,
              analysisError: row.analysis_error,
              embeddingState: row.embedding_state,
              embeddingError: row.embedding_error,
              parseWarnings: row.parse_warnings,
              copies: copies.map((copy) => ({
                id: copy.id,
                mailboxId: copy.mailbox_id,
                mailboxPath: copy.mailbox_path,
                canonical: copy.canonical
              }))
            })
          )
        })

      const orNotFound = (id: string) => (found: Option.Option<EmailDetail>) =>
        Option.match(found, {
          onNone: () => Effect.fail(EmailNotFound.forId(id)),
          onSome: (email) => Effect.succeed(email)
        })

      const get = (userId: UserId, id: EmailId) =>
        detail(userId, id).pipe(inScope(userId), Effect.flatMap(orNotFound(id)), Effect.withSpan("EmailStore.get"))

      const correct = (userId: UserId, id: EmailId, correction: Correction) =>
        Effect.gen(function* () {
          // Locks the message: two corrections of one message apply one after the other.
          // A copy's correction is the message's: it goes to the canonical copy (migration 0057).
          const found = yield* sql`
            SELECT COALESCE(
              (SELECT c.id FROM emails c
               WHERE NOT e.canonical AND c.account_id = e.account_id AND c.message_key = e.message_key AND c.canonical),
              e.id)::text AS id
            FROM emails e WHERE e.user_id = ${userId} AND e.id = ${id}::uuid`.pipe(Effect.flatMap(decodeIds))
          const target = found[0]?.id
          if (target === undefined) return Option.none<EmailDetail>()
          yield* sql`SELECT id FROM emails WHERE user_id = ${userId} AND id = ${target}::uuid FOR UPDATE`
          const [current] = yield* sql`
            SELECT urgency, importance, category, spam, tags, updated_at
            FROM email_overrides WHERE email_id = ${target}::uuid`.pipe(Effect.flatMap(decodeOverrides))
          const pick = <K extends "urgency" | "importance" | "category" | "spam" | "tags">(key: K) =>
            correction[key] === undefined ? (current?.[key] ?? null) : correction[key]
          const accepted = correction.acceptSuggestedTag
          const tags =
            accepted === undefined
              ? pick("tags")
              : yield* Effect.gen(function* () {
                  // accepting a suggestion adds it to the tags the message shows now (a correction's,
                  // else the analysis's); the result is a tag correction, which the next training
                  // learns from as a positive example
                  const given = correction.tags === undefined ? (current?.tags ?? null) : correction.tags
                  const shown =
                    given ??
                    (yield* sql`
                      SELECT tags FROM email_analysis WHERE email_id = ${target}::uuid`.pipe(
                      Effect.flatMap(decodeTags),
                      Effect.map((rows) => rows[0]?.tags ?? [])
                    ))
                  return [...shown, accepted]
                })
          const next = {
            urgency: pick("urgency"),
            importance: pick("importance"),
            category: pick("category"),
            spam: pick("spam"),
            tags: tags === null ? null : normalizeTags(tags)
          }
          if (Object.values(next).every((value) => value === null)) {
            yield* sql`DELETE FROM email_overrides WHERE email_id = ${target}::uuid`
          } else {
            yield* sql`
              INSERT INTO email_overrides (email_id, user_id, urgency, importance, category, spam, tags, updated_at)
              VALUES (${target}::uuid, ${userId}, ${next.urgency}, ${next.importance}, ${next.category}, ${next.spam},
                ${next.tags === null ? null : sql`${next.tags}::text[]`}, now())
              ON CONFLICT (email_id) DO UPDATE SET
                urgency = EXCLUDED.urgency, importance = EXCLUDED.importance, category = EXCLUDED.category,
                spam = EXCLUDED.spam, tags = EXCLUDED.tags, updated_at = now()`
          }
          return yield* detail(userId, id)
        }).pipe(inScope(userId), Effect.flatMap(orNotFound(id)), Effect.withSpan("EmailStore.correct"))

      const resetForReprocess = (userId: UserId, id: EmailId) =>
        sql`
          UPDATE emails SET analysis_state = 'pending', analysis_attempts = 0, analysis_error = NULL,
            embedding_state = 'pending', embedding_attempts = 0, embedding_error = NULL, updated_at = now()
          WHERE user_id = ${userId} AND id = ${id}::uuid
          RETURNING id`.pipe(
          Effect.flatMap(decodeIds),
          inScope(userId),
          Effect.flatMap((rows) => (rows.length === 0 ? Effect.fail(EmailNotFound.forId(id)) : Effect.void)),
          Effect.withSpan("EmailStore.resetForReprocess")
        )

      const matrix = (userId: UserId, filters: { readonly accountId?: string | undefined }) =>
        sql`
          SELECT COALESCE(o.urgency, a.urgency) AS urgency, COALESCE(o.importance, a.importance) AS importance,
                 count(*)::int AS count
          FROM emails e ${joins}
          WHERE ${sql.and([
            sql`e.user_id = ${userId}`,
            sql`e.canonical`,
            sql`e.analysis_state = 'analysed'`,
            sql`COALESCE(o.urgency, a.urgency) IS NOT NULL`,
            sql`COALESCE(o.importance, a.importance) IS NOT NULL`,
            ...(filters.accountId === undefined ? [] : [sql`e.account_id = ${filters.accountId}::uuid`])
          ])}
          GROUP BY 1, 2
          ORDER BY 1 DESC, 2 DESC`.pipe(
          Effect.flatMap(decodeMatrix),
          inScope(userId),
          Effect.withSpan("EmailStore.matrix")
        )

      const warmUp = (connections: number) =>
        Effect.all(
          Array.from({ length: Math.max(1, connections) }, () =>
            list(nobody, { filters: {}, sort: "score", limit: 50 })
          ),
          { concurrency: "unbounded", discard: true }
        ).pipe(
          Effect.andThen(decodeSummaries([sampleRow])),
          Effect.map((rows) => rows.map(toSummary)),
          Effect.asVoid,
          Effect.withSpan("EmailStore.warmUp")
        )

      return EmailStore.of({ list, get, summaries, correct, resetForReprocess, matrix, warmUp })
    })
  )
}

/** No user has this id (a v4 UUID of zeros): under row-level security the warm-up reads no row. */
const nobody = UserId.make("00000000-0000-4000-8000-000000000000")

/** A list row as the driver returns it, for the warm-up's decoding. */
const sampleRow = {
  id: "00000000-0000-4000-8000-000000000001",
  account_id: "00000000-0000-4000-8000-000000000002",
  mailbox_id: "00000000-0000-4000-8000-000000000003",
  thread_id: "warm-up",
  subject: "warm-up",
  from_name: null,
  from_address: "warm-up@example.invalid",
  mail_date: new Date(0),
  seen: false,
  flagged: false,
  has_attachments: false,
  size: 0,
  analysis_state: "analysed",
  urgency: 1,
  importance: 1,
  category: "other",
  spam: false,
  tags: [],
  summary: null,
  corrected: false
}

const noModel: Decision = { source: "base", reason: "no personal model yet", modelVersion: null, weight: 0 }

/** Per value, who decided: the user's correction when there is one, else what the analysis recorded. */
const decisionsOf = (
  stored: Decisions | null,
  overrides: {
    readonly urgency: number | null
    readonly importance: number | null
    readonly category: string | null
    readonly spam: boolean | null
  } | null
): Decisions => {
  const pick = (key: keyof Decisions): Decision => {
    const recorded = stored?.[key] ?? noModel
    return overrides !== null && overrides[key] !== null
      ? {
          source: "correction",
          reason: "your correction of this message",
          modelVersion: recorded.modelVersion,
          weight: 0
        }
      : recorded
  }
  return { urgency: pick("urgency"), importance: pick("importance"), category: pick("category"), spam: pick("spam") }
}

/** Lower-cased, trimmed, inner whitespace collapsed, empty ones and duplicates dropped, order kept. */
export const normalizeTags = (tags: ReadonlyArray<string>): Array<string> => {
  const out: Array<string> = []
  for (const raw of tags) {
    const tag = raw.toLowerCase().split(/\s+/).filter(Boolean).join(" ")
    if (tag.length > 0 && !out.includes(tag)) out.push(tag)
  }
  return out
}
