/**
 * Rule runs and their action journal (`rule_apply_runs`, `rule_journal`, migration 0055).
 *
 * A run is one `rules.apply` job that changed something on the server. Every message it changed on
 * the server has one journal row: where it was and its flags before, where it went and its flags after
 * (UIDPLUS COPYUID, or without UIDPLUS found by Message-ID), the server actions. A copy the run made
 * (copyTo) has a row of its own, `kind: "copy"` (migration 0058): the original before, the copy after. `rules.undo` (RulesUndoProcessor.ts) reads the rows back and records the
 * outcome of the undo per row. Every query runs in the owner's `UserScope` and filters by `user_id`:
 * another user's run is not found.
 */
import { Context, Effect, Layer, Option, Schema } from "effect"
import { SqlClient, type SqlError, type Statement } from "effect/sql"
import { type DatabaseError, decodeRows } from "../platform/Database.ts"
import type { UserId } from "../contract/users/UserId.ts"
import { UserScope } from "../users/UserScope.ts"
import {
  type JournalEntry,
  JournalKind,
  type RunDetail,
  RunNotFound,
  type RunSummary,
  RunTrigger,
  UndoStatus
} from "../contract/rules/RuleSchemas.ts"
import { sqlFailure } from "./RuleStore.ts"

export const JournalLimits = { maxListed: 1000 } as const

export interface NewJournalEntry {
  /** Default `change`. */
  readonly kind?: JournalKind
  readonly emailId: string
  readonly accountId: string
  readonly subject: string | null
  readonly actions: ReadonlyArray<string>
  readonly before: {
    readonly mailbox: string
    readonly uidValidity: number
    readonly uid: number
    readonly flags: ReadonlyArray<string>
  }
  readonly after: {
    readonly mailbox: string
    readonly uidValidity: number
    readonly uid: number
    readonly flags: ReadonlyArray<string>
  }
}

export interface RunContext {
  readonly jobId: string | null
  readonly trigger: RunTrigger
  readonly confirmedCount: number | null
}

const SummaryRow = Schema.Struct({
  id: Schema.String,
  job_id: Schema.NullOr(Schema.String),
  trigger: RunTrigger,
  confirmed_count: Schema.NullOr(Schema.Number),
  undo_job_id: Schema.NullOr(Schema.String),
  undo_requested_at: Schema.NullOr(Schema.Date),
  created_at: Schema.Date,
  messages: Schema.Number,
  restored: Schema.Number
})

const JournalRow = Schema.Struct({
  id: Schema.String,
  kind: JournalKind,
  email_id: Schema.NullOr(Schema.String),
  account_id: Schema.String,
  subject: Schema.NullOr(Schema.String),
  actions: Schema.Array(Schema.String),
  mailbox_before: Schema.String,
  uid_validity_before: Schema.Number,
  uid_before: Schema.Number,
  flags_before: Schema.Array(Schema.String),
  mailbox_after: Schema.String,
  uid_validity_after: Schema.Number,
  uid_after: Schema.Number,
  flags_after: Schema.Array(Schema.String),
  undo_status: Schema.NullOr(UndoStatus),
  undo_detail: Schema.NullOr(Schema.String),
  undone_at: Schema.NullOr(Schema.Date),
  created_at: Schema.Date
})

const toSummary = (row: typeof SummaryRow.Type): RunSummary => ({
  id: row.id,
  jobId: row.job_id,
  trigger: row.trigger,
  confirmedCount: row.confirmed_count,
  messages: row.messages,
  restored: row.restored,
  undo: row.undo_requested_at === null ? null : { jobId: row.undo_job_id, requestedAt: row.undo_requested_at },
  createdAt: row.created_at
})

const toEntry = (row: typeof JournalRow.Type): JournalEntry => ({
  id: row.id,
  kind: row.kind,
  emailId: row.email_id,
  accountId: row.account_id,
  subject: row.subject,
  actions: row.actions,
  before: {
    mailbox: row.mailbox_before,
    uidValidity: row.uid_validity_before,
    uid: row.uid_before,
    flags: row.flags_before
  },
  after: {
    mailbox: row.mailbox_after,
    uidValidity: row.uid_validity_after,
    uid: row.uid_after,
    flags: row.flags_after
  },
  undo: row.undo_status === null ? null : { status: row.undo_status, detail: row.undo_detail, at: row.undone_at },
  createdAt: row.created_at
})

