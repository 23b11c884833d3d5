import { Context, Effect, Exit, Layer, Option, Request, RequestResolver, Schema } from "effect"
import { SqlClient, type SqlError } from "effect/sql"
import { DatabaseError, decodeRows, fromSqlError, SystemDatabase } from "../platform/Database.ts"
import { perJobSpan } from "../platform/Telemetry.ts"
import type { UserId } from "../contract/users/UserId.ts"
import { UserScope } from "../users/UserScope.ts"
import { JobId, JobNotFound, JobProgress, JobState, JobView } from "../contract/jobs/Job.ts"
import { WorkClass } from "../contract/jobs/JobKind.ts"

/** A row of `jobs`, as stored. */
const JobRow = Schema.Struct({
  id: JobId,
  user_id: Schema.NullOr(Schema.String),
  kind: Schema.String,
  state: JobState,
  payload: Schema.Unknown,
  progress: Schema.NullOr(JobProgress),
  result: Schema.NullOr(Schema.Unknown),
  error_code: Schema.NullOr(Schema.String),
  error_message: Schema.NullOr(Schema.String),
  attempts: Schema.Int,
  max_attempts: Schema.Int,
  trace_id: Schema.NullOr(Schema.String),
  worker: Schema.NullOr(Schema.String),
  cancel_requested_at: Schema.NullOr(Schema.Date),
  created_at: Schema.Date,
  started_at: Schema.NullOr(Schema.Date),
  finished_at: Schema.NullOr(Schema.Date),
  updated_at: Schema.Date,
  /** The class the job was submitted in (null: a record from before migration 0070). */
  work_class: Schema.NullOr(WorkClass),
  /** A joining submit asked the job to run again when it succeeds (migration 0074). */
  rerun_requested: Schema.Boolean
})
type JobRow = typeof JobRow.Type

/** A durable job record with what the worker needs beyond the API view. */
export interface JobRecord {
  readonly view: JobView
  readonly ownerId: string | null
  readonly payload: unknown
  readonly worker: string | null
  /** The class of work it was submitted in (a lowered class is kept), null for an old record. */
  readonly workClass: WorkClass | null
  /** Marked to run again when it succeeds, or (succeeded) a rerun not yet submitted (JobKind.rerunOnJoin). */
  readonly rerunRequested: boolean
}

const toRecord = (row: JobRow): JobRecord => ({
  ownerId: row.user_id,
  payload: row.payload,
  worker: row.worker,
  workClass: row.work_class,
  rerunRequested: row.rerun_requested,
  // the row was just decoded against JobRow: skip re-running the same checks
  view: new JobView(
    {
      id: row.id,
      kind: row.kind,
      state: row.state,
      progress: row.progress,
      result: row.result,
      error: row.error_code === null ? null : { code: row.error_code, message: row.error_message ?? "" },
      attempts: row.attempts,
      maxAttempts: row.max_attempts,
      cancelRequested: row.cancel_requested_at !== null,
      traceId: row.trace_id,
      createdAt: row.created_at,
      startedAt: row.started_at,
      finishedAt: row.finished_at,
      updatedAt: row.updated_at
    },
    { disableChecks: true }
  )
})

/** What a worker needs of a job it has just claimed (the hot path reads no more). */
export interface ClaimedJob {
  readonly ownerId: string | null
  readonly maxAttempts: number
  readonly progress: JobProgress | null
}

const ClaimedRow = Schema.Struct({
  id: Schema.String,
  user_id: Schema.NullOr(Schema.String),
  max_attempts: Schema.Int,
  progress: Schema.NullOr(JobProgress)
})

export interface NewJob {
  readonly id: JobId
  readonly kind: string
  readonly ownerId: UserId | null
  readonly payload: unknown
  readonly maxAttempts: number
  readonly deduplicationKey: string | null
  readonly traceId: string | null
  readonly workClass: WorkClass
}

export interface ListQuery {
  readonly state?: JobState | undefined
  readonly kind?: string | undefined
  readonly limit: number
  /** Keyset cursor: only jobs created strictly before this (created_at, id). */
  readonly before?: { readonly createdAt: Date; readonly id: string } | undefined
}

export type Outcome =
  | { readonly state: "succeeded"; readonly result: unknown }
  | { readonly state: "retrying" | "failed"; readonly code: string; readonly message: string }
  /** Back to waiting without spending an attempt (no IMAP slot of its account was free): `code` says why. */
  | { readonly state: "queued"; readonly code: string; readonly message: string }
  | { readonly state: "cancelled"; readonly message: string }

