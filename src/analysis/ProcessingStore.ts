import { Array as Arr, Context, Effect, Layer, Schema } from "effect"
import { SqlClient, type SqlError, type Statement } from "effect/sql"
import { lockEmailRowIds, lockEmailRows } from "../platform/rowLocks.ts"
import { decodeRows } from "../platform/Database.ts"
import { AnalyzeMailJob } from "../contract/jobs/AnalyzeMailJob.ts"
import { EmbedMailJob } from "../contract/jobs/EmbedMailJob.ts"
import { UserId } from "../contract/users/UserId.ts"
import { UserScope } from "../users/UserScope.ts"
import type { AnalysisInput, ProviderAnalysis } from "../contract/analysis/Analysis.ts"
import { normalize, packQ8, vectorLiteral } from "./embeddingCodec.ts"
import { addressesOf, analysisHeadersOf } from "./mailFields.ts"
import type { Scored } from "./personal/scoring.ts"

/**
 * The database side of the `mail.analyze` and `mail.embed` jobs: which of a
 * user's messages are due, their text, and the outcomes. Every statement runs
 * in the owner's scope (row-level security); no statement holds a transaction
 * open while a provider is called.
 *
 * Outcomes are written idempotently: a result lands only on a message that is
 * still pending, the analysis row is upserted on its natural key (email_id),
 * so a rerun after a crash creates no duplicates and redoes nothing finished.
 *
 * Claims (migrations 0072, 0073): a job takes its batch with a claim that expires
 * (`analysis_claimed_until` / `embedding_claimed_until`) and names its holder, the
 * job's record id (`*_claimed_by`), selected and stamped in one statement under
 * `FOR NO KEY UPDATE SKIP LOCKED`, so two jobs of one owner never take the same
 * pending message while its claim runs. A job takes what is unclaimed, expired or
 * its own: the next attempt of a job whose process died takes its batch back at
 * once. Writing an outcome clears claim and holder; a job that ends before writing
 * releases what it still holds (and nothing another job holds), waiting for a row
 * another writer holds rather than skipping it; other jobs wait for a dead job's
 * claims to expire, and the worker's sweep (PendingMailSweep.ts) queues a job for
 * mail left pending with no job to take it.
 */

/**
 * A job's claim on the batches it reads: `holder` is the job's record id (`CurrentJob.id`, the same
 * over the job's attempts), `seconds` how long the claim holds (MAIL_CLAIM_SECONDS).
 */
export interface Claim {
  readonly holder: string
  readonly seconds: number
}

/** Which messages a job looks at: all of the owner's, or some ids, or one account's. */
export interface Selection {
  readonly emailIds?: ReadonlyArray<string> | undefined
  readonly accountId?: string | undefined
}

export interface PendingAnalysis {
  readonly id: string
  readonly input: AnalysisInput
}

export type AnalysisOutcome =
  /** `personal`: the blend with the owner's personal models (null: none yet; the provider's values stand). */
  | {
      readonly _tag: "analysed"
      readonly id: string
      readonly result: ProviderAnalysis
      readonly personal?: Scored | null | undefined
    }
  /** The message cannot be analysed (invalid model output, a request the provider refuses): marked failed. */
  | { readonly _tag: "failed"; readonly id: string; readonly reason: string }
  /** A transient failure: the attempt and reason are recorded, the message stays pending. */
  | { readonly _tag: "deferred"; readonly id: string; readonly reason: string }

export interface EmbeddingCandidate {
  readonly id: string
  readonly text: string
}

export type EmbeddingOutcome =
  | { readonly _tag: "embedded"; readonly id: string; readonly vector: ReadonlyArray<number> }
  | { readonly _tag: "failed"; readonly id: string; readonly reason: string }
  | { readonly _tag: "deferred"; readonly id: string; readonly reason: string }

/**
 * `pending`: messages whose embedding state is pending. `refresh`: every
 * selected message that has no vector of `model` written at or after
 * `before` (a re-embed for a model change), walked in id order after `afterId`.
 */
export type EmbeddingMode =
  | { readonly _tag: "pending" }
  | { readonly _tag: "refresh"; readonly model: string; readonly before: Date; readonly afterId: string | null }