export interface RunJournalStoreShape {
  /** The run of this job (created on first use; a retried attempt gets the same run). */
  readonly ensureRun: (ownerId: UserId, context: RunContext) => Effect.Effect<string, DatabaseError>
  /** Appends journal rows (joins the caller's transaction in the same user's scope). */
  readonly record: (
    ownerId: UserId,
    runId: string,
    entries: ReadonlyArray<NewJournalEntry>
  ) => Effect.Effect<void, DatabaseError>
  /** Runs, newest first. */
  readonly list: (
    ownerId: UserId,
    limit: number,
    before?: { readonly createdAt: Date; readonly id: string }
  ) => Effect.Effect<ReadonlyArray<RunSummary>, DatabaseError>
  readonly get: (ownerId: UserId, runId: string) => Effect.Effect<RunDetail, RunNotFound | DatabaseError>
  /** Every journal row of the run, in order (for the undo job). */
  readonly entries: (ownerId: UserId, runId: string) => Effect.Effect<ReadonlyArray<JournalEntry>, DatabaseError>
  readonly markUndo: (
    ownerId: UserId,
    entryId: string,
    status: UndoStatus,
    detail: string | null
  ) => Effect.Effect<void, DatabaseError>
  readonly requestUndo: (ownerId: UserId, runId: string, jobId: string) => Effect.Effect<void, DatabaseError>
}