/**
 * What a final (or retrying) write did: `changed` unless the job had already ended; `rerun` when it
 * ended `succeeded` while a submit had asked it to run again (requestRerun), read in the same
 * statement as the state it wrote.
 */
export interface Finished {
  readonly changed: boolean
  readonly rerun: boolean
}

/** Which attempt an outcome ends: recorded with it when the attempt never claimed the record. */
export interface AttemptInfo {
  readonly attempt: number
  readonly worker: string
  readonly startedAt: Date
}

const UserQueueRowSchema = Schema.Struct({
  user_id: Schema.NullOr(Schema.String),
  waiting: Schema.Int,
  running: Schema.Int,
  oldest_wait_seconds: Schema.NullOr(Schema.Number)
})
export type UserQueueRow = typeof UserQueueRowSchema.Type

export interface JobStoreShape {
  /** Inserts a record, or returns the active job that holds the same de-duplication key. */
  readonly create: (
    job: NewJob
  ) => Effect.Effect<{ readonly record: JobRecord; readonly created: boolean }, DatabaseError>
  /**
   * `create` for jobs of one owner at once: one INSERT under the owner's row-level security; a job
   * whose key an active job holds gets that job (looked up only when some did), in the input's order.
   */
  readonly createMany: (
    ownerId: UserId | null,
    jobs: ReadonlyArray<NewJob>
  ) => Effect.Effect<ReadonlyArray<{ readonly record: JobRecord; readonly created: boolean }>, DatabaseError>
  readonly get: (ownerId: UserId, id: string) => Effect.Effect<JobRecord, JobNotFound | DatabaseError>
  readonly list: (ownerId: UserId, query: ListQuery) => Effect.Effect<ReadonlyArray<JobRecord>, DatabaseError>
  /** The owner's queued or running job of a kind that holds a (stored) de-duplication key. */
  readonly findActive: (
    ownerId: UserId,
    kind: string,
    deduplicationKey: string
  ) => Effect.Effect<Option.Option<JobRecord>, DatabaseError>
  /** Unscoped reads for the worker and for operators (never behind a user's request). */
  readonly find: (id: string) => Effect.Effect<Option.Option<JobRecord>, DatabaseError>
  readonly listUnfinished: (limit: number) => Effect.Effect<ReadonlyArray<JobRecord>, DatabaseError>
  /**
   * `queued` and `retrying` records unchanged for longer than `graceMillis`, oldest first, after the
   * keyset cursor: what the reconciler checks against the queue.
   */
  readonly listWaiting: (
    graceMillis: number,
    limit: number,
    after?: { readonly updatedAt: Date; readonly id: string }
  ) => Effect.Effect<ReadonlyArray<JobRecord>, DatabaseError>
  /** Claims the record for an attempt unless it ended or a cancel was requested (then none). */
  readonly markRunning: (id: string, attempt: AttemptInfo) => Effect.Effect<Option.Option<ClaimedJob>, DatabaseError>
  readonly saveProgress: (id: string, progress: JobProgress) => Effect.Effect<void, DatabaseError>
  /** Records an outcome unless the job already ended. */
  readonly finish: (
    id: string,
    outcome: Outcome,
    /** Progress not yet written, saved in the same statement. */
    progress?: JobProgress,
    /** The attempt it ends; sets attempts, worker and started_at as a claim would have. */
    attempt?: AttemptInfo
  ) => Effect.Effect<Finished, DatabaseError>
  /**
   * Marks the owner's active job to run again when it succeeds (JobKind.rerunOnJoin), under the
   * owner's row-level security; false when the job already ended (the caller submits anew). The row
   * lock orders it with the job's final write, which reads the mark in the same statement.
   */
  readonly requestRerun: (ownerId: UserId | null, id: string) => Effect.Effect<boolean, DatabaseError>
  /** Clears a succeeded job's rerun mark once its rerun was submitted. */
  readonly clearRerun: (id: string) => Effect.Effect<void, DatabaseError>
  /**
   * Succeeded records still marked to run again, ended longer than `graceMillis` ago, oldest first:
   * the reruns a worker did not submit (it died after the final write), for the reconciler.
   */
  readonly listRerunsDue: (graceMillis: number, limit: number) => Effect.Effect<ReadonlyArray<JobRecord>, DatabaseError>
  readonly requestCancel: (id: string) => Effect.Effect<void, DatabaseError>
  readonly remove: (id: string) => Effect.Effect<void, DatabaseError>
  /**
   * Per owner with unfinished jobs (system jobs as null): waiting (queued or retrying) and running
   * counts and the seconds the oldest queued job has waited, most waiting first. For administrators.
   */
  readonly userQueueStats: (limit: number) => Effect.Effect<ReadonlyArray<UserQueueRow>, DatabaseError>
  /** Deletes finished records older than the given age; returns how many. */
  readonly prune: (olderThanDays: number) => Effect.Effect<number, DatabaseError>
}