/** Longest message text read for analysis; the providers cut it further to their own budgets. */
export const ANALYSIS_TEXT_MAX_CHARS = 100_000
const REASON_MAX_CHARS = 1_000

/** Namespace of the per-user advisory lock embedding writers take (see migration 0031). */
export const EMBEDDING_LOCK_NAMESPACE = 0x4d48_4531

const AnalysisRow = Schema.Struct({
  id: Schema.String,
  subject: Schema.NullOr(Schema.String),
  from_name: Schema.NullOr(Schema.String),
  from_address: Schema.NullOr(Schema.String),
  to_addresses: Schema.Unknown,
  mail_date: Schema.Date,
  text_body: Schema.NullOr(Schema.String),
  headers: Schema.Unknown,
  has_attachments: Schema.Boolean,
  attachment_names: Schema.Array(Schema.String)
})
type AnalysisRow = typeof AnalysisRow.Type

const EmbeddingRow = Schema.Struct({
  id: Schema.String,
  subject: Schema.NullOr(Schema.String),
  from_name: Schema.NullOr(Schema.String),
  body: Schema.String
})

const Count = Schema.Struct({ n: Schema.Number })
const Ids = Schema.Struct({ id: Schema.String })

const toInput = (row: AnalysisRow): AnalysisInput => ({
  subject: row.subject ?? "",
  from: {
    ...(row.from_name === null ? {} : { name: row.from_name }),
    address: row.from_address ?? ""
  },
  to: addressesOf(row.to_addresses)
    .map((a) => a.address)
    .filter((a): a is string => a !== null),
  date: row.mail_date,
  text: row.text_body ?? "",
  headers: analysisHeadersOf(row.headers),
  hasAttachments: row.has_attachments || row.attachment_names.length > 0,
  attachmentNames: row.attachment_names
})

const clip = (reason: string): string => (reason.length > REASON_MAX_CHARS ? reason.slice(0, REASON_MAX_CHARS) : reason)

/** What one saveAnalysis call changed. */
export interface SavedAnalysis {
  readonly analysed: number
  readonly failed: number
  /** The messages this call marked analysed. */
  readonly analysedIds: ReadonlyArray<string>
  /** The messages this call marked failed. */
  readonly failedIds: ReadonlyArray<string>
}

/** Gives up `holder`'s claims on `ids` (see `releaseAnalysisClaims`). */
type ReleaseClaims = (
  owner: UserId,
  holder: string,
  ids: ReadonlyArray<string>
) => Effect.Effect<void, SqlError.SqlError>