export class RunJournalStore extends Context.Service<RunJournalStore, RunJournalStoreShape>()(
  "mail-helper/RunJournalStore"
) {
  static readonly layer = Layer.effect(
    RunJournalStore,
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const scope = yield* UserScope
      const decodeSummaries = decodeRows(SummaryRow)
      const decodeEntries = decodeRows(JournalRow)

      const summaries = (ownerId: UserId, where: Statement.Fragment, limit: number) =>
        sql`
          SELECT r.id, r.job_id, r.trigger, r.confirmed_count, r.undo_job_id, r.undo_requested_at, r.created_at,
                 (SELECT count(*)::int FROM rule_journal j WHERE j.run_id = r.id AND j.user_id = ${ownerId}) AS messages,
                 (SELECT count(*)::int FROM rule_journal j
                  WHERE j.run_id = r.id AND j.user_id = ${ownerId} AND j.undo_status = 'restored') AS restored
          FROM rule_apply_runs r
          WHERE r.user_id = ${ownerId} ${where}
          ORDER BY r.created_at DESC, r.id DESC
          LIMIT ${sql.literal(String(Math.max(1, Math.min(1000, Math.trunc(limit)))))}`.pipe(
          Effect.flatMap(decodeSummaries),
          Effect.map((rows) => rows.map(toSummary))
        )

      const selectEntries = (ownerId: UserId, runId: string, limit: number) =>
        sql`
          SELECT id, kind, email_id, account_id, subject, actions, mailbox_before,
                 uid_validity_before::float8 AS uid_validity_before, uid_before::float8 AS uid_before, flags_before,
                 mailbox_after, uid_validity_after::float8 AS uid_validity_after, uid_after::float8 AS uid_after,
                 flags_after, undo_status, undo_detail, undone_at, created_at
          FROM rule_journal
          WHERE run_id = ${runId} AND user_id = ${ownerId}
          ORDER BY created_at, id
          LIMIT ${sql.literal(String(Math.max(1, Math.trunc(limit))))}`.pipe(
          Effect.flatMap(decodeEntries),
          Effect.map((rows) => rows.map(toEntry))
        )

      const inScope =
        (ownerId: UserId, span: string) =>
        <A, R>(effect: Effect.Effect<A, SqlError.SqlError | DatabaseError, R>) =>
          scope
            .run(ownerId, effect)
            .pipe(Effect.catchTag("SqlError", sqlFailure), Effect.withSpan(`RunJournalStore.${span}`))

      const ensureRun = (ownerId: UserId, context: RunContext) =>
        Effect.gen(function* () {
          if (context.jobId !== null) {
            const found = yield* sql`
              SELECT id FROM rule_apply_runs WHERE job_id = ${context.jobId} AND user_id = ${ownerId}`.pipe(
              Effect.flatMap(decodeRows(Schema.Struct({ id: Schema.String })))
            )
            if (found[0] !== undefined) return found[0].id
          }
          const rows = yield* sql`
            INSERT INTO rule_apply_runs (user_id, job_id, trigger, confirmed_count)
            VALUES (${ownerId}, ${context.jobId}, ${context.trigger}, ${context.confirmedCount})
            ON CONFLICT (job_id) DO UPDATE SET job_id = EXCLUDED.job_id
            RETURNING id`.pipe(Effect.flatMap(decodeRows(Schema.Struct({ id: Schema.String }))))
          const id = rows[0]?.id
          return id === undefined ? yield* Effect.die(new Error("INSERT INTO rule_apply_runs returned no row")) : id
        }).pipe(inScope(ownerId, "ensureRun"))

      const record = (ownerId: UserId, runId: string, entries: ReadonlyArray<NewJournalEntry>) =>
        entries.length === 0
          ? Effect.void
          : sql`
              INSERT INTO rule_journal (user_id, run_id, kind, email_id, account_id, subject, actions,
                                        mailbox_before, uid_validity_before, uid_before, flags_before,
                                        mailbox_after, uid_validity_after, uid_after, flags_after)
              SELECT ${ownerId}, ${runId}, x.kind, x.email_id, x.account_id, x.subject, x.actions,
                     x.mailbox_before, x.uid_validity_before, x.uid_before,
                     ARRAY(SELECT jsonb_array_elements_text(x.flags_before)),
                     x.mailbox_after, x.uid_validity_after, x.uid_after,
                     ARRAY(SELECT jsonb_array_elements_text(x.flags_after))
              FROM jsonb_to_recordset(${JSON.stringify(
                entries.map((e) => ({
                  kind: e.kind ?? "change",
                  email_id: e.emailId,
                  account_id: e.accountId,
                  subject: e.subject,
                  actions: e.actions,
                  mailbox_before: e.before.mailbox,
                  uid_validity_before: e.before.uidValidity,
                  uid_before: e.before.uid,
                  flags_before: e.before.flags,
                  mailbox_after: e.after.mailbox,
                  uid_validity_after: e.after.uidValidity,
                  uid_after: e.after.uid,
                  flags_after: e.after.flags
                }))
              )}::jsonb)
                AS x(kind text, email_id uuid, account_id uuid, subject text, actions jsonb, mailbox_before text,
                     uid_validity_before bigint, uid_before bigint, flags_before jsonb, mailbox_after text,
                     uid_validity_after bigint, uid_after bigint, flags_after jsonb)`.pipe(
              Effect.asVoid,
              inScope(ownerId, "record")
            )

      const list = (ownerId: UserId, limit: number, before?: { readonly createdAt: Date; readonly id: string }) =>
        summaries(
          ownerId,
          before === undefined
            ? sql``
            : sql`AND (r.created_at, r.id) < (${before.createdAt}::timestamptz, ${before.id}::uuid)`,
          limit
        ).pipe(inScope(ownerId, "list"))

      const get = (ownerId: UserId, runId: string) =>
        Effect.gen(function* () {
          const [run] = yield* summaries(ownerId, sql`AND r.id = ${runId}`, 1)
          if (run === undefined) return Option.none<RunDetail>()
          const journal = yield* selectEntries(ownerId, runId, JournalLimits.maxListed)
          return Option.some({ run, journal, journalTotal: run.messages })
        }).pipe(
          inScope(ownerId, "get"),
          Effect.flatMap(Option.match({ onNone: () => Effect.fail(RunNotFound.forId(runId)), onSome: Effect.succeed }))
        )

      const entries = (ownerId: UserId, runId: string) =>
        selectEntries(ownerId, runId, 1_000_000).pipe(inScope(ownerId, "entries"))

      const markUndo = (ownerId: UserId, entryId: string, status: UndoStatus, detail: string | null) =>
        sql`
          UPDATE rule_journal SET undo_status = ${status}, undo_detail = ${detail}, undone_at = now()
          WHERE id = ${entryId} AND user_id = ${ownerId}`.pipe(Effect.asVoid, inScope(ownerId, "markUndo"))

      const requestUndo = (ownerId: UserId, runId: string, jobId: string) =>
        sql`
          UPDATE rule_apply_runs SET undo_job_id = ${jobId}, undo_requested_at = now()
          WHERE id = ${runId} AND user_id = ${ownerId}`.pipe(Effect.asVoid, inScope(ownerId, "requestUndo"))

      return RunJournalStore.of({ ensureRun, record, list, get, entries, markUndo, requestUndo })
    })
  )
}