const unfinished = ["queued", "running", "retrying"] as const

/** How long a claim or final state waits for others to share its statement, and how many may. */
const batchWindow = "2 millis"
const maxBatch = 200

/**
 * The batch's ids once more as an array literal: the planner cannot see how many rows
 * jsonb_to_recordset yields and, with many unfinished jobs, hash-joined all of them;
 * `id = ANY(array)` makes it look the few rows up by primary key.
 */
const uuidArray = (ids: ReadonlyArray<string>) => `{${ids.join(",")}}`

class ClaimJob extends Request.Class<
  {
    readonly claim: { readonly id: string; readonly attempt: number; readonly worker: string; readonly started: string }
  },
  Option.Option<ClaimedJob>,
  DatabaseError
> {}

class FinishJob extends Request.Class<
  {
    readonly row: {
      readonly id: string
      readonly state: JobState
      readonly result: unknown
      readonly progress: JobProgress | null
      readonly code: string | null
      readonly message: string | null
      readonly terminal: boolean
      readonly attempt: number | null
      readonly worker: string | null
      readonly started: string | null
    }
  },
  Finished,
  DatabaseError
> {}

export class JobStore extends Context.Service<JobStore, JobStoreShape>()("mail-helper/JobStore") {
  static readonly layer = Layer.effect(
    JobStore,
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const decode = decodeRows(JobRow)
      const decodeClaimed = decodeRows(ClaimedRow)
      const records = (rows: ReadonlyArray<unknown>) => Effect.map(decode(rows), (rs) => rs.map(toRecord))
      const first = (rows: ReadonlyArray<unknown>) => Effect.map(records(rows), (rs) => Option.fromNullishOr(rs[0]))
      const dbError = <A, R>(effect: Effect.Effect<A, SqlError.SqlError, R>) => Effect.mapError(effect, fromSqlError)
      // Row-level security (docs/security.md): a user's reads and writes run in that user's scope;
      // the worker's bookkeeping by job id, system jobs and clean-up take the explicit system path.
      const scope = yield* UserScope
      const asOwner =
        (ownerId: UserId | null) =>
        <A, E, R>(effect: Effect.Effect<A, E, R>) =>
          ownerId === null ? scope.system("JobStore: system job", effect) : scope.run(ownerId, effect)
      // The worker's bookkeeping touches one row by id per statement: the system pool runs each
      // statement on its own, without the transaction UserScope.system needs to switch roles.
      const system = yield* SystemDatabase
      const traced = (what: string) => Effect.withSpan(`JobStore.${what}`, undefined, perJobSpan)

      const insertOrFindActive = (job: NewJob) =>
        Effect.gen(function* () {
          const inserted = yield* sql`
            INSERT INTO jobs (id, user_id, kind, payload, max_attempts, deduplication_key, trace_id, work_class)
            VALUES (${job.id}, ${job.ownerId}, ${job.kind}, ${JSON.stringify(job.payload)}::jsonb,
                    ${job.maxAttempts}, ${job.deduplicationKey}, ${job.traceId}, ${job.workClass})
            ON CONFLICT (kind, deduplication_key)
              WHERE deduplication_key IS NOT NULL AND state IN ('queued', 'running', 'retrying')
            DO NOTHING
            RETURNING *`.pipe(Effect.flatMap(first))
          if (Option.isSome(inserted)) return Option.some({ record: inserted.value, created: true })
          const existing = yield* sql`
            SELECT * FROM jobs
            WHERE kind = ${job.kind} AND deduplication_key = ${job.deduplicationKey}
              AND state IN ${sql.in(unfinished)}`.pipe(Effect.flatMap(first))
          return Option.map(existing, (record) => ({ record, created: false }))
        })

      const create = (job: NewJob): Effect.Effect<{ record: JobRecord; created: boolean }, DatabaseError> =>
        Effect.gen(function* () {
          // The active holder of the key can finish between our insert and our select; then simply try again.
          for (let attempt = 0; attempt < 5; attempt++) {
            const outcome = yield* insertOrFindActive(job).pipe(asOwner(job.ownerId))
            if (Option.isSome(outcome)) return outcome.value
          }
          return yield* Effect.die(new Error(`job de-duplication kept racing for kind ${job.kind}`))
        }).pipe(dbError, Effect.withSpan("JobStore.create", { attributes: { "job.kind": job.kind } }, perJobSpan))

      const createMany = (ownerId: UserId | null, jobs: ReadonlyArray<NewJob>) =>
        Effect.gen(function* () {
          if (jobs.length === 0) return []
          const rows = jobs.map((job) => ({
            id: job.id,
            user_id: ownerId,
            kind: job.kind,
            payload: job.payload,
            max_attempts: job.maxAttempts,
            deduplication_key: job.deduplicationKey,
            trace_id: job.traceId,
            work_class: job.workClass
          }))
          const inserted = yield* sql`
            INSERT INTO jobs (id, user_id, kind, payload, max_attempts, deduplication_key, trace_id, work_class)
            SELECT v.id, v.user_id, v.kind, v.payload, v.max_attempts, v.deduplication_key, v.trace_id, v.work_class
            FROM jsonb_to_recordset(${JSON.stringify(rows)}::jsonb)
              AS v(id uuid, user_id uuid, kind text, payload jsonb, max_attempts integer, deduplication_key text,
                trace_id text, work_class text)
            ON CONFLICT (kind, deduplication_key)
              WHERE deduplication_key IS NOT NULL AND state IN ('queued', 'running', 'retrying')
            DO NOTHING
            RETURNING *`.pipe(Effect.flatMap(records), asOwner(ownerId), dbError)
          const byId = new Map(inserted.map((record) => [record.view.id, record]))
          const result: Array<{ record: JobRecord; created: boolean }> = []
          for (const job of jobs) {
            const record = byId.get(job.id)
            // a key held by an active job (or by an earlier job of this batch): that job, as `create` answers
            result.push(record === undefined ? yield* create(job) : { record, created: true })
          }
          return result
        }).pipe(Effect.withSpan("JobStore.createMany", { attributes: { "jobs.count": jobs.length } }, perJobSpan))

      const get = (ownerId: UserId, id: string) =>
        sql`SELECT * FROM jobs WHERE id = ${id} AND user_id = ${ownerId}`.pipe(
          Effect.flatMap(first),
          asOwner(ownerId),
          dbError,
          Effect.flatMap(Option.match({ onNone: () => Effect.fail(JobNotFound.forId(id)), onSome: Effect.succeed })),
          Effect.withSpan("JobStore.get")
        )

      const findActive = (ownerId: UserId, kind: string, deduplicationKey: string) =>
        sql`
          SELECT * FROM jobs
          WHERE user_id = ${ownerId} AND kind = ${kind} AND deduplication_key = ${deduplicationKey}
            AND state IN ${sql.in(unfinished)}`.pipe(
          Effect.flatMap(first),
          asOwner(ownerId),
          dbError,
          Effect.withSpan("JobStore.findActive")
        )

      const list = (ownerId: UserId, query: ListQuery) =>
        sql`
          SELECT * FROM jobs
          WHERE user_id = ${ownerId}
            ${query.state === undefined ? sql`` : sql`AND state = ${query.state}`}
            ${query.kind === undefined ? sql`` : sql`AND kind = ${query.kind}`}
            ${query.before === undefined ? sql`` : sql`AND (created_at, id) < (${query.before.createdAt}, ${query.before.id})`}
          ORDER BY created_at DESC, id DESC
          LIMIT ${query.limit}`.pipe(
          Effect.flatMap(records),
          asOwner(ownerId),
          dbError,
          Effect.withSpan("JobStore.list")
        )

      const find = (id: string) =>
        system`SELECT * FROM jobs WHERE id = ${id}`.pipe(Effect.flatMap(first), dbError, traced("find"))

      const listUnfinished = (limit: number) =>
        system`SELECT * FROM jobs WHERE state IN ${system.in(unfinished)} ORDER BY created_at LIMIT ${limit}`.pipe(
          Effect.flatMap(records),
          dbError,
          traced("listUnfinished")
        )

      const listWaiting = (graceMillis: number, limit: number, after?: { updatedAt: Date; id: string }) =>
        system`
          SELECT * FROM jobs
          WHERE state IN ('queued', 'retrying')
            AND updated_at < now() - make_interval(secs => ${graceMillis / 1000})
            ${after === undefined ? system`` : system`AND (updated_at, id) > (${after.updatedAt}, ${after.id})`}
          ORDER BY updated_at, id
          LIMIT ${limit}`.pipe(Effect.flatMap(records), dbError, traced("listWaiting"))

      // Claims and final states of concurrent jobs are written in batches (group commit): at
      // a few thousand jobs per second one statement per job would cost more than the jobs.
      const claimResolver = RequestResolver.make<ClaimJob>((entries) =>
        system`
          UPDATE jobs SET state = 'running', attempts = v.attempt, worker = v.worker,
            started_at = COALESCE(jobs.started_at, v.started), updated_at = now(),
            error_code = NULL, error_message = NULL
          FROM jsonb_to_recordset(${JSON.stringify(entries.map((entry) => entry.request.claim))}::jsonb)
            AS v(id uuid, attempt integer, worker text, started timestamptz)
          WHERE jobs.id = v.id AND jobs.id = ANY(${uuidArray(entries.map((entry) => entry.request.claim.id))}::uuid[])
            AND jobs.state IN ${system.in(unfinished)} AND jobs.cancel_requested_at IS NULL
          RETURNING jobs.id, jobs.user_id, jobs.max_attempts, jobs.progress`.pipe(
          Effect.flatMap(decodeClaimed),
          dbError,
          Effect.match({
            onFailure: (error) => {
              for (const entry of entries) entry.completeUnsafe(Exit.fail(error))
            },
            onSuccess: (claimed) => {
              const byId = new Map<string, ClaimedJob>(
                claimed.map((row) => [
                  row.id,
                  { ownerId: row.user_id, maxAttempts: row.max_attempts, progress: row.progress }
                ])
              )
              for (const entry of entries) {
                entry.completeUnsafe(Exit.succeed(Option.fromNullishOr(byId.get(entry.request.claim.id))))
              }
            }
          }),
          traced("markRunning")
        )
      ).pipe(RequestResolver.setDelay(batchWindow), RequestResolver.batchN(maxBatch))

      const markRunning = (id: string, attempt: AttemptInfo) =>
        Effect.request(
          new ClaimJob({
            claim: { id, attempt: attempt.attempt, worker: attempt.worker, started: attempt.startedAt.toISOString() }
          }),
          claimResolver
        )

      const finishResolver = RequestResolver.make<FinishJob>((entries) =>
        system`
          UPDATE jobs SET state = v.state, result = v.result,
            progress = COALESCE(v.progress, jobs.progress),
            error_code = v.code, error_message = v.message,
            finished_at = CASE WHEN v.terminal THEN now() ELSE NULL END, updated_at = now(),
            attempts = COALESCE(v.attempt, jobs.attempts), worker = COALESCE(v.worker, jobs.worker),
            started_at = COALESCE(jobs.started_at, v.started)
          FROM jsonb_to_recordset(${JSON.stringify(entries.map((entry) => entry.request.row))}::jsonb)
            AS v(id uuid, state text, result jsonb, progress jsonb, code text, message text, terminal boolean,
              attempt integer, worker text, started timestamptz)
          WHERE jobs.id = v.id AND jobs.id = ANY(${uuidArray(entries.map((entry) => entry.request.row.id))}::uuid[])
            AND jobs.state IN ${system.in(unfinished)}
          RETURNING jobs.id, jobs.state = 'succeeded' AND jobs.rerun_requested AS rerun`.pipe(
          dbError,
          Effect.match({
            onFailure: (error) => {
              for (const entry of entries) entry.completeUnsafe(Exit.fail(error))
            },
            onSuccess: (rows) => {
              // the mark as the row holds it under this statement's lock: a submit's mark either
              // committed before (seen here) or waits and then finds the job ended
              const written = new Map(rows.map((row) => [String(row["id"]), row["rerun"] === true]))
              for (const entry of entries) {
                const rerun = written.get(entry.request.row.id)
                entry.completeUnsafe(Exit.succeed({ changed: rerun !== undefined, rerun: rerun === true }))
              }
            }
          }),
          traced("finish")
        )
      ).pipe(RequestResolver.setDelay(batchWindow), RequestResolver.batchN(maxBatch))

      // `queued` too: a first delivery runs before its record is claimed (WorkerRuntime's late claim),
      // and a progress write in that window was lost, leaving a finished job without its progress
      const saveProgress = (id: string, progress: JobProgress) =>
        system`
          UPDATE jobs SET progress = ${JSON.stringify(progress)}::jsonb, updated_at = now()
          WHERE id = ${id} AND state IN ('queued', 'running')`.pipe(Effect.asVoid, dbError, traced("saveProgress"))

      const finish = (id: string, outcome: Outcome, progress?: JobProgress, attempt?: AttemptInfo) =>
        Effect.request(
          new FinishJob({
            row: {
              id,
              state: outcome.state,
              result: outcome.state === "succeeded" ? (outcome.result ?? null) : null,
              progress: progress ?? null,
              code: outcome.state === "succeeded" ? null : outcome.state === "cancelled" ? "cancelled" : outcome.code,
              message: outcome.state === "succeeded" ? null : outcome.message,
              terminal: outcome.state !== "retrying" && outcome.state !== "queued",
              attempt: attempt?.attempt ?? null,
              worker: attempt?.worker ?? null,
              started: attempt?.startedAt.toISOString() ?? null
            }
          }),
          finishResolver
        )

      const requestRerun = (ownerId: UserId | null, id: string) =>
        sql`
          UPDATE jobs SET rerun_requested = true
          WHERE id = ${id} AND state IN ${sql.in(unfinished)}
          RETURNING id`.pipe(
          Effect.map((rows) => rows.length > 0),
          asOwner(ownerId),
          dbError,
          traced("requestRerun")
        )

      const clearRerun = (id: string) =>
        system`UPDATE jobs SET rerun_requested = false WHERE id = ${id} AND rerun_requested`.pipe(
          Effect.asVoid,
          dbError,
          traced("clearRerun")
        )

      const listRerunsDue = (graceMillis: number, limit: number) =>
        system`
          SELECT * FROM jobs
          WHERE rerun_requested AND state = 'succeeded'
            AND finished_at < now() - make_interval(secs => ${graceMillis / 1000})
          ORDER BY finished_at, id
          LIMIT ${limit}`.pipe(Effect.flatMap(records), dbError, traced("listRerunsDue"))

      const requestCancel = (id: string) =>
        system`
          UPDATE jobs SET cancel_requested_at = COALESCE(cancel_requested_at, now()), updated_at = now()
          WHERE id = ${id} AND state IN ${system.in(unfinished)}`.pipe(Effect.asVoid, dbError, traced("requestCancel"))

      const remove = (id: string) =>
        system`DELETE FROM jobs WHERE id = ${id}`.pipe(Effect.asVoid, dbError, traced("remove"))

      const decodeUserQueue = decodeRows(UserQueueRowSchema)
      const userQueueStats = (limit: number) =>
        system`
          SELECT user_id,
            (count(*) FILTER (WHERE state IN ('queued', 'retrying')))::int AS waiting,
            (count(*) FILTER (WHERE state = 'running'))::int AS running,
            extract(epoch FROM now() - min(created_at) FILTER (WHERE state = 'queued'))::float8 AS oldest_wait_seconds
          FROM jobs WHERE state IN ${system.in(unfinished)}
          GROUP BY user_id
          ORDER BY waiting DESC, running DESC
          LIMIT ${limit}`.pipe(Effect.flatMap(decodeUserQueue), dbError, traced("userQueueStats"))

      const prune = (olderThanDays: number) =>
        system<{ readonly n: number }>`
          WITH gone AS (
            DELETE FROM jobs WHERE finished_at < now() - make_interval(days => ${olderThanDays}) RETURNING 1
          ) SELECT count(*)::int AS n FROM gone`.pipe(
          Effect.map((rows) => rows[0]?.n ?? 0),
          dbError,
          traced("prune")
        )

      return JobStore.of({
        create,
        createMany,
        get,
        list,
        findActive,
        find,
        listUnfinished,
        listWaiting,
        markRunning,
        saveProgress,
        finish,
        requestRerun,
        clearRerun,
        listRerunsDue,
        requestCancel,
        remove,
        userQueueStats,
        prune
      })
    })
  )
}

export { DatabaseError }