export interface ProcessingStoreShape {
  readonly countAnalysisPending: (owner: UserId, selection: Selection) => Effect.Effect<number, SqlError.SqlError>
  /**
   * Claims up to `limit` pending messages for `claim.holder`, `claim.seconds` long, oldest first: none of
   * `exclude` (a job's batch in flight), none another job holds (an unexpired claim of another holder, or
   * a row locked right now: skipped). The holder's own unexpired claims are taken again: the batch an
   * earlier attempt of the same job read before its process died.
   */
  readonly claimAnalysis: (
    owner: UserId,
    selection: Selection,
    limit: number,
    claim: Claim,
    exclude?: ReadonlyArray<string>
  ) => Effect.Effect<ReadonlyArray<PendingAnalysis>, SqlError.SqlError>
  /**
   * Whether pending messages that `holder` could claim and none of `exclude` are left: a claim that took
   * none of them skipped rows another transaction held locked at that moment (SKIP LOCKED never waits).
   */
  readonly analysisLockedOut: (
    owner: UserId,
    selection: Selection,
    holder: string,
    exclude: ReadonlyArray<string>
  ) => Effect.Effect<boolean, SqlError.SqlError>
  /**
   * Gives up `holder`'s claims on `ids` (read, not written: the job ends early); a claim another job
   * holds is left as it is. A row another transaction holds locked is waited for (in the writers' lock
   * order), not skipped: its claim is cleared once the lock goes, not left to expire.
   */
  readonly releaseAnalysisClaims: ReleaseClaims
  /**
   * Saves the outcomes of messages still pending; a message another job (or an earlier attempt) already
   * moved out of pending is left as it is. Returns the ids this call moved, so that each message is
   * announced (and handed to rules) once even when two jobs analysed it.
   */
  readonly saveAnalysis: (
    owner: UserId,
    outcomes: ReadonlyArray<AnalysisOutcome>
  ) => Effect.Effect<SavedAnalysis, SqlError.SqlError>
  readonly countEmbedding: (
    owner: UserId,
    selection: Selection,
    mode: EmbeddingMode
  ) => Effect.Effect<number, SqlError.SqlError>
  /**
   * Up to `limit` messages to embed. `pending` mode claims them with `claim`, as `claimAnalysis` does;
   * a `refresh` walk (one per owner, by its key) takes no claim and skips none.
   */
  readonly embeddingCandidates: (
    owner: UserId,
    selection: Selection,
    mode: EmbeddingMode,
    limit: number,
    maxChars: number,
    claim: Claim,
    exclude?: ReadonlyArray<string>
  ) => Effect.Effect<ReadonlyArray<EmbeddingCandidate>, SqlError.SqlError>
  /** As `analysisLockedOut`, for `pending` embeddings (a `refresh` walk skips nothing: false). */
  readonly embeddingLockedOut: (
    owner: UserId,
    selection: Selection,
    mode: EmbeddingMode,
    holder: string,
    exclude: ReadonlyArray<string>
  ) => Effect.Effect<boolean, SqlError.SqlError>
  /** As `releaseAnalysisClaims`, for embeddings. */
  readonly releaseEmbeddingClaims: ReleaseClaims
  readonly saveEmbeddings: (
    owner: UserId,
    model: string,
    outcomes: ReadonlyArray<EmbeddingOutcome>
  ) => Effect.Effect<{ readonly embedded: number; readonly failed: number }, SqlError.SqlError>
  /**
   * Owners whose pending mail no job holds or will take: pending (canonical copy), unclaimed or its
   * claim expired, stored and last changed over a minute ago, and no unfinished job of that kind (a
   * queued, running or retrying one takes it, a bulk job that yielded too). As the system role.
   */
  readonly ownersWithUnheldPendingMail: Effect.Effect<ReadonlyArray<UnheldPending>, SqlError.SqlError>
}

/** An owner with pending mail no job holds or will take (the worker's sweep, PendingMailSweep.ts). */
export const UnheldPending = Schema.Struct({ owner: UserId, analysis: Schema.Boolean, embedding: Schema.Boolean })
export type UnheldPending = typeof UnheldPending.Type

// the sweep leaves mail this young alone: fresh mail's own jobs are queued right after its store
const SWEEP_GRACE_SECONDS = 60

export class ProcessingStore extends Context.Service<ProcessingStore, ProcessingStoreShape>()(
  "mail-helper/ProcessingStore"
) {
  static readonly layer = Layer.effect(
    ProcessingStore,
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const scope = yield* UserScope
      const decodeAnalysis = decodeRows(AnalysisRow)
      const decodeEmbedding = decodeRows(EmbeddingRow)
      const decodeCount = decodeRows(Count)
      const decodeIds = decodeRows(Ids)

      // one message, several copies (migration 0057): only the canonical copy is analysed and
      // embedded; the other copies show its results
      const selectionFilter = (selection: Selection) =>
        sql.and([
          sql`e.canonical`,
          selection.emailIds === undefined ? sql`TRUE` : sql`e.id = ANY(${selection.emailIds}::uuid[])`,
          selection.accountId === undefined ? sql`TRUE` : sql`e.account_id = ${selection.accountId}::uuid`
        ])

      const notIn = (exclude: ReadonlyArray<string> | undefined) =>
        exclude === undefined || exclude.length === 0 ? sql`` : sql`AND NOT (e.id = ANY(${exclude}::uuid[]))`

      const countOf = (rows: ReadonlyArray<unknown>) => Effect.map(decodeCount(rows), (rs) => rs[0]?.n ?? 0)

      const analysisDue = (owner: UserId, selection: Selection) =>
        sql`e.user_id = ${owner} AND e.analysis_state = 'pending' AND ${selectionFilter(selection)}`

      const countAnalysisPending = (owner: UserId, selection: Selection) =>
        scope.run(
          owner,
          sql`SELECT count(*)::int AS n FROM emails e WHERE ${analysisDue(owner, selection)}`.pipe(
            Effect.flatMap(countOf)
          )
        )

      /** A claim's two columns: until when it holds, and the job that holds it (migrations 0072, 0073). */
      type ClaimColumns = { readonly until: string; readonly by: string }
      const analysisClaim: ClaimColumns = { until: "analysis_claimed_until", by: "analysis_claimed_by" }
      const embeddingClaim: ClaimColumns = { until: "embedding_claimed_until", by: "embedding_claimed_by" }

      /**
       * The `due` messages `holder` may claim, none of `exclude`: unclaimed, their claim expired, or claimed
       * by `holder` itself (an earlier attempt of the same job, whose process died with the batch).
       */
      const claimable = (
        columns: ClaimColumns,
        due: Statement.Fragment,
        holder: string,
        exclude: ReadonlyArray<string> | undefined
      ) => sql`${due}
        AND (e.${sql(columns.until)} IS NULL OR e.${sql(columns.until)} <= now() OR e.${sql(columns.by)} = ${holder}::uuid)
        ${notIn(exclude)}`

      /** The CTE `claimed(id)`: up to `limit` of the `due` messages, oldest first, claimed (see claimAnalysis). */
      const claimedBatch = (
        columns: ClaimColumns,
        due: Statement.Fragment,
        limit: number,
        claim: Claim,
        exclude: ReadonlyArray<string> | undefined
      ) => sql`
        WITH picked AS MATERIALIZED (
          SELECT e.id FROM emails e
          WHERE ${claimable(columns, due, claim.holder, exclude)}
          ORDER BY e.created_at, e.id
          LIMIT ${limit}
          FOR NO KEY UPDATE SKIP LOCKED),
        claimed AS (
          UPDATE emails c SET ${sql(columns.until)} = now() + make_interval(secs => ${claim.seconds}),
            ${sql(columns.by)} = ${claim.holder}::uuid
          FROM picked WHERE c.id = picked.id
          RETURNING c.id)`

      // The batch is chosen, locked and stamped in one statement. The pick walks the partial pending
      // index in its order (created_at, id), drops rows whose claim runs for another job and skips rows another
      // transaction has locked (SKIP LOCKED: this statement never waits on a row lock, so it cannot
      // close a deadlock cycle, src/platform/rowLocks.ts); the UPDATE touches only the rows it locked.
      // The pick is MATERIALIZED, evaluated once: as a subquery in the UPDATE's FROM it was rescanned
      // per row of a nested loop, each rescan skipped the rows the UPDATE had just changed (they
      // count as locked) and took the next ones, and a claim of 5 stamped all 12 pending messages.
      // The outer SELECT reads the text from the statement's snapshot (the claim changes no text).
      const claimAnalysis = (
        owner: UserId,
        selection: Selection,
        limit: number,
        claim: Claim,
        exclude?: ReadonlyArray<string>
      ) =>
        scope.run(
          owner,
          sql`
            ${claimedBatch(analysisClaim, analysisDue(owner, selection), limit, claim, exclude)}
            SELECT e.id, e.subject, e.from_name, e.from_address, e.to_addresses, e.mail_date,
              left(e.text_body, ${ANALYSIS_TEXT_MAX_CHARS}) AS text_body, e.headers, e.has_attachments,
              COALESCE(
                (SELECT array_agg(left(a.filename, 200) ORDER BY a.position) FROM attachments a
                 WHERE a.email_id = e.id AND a.filename IS NOT NULL),
                '{}') AS attachment_names
            FROM claimed JOIN emails e ON e.id = claimed.id
            ORDER BY e.created_at, e.id`.pipe(
            Effect.flatMap(decodeAnalysis),
            Effect.map((rows) => rows.map((row) => ({ id: row.id, input: toInput(row) })))
          )
        )

      // claimable by `holder` and not excluded, read without taking locks: it sees rows the claim skipped
      const unclaimedDue = (
        owner: UserId,
        columns: ClaimColumns,
        due: Statement.Fragment,
        holder: string,
        exclude: ReadonlyArray<string>
      ) =>
        scope.run(
          owner,
          sql`
            SELECT count(*)::int AS n FROM (
              SELECT 1 FROM emails e
              WHERE ${claimable(columns, due, holder, exclude)}
              LIMIT 1) due`.pipe(
            Effect.flatMap(countOf),
            Effect.map((n) => n > 0)
          )
        )

      // Waits for a row another transaction holds (an embedding save of the same mail, a sync's flag
      // update), taking the locks in the writers' order (ascending id, in one statement, before the
      // write: src/platform/rowLocks.ts), so it closes no deadlock cycle. It used to skip locked rows
      // (SKIP LOCKED): a release that met a row the `mail.embed` job of the same mail was saving left
      // its analysis claim in place, since that save clears only embedding claims, and a job that ended
      // for good leaked the claim for MAIL_CLAIM_SECONDS. The writers' transactions are one batch's
      // write, so the wait is short. Only the holder's own claims are cleared: a message whose claim
      // expired and another job took in between stays that job's (re-checked once the lock is granted).
      // The UPDATE writes only the rows the lock statement locked: a claim the same job took while the
      // release waited (a stalled attempt's twin) matched the UPDATE's later snapshot but not the lock,
      // and the UPDATE then waited on it out of order, a deadlock with a save over those rows.
      const releaseClaims = (columns: ClaimColumns) => (owner: UserId, holder: string, ids: ReadonlyArray<string>) =>
        ids.length === 0
          ? Effect.void
          : scope.run(
              owner,
              Effect.gen(function* () {
                const locked = yield* lockEmailRowIds(
                  sql,
                  sql`e.user_id = ${owner} AND e.id = ANY(${ids}::uuid[]) AND e.${sql(columns.by)} = ${holder}::uuid`
                )
                if (locked.length === 0) return
                yield* sql`
                  UPDATE emails SET ${sql(columns.until)} = NULL, ${sql(columns.by)} = NULL
                  WHERE user_id = ${owner} AND id = ANY(${locked}::uuid[]) AND ${sql(columns.by)} = ${holder}::uuid`
              })
            )

      const lockOutcomeRows = (owner: UserId, outcomes: ReadonlyArray<{ readonly id: string }>) =>
        outcomes.length === 0
          ? Effect.void
          : lockEmailRows(sql, sql`e.user_id = ${owner} AND e.id = ANY(${outcomes.map((o) => o.id)}::uuid[])`)

      const saveAnalysis = (owner: UserId, outcomes: ReadonlyArray<AnalysisOutcome>) =>
        Effect.gen(function* () {
          const analysedIds: Array<string> = []
          const failedIds: Array<string> = []
          // every row this transaction writes, locked at once in id order (src/platform/rowLocks.ts)
          yield* lockOutcomeRows(owner, outcomes)
          const results = outcomes.flatMap((o) => (o._tag === "analysed" ? [o] : []))
          if (results.length > 0) {
            // Only messages still pending take a result (a rerun or a concurrent job finds them done).
            const updated = yield* sql`
              UPDATE emails SET analysis_state = 'analysed', analysis_attempts = analysis_attempts + 1,
                analysis_error = NULL, analysis_claimed_until = NULL, analysis_claimed_by = NULL,
                updated_at = now()
              WHERE user_id = ${owner} AND analysis_state = 'pending'
                AND id = ANY(${results.map((o) => o.id)}::uuid[])
              RETURNING id`.pipe(Effect.flatMap(decodeIds))
            const taken = new Set(updated.map((row) => row.id))
            const takenResults = results.filter((o) => taken.has(o.id))
            const rows = takenResults.map(
              ({ id, result, personal }): Record<string, unknown> => ({
                email_id: id,
                user_id: owner,
                // the provider's values are kept apart, so blending and rescoring can be redone
                base_urgency: result.urgency,
                base_importance: result.importance,
                base_category: result.category,
                base_spam: result.spam,
                base_tags: [...result.tags],
                urgency: personal?.values.urgency ?? result.urgency,
                importance: personal?.values.importance ?? result.importance,
                category: personal?.values.category ?? result.category,
                spam: personal?.values.spam ?? result.spam,
                decisions: personal == null ? null : JSON.stringify(personal.decisions),
                tag_suggestions: personal == null ? [] : [...personal.tagSuggestions],
                summary: result.summary,
                tags: [...result.tags],
                language: result.language,
                provider: result.provider,
                model: result.model,
                confidence: result.confidence
              })
            )
            if (Arr.isReadonlyArrayNonEmpty(rows)) {
              yield* sql`
                INSERT INTO email_analysis ${sql.insert(rows)}
                ON CONFLICT (email_id) DO UPDATE SET
                  urgency = EXCLUDED.urgency, importance = EXCLUDED.importance, category = EXCLUDED.category,
                  spam = EXCLUDED.spam, summary = EXCLUDED.summary, tags = EXCLUDED.tags,
                  language = EXCLUDED.language, provider = EXCLUDED.provider, model = EXCLUDED.model,
                  confidence = EXCLUDED.confidence, analysed_at = now(),
                  base_urgency = EXCLUDED.base_urgency, base_importance = EXCLUDED.base_importance,
                  base_category = EXCLUDED.base_category, base_spam = EXCLUDED.base_spam,
                  base_tags = EXCLUDED.base_tags, decisions = EXCLUDED.decisions,
                  tag_suggestions = EXCLUDED.tag_suggestions`
            }
            for (const o of takenResults) analysedIds.push(o.id)
          }
          // failed and deferred outcomes: one statement each for the whole batch (rows locked above)
          const failures = outcomes.flatMap((o) => (o._tag === "failed" ? [o] : []))
          if (failures.length > 0) {
            const marked = yield* sql`
              UPDATE emails e SET analysis_state = 'failed', analysis_attempts = e.analysis_attempts + 1,
                analysis_error = f.reason, analysis_claimed_until = NULL, analysis_claimed_by = NULL,
                updated_at = now()
              FROM unnest(${failures.map((o) => o.id)}::uuid[], ${failures.map((o) => clip(o.reason))}::text[])
                AS f(id, reason)
              WHERE e.user_id = ${owner} AND e.id = f.id AND e.analysis_state = 'pending'
              RETURNING e.id`.pipe(Effect.flatMap(decodeIds))
            if (marked.length > 0) {
              // an older result (before a reprocess) must not pass for the answer to this run
              yield* sql`DELETE FROM email_analysis WHERE email_id = ANY(${marked.map((row) => row.id)}::uuid[])`
              for (const row of marked) failedIds.push(row.id)
            }
          }
          const deferrals = outcomes.flatMap((o) => (o._tag === "deferred" ? [o] : []))
          if (deferrals.length > 0) {
            yield* sql`
              UPDATE emails e SET analysis_attempts = e.analysis_attempts + 1,
                analysis_error = d.reason, analysis_claimed_until = NULL, analysis_claimed_by = NULL,
                updated_at = now()
              FROM unnest(${deferrals.map((o) => o.id)}::uuid[], ${deferrals.map((o) => clip(o.reason))}::text[])
                AS d(id, reason)
              WHERE e.user_id = ${owner} AND e.id = d.id AND e.analysis_state = 'pending'`
          }
          const saved: SavedAnalysis = {
            analysed: analysedIds.length,
            failed: failedIds.length,
            analysedIds,
            failedIds
          }
          return saved
        }).pipe((effect) => scope.run(owner, effect))

      const embeddingFilter = (owner: UserId, selection: Selection, mode: EmbeddingMode) =>
        mode._tag === "pending"
          ? sql`e.user_id = ${owner} AND e.embedding_state = 'pending' AND ${selectionFilter(selection)}`
          : sql`e.user_id = ${owner} AND ${selectionFilter(selection)}
              AND NOT EXISTS (
                SELECT 1 FROM embeddings m
                WHERE m.email_id = e.id AND m.model = ${mode.model} AND m.created_at >= ${mode.before})`

      const countEmbedding = (owner: UserId, selection: Selection, mode: EmbeddingMode) =>
        scope.run(
          owner,
          sql`SELECT count(*)::int AS n FROM emails e WHERE ${embeddingFilter(owner, selection, mode)}`.pipe(
            Effect.flatMap(countOf)
          )
        )

      const embeddingCandidates = (
        owner: UserId,
        selection: Selection,
        mode: EmbeddingMode,
        limit: number,
        maxChars: number,
        claim: Claim,
        exclude?: ReadonlyArray<string>
      ) =>
        scope.run(
          owner,
          (mode._tag === "pending"
            ? // claimed as claimAnalysis claims (see there)
              sql`
                ${claimedBatch(embeddingClaim, embeddingFilter(owner, selection, mode), limit, claim, exclude)}
                SELECT e.id, left(e.subject, 1000) AS subject, left(e.from_name, 200) AS from_name,
                  left(COALESCE(e.text_body, ''), ${maxChars}) AS body
                FROM claimed JOIN emails e ON e.id = claimed.id
                ORDER BY e.created_at, e.id`
            : sql`
                SELECT e.id, left(e.subject, 1000) AS subject, left(e.from_name, 200) AS from_name,
                  left(COALESCE(e.text_body, ''), ${maxChars}) AS body
                FROM emails e
                WHERE ${embeddingFilter(owner, selection, mode)}
                  ${mode.afterId !== null ? sql`AND e.id > ${mode.afterId}::uuid` : sql``}
                  ${notIn(exclude)}
                ORDER BY e.id
                LIMIT ${limit}`
          ).pipe(
            Effect.flatMap(decodeEmbedding),
            Effect.map((rows) =>
              rows.map((row) => ({ id: row.id, text: embeddingText(row.subject, row.from_name, row.body, maxChars) }))
            )
          )
        )

      const saveEmbeddings = (owner: UserId, model: string, outcomes: ReadonlyArray<EmbeddingOutcome>) =>
        Effect.gen(function* () {
          // Writers of one user take turns, so change numbers (seq) become visible in order (see VectorIndex).
          yield* sql`SELECT pg_advisory_xact_lock(${EMBEDDING_LOCK_NAMESPACE}, hashtext(${owner}))`
          // then every row this transaction writes, at once in id order (src/platform/rowLocks.ts)
          yield* lockOutcomeRows(owner, outcomes)
          let embedded = 0
          let failed = 0
          const vectors = outcomes.flatMap((o) => (o._tag === "embedded" ? [o] : []))
          if (vectors.length > 0) {
            const updated = yield* sql`
              UPDATE emails SET embedding_state = 'embedded', embedding_attempts = embedding_attempts + 1,
                embedding_error = NULL, embedding_claimed_until = NULL,
                embedding_claimed_by = NULL, updated_at = now()
              WHERE user_id = ${owner} AND id = ANY(${vectors.map((o) => o.id)}::uuid[])
              RETURNING id`.pipe(Effect.flatMap(decodeIds))
            const taken = new Set(updated.map((row) => row.id))
            const rows = vectors
              .filter((o) => taken.has(o.id))
              .map(({ id, vector }): Record<string, unknown> => {
                const unit = normalize(vector)
                return {
                  email_id: id,
                  user_id: owner,
                  model,
                  dimension: unit.length,
                  vector: vectorLiteral(unit),
                  q8: packQ8(unit)
                }
              })
            if (Arr.isReadonlyArrayNonEmpty(rows)) {
              yield* sql`
                INSERT INTO embeddings ${sql.insert(rows)}
                ON CONFLICT (email_id) DO UPDATE SET
                  model = EXCLUDED.model, dimension = EXCLUDED.dimension, vector = EXCLUDED.vector,
                  q8 = EXCLUDED.q8, created_at = now(), seq = EXCLUDED.seq`
            }
            embedded = rows.length
          }
          for (const outcome of outcomes) {
            if (outcome._tag === "embedded") continue
            const failedNow = outcome._tag === "failed"
            const marked = yield* sql`
              UPDATE emails SET
                embedding_state = ${failedNow ? "failed" : "pending"},
                embedding_attempts = embedding_attempts + 1,
                embedding_error = ${clip(outcome.reason)}, embedding_claimed_until = NULL,
                embedding_claimed_by = NULL, updated_at = now()
              WHERE user_id = ${owner} AND id = ${outcome.id}::uuid
              RETURNING id`.pipe(Effect.flatMap(decodeIds))
            if (failedNow && marked.length > 0) {
              // a vector of an older text or model must not stand in for this one
              yield* sql`DELETE FROM embeddings WHERE email_id = ${outcome.id}::uuid`
              failed++
            }
          }
          return { embedded, failed }
        }).pipe((effect) => scope.run(owner, effect))

      // One statement over all users: per user, a read of the partial pending index (0052) that stops
      // at the first due row (one probe for a user without pending mail), and an anti-join with the
      // unfinished jobs (their partial index). No owner's backlog is read in full. (A loose scan of the
      // pending indexes for the owners with pending mail was planned over the user_id index and read
      // every message of the owners after the last one with pending mail.)
      const decodeUnheld = decodeRows(UnheldPending)
      const unheldDue = (state: "analysis" | "embedding", kind: string) => {
        const stateColumn = sql(`${state}_state`)
        const until = sql(`${state}_claimed_until`)
        // the first due row in the pending index's order: a scalar subquery with LIMIT 1 stops there
        return sql`(
          NOT EXISTS (SELECT 1 FROM busy b WHERE b.user_id = u.id AND b.kind = ${kind})
          AND (
            SELECT true FROM emails e
            WHERE e.user_id = u.id AND e.${stateColumn} = 'pending'
              AND e.created_at < now() - make_interval(secs => ${SWEEP_GRACE_SECONDS})
              AND e.updated_at < now() - make_interval(secs => ${SWEEP_GRACE_SECONDS})
              AND e.canonical
              AND (e.${until} IS NULL OR e.${until} <= now())
            ORDER BY e.created_at, e.id
            LIMIT 1) IS NOT NULL)`
      }
      const ownersWithUnheldPendingMail = scope
        .system(
          "pending mail sweep",
          sql`
            WITH busy AS MATERIALIZED (
              SELECT DISTINCT j.user_id, j.kind FROM jobs j
              WHERE j.state IN ('queued', 'running', 'retrying')
                AND j.kind IN (${AnalyzeMailJob.name}, ${EmbedMailJob.name}) AND j.user_id IS NOT NULL),
            due AS (
              SELECT u.id AS owner, ${unheldDue("analysis", AnalyzeMailJob.name)} AS analysis,
                ${unheldDue("embedding", EmbedMailJob.name)} AS embedding
              FROM users u)
            SELECT owner, analysis, embedding FROM due WHERE analysis OR embedding`
        )
        .pipe(Effect.flatMap(decodeUnheld))

      return ProcessingStore.of({
        ownersWithUnheldPendingMail,
        countAnalysisPending,
        claimAnalysis,
        analysisLockedOut: (owner, selection, holder, exclude) =>
          unclaimedDue(owner, analysisClaim, analysisDue(owner, selection), holder, exclude),
        releaseAnalysisClaims: releaseClaims(analysisClaim),
        saveAnalysis,
        countEmbedding,
        embeddingCandidates,
        embeddingLockedOut: (owner, selection, mode, holder, exclude) =>
          mode._tag === "pending"
            ? unclaimedDue(owner, embeddingClaim, embeddingFilter(owner, selection, mode), holder, exclude)
            : Effect.succeed(false),
        releaseEmbeddingClaims: releaseClaims(embeddingClaim),
        saveEmbeddings
      })
    })
  )
}

/** What is embedded for a message: subject, sender name and the start of the body. */
export const embeddingText = (
  subject: string | null,
  fromName: string | null,
  body: string,
  maxChars: number
): string => {
  const text = [subject ?? "", fromName ?? "", body].filter((part) => part.length > 0).join("\n")
  return text.length > maxChars ? text.slice(0, maxChars) : text
}
