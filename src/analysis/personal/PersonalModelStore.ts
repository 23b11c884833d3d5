import { Context, Effect, Layer, Schema } from "effect"
import { SqlClient, type SqlError } from "effect/sql"
import type { UserId } from "../../contract/users/UserId.ts"
import { decodeRows } from "../../platform/Database.ts"
import { lockEmailRows } from "../../platform/rowLocks.ts"
import { UserScope } from "../../users/UserScope.ts"
import { analysisHeadersOf } from "../mailFields.ts"
import type { FeatureSource } from "./features.ts"
import { ModelMetrics, StoredModel, type Target } from "./model.ts"
import type { LoadedModel, PersonalModels, Scored } from "./scoring.ts"

/**
 * The SQL of learning from corrections (migration 0063), every statement in
 * the owner's scope (row-level security): the corrections' fingerprint (the
 * training's debounce), the training rows, the stored models and their
 * history, and the re-blended values a rescore writes.
 */

/** Versions kept per user; older ones are removed when a training saves. */
export const VERSIONS_KEPT = 100
/** Namespace of the per-user advisory lock a model save takes (one training's versions at a time). */
export const MODEL_LOCK_NAMESPACE = 0x4d48_4c4d

/** A user's correction of one message (null fields: not corrected), or null for an uncorrected message. */
export interface CorrectionValues {
  readonly urgency: number | null
  readonly importance: number | null
  readonly category: string | null
  readonly spam: boolean | null
  readonly tags: ReadonlyArray<string> | null
}

export interface TrainingRow {
  readonly emailId: string
  readonly source: FeatureSource
  readonly correction: CorrectionValues | null
  readonly embeddingModel: string | null
}

export interface ScoringRow {
  readonly emailId: string
  readonly source: FeatureSource
}

export interface SavedTarget {
  readonly target: Target
  readonly model: StoredModel
  readonly metrics: ModelMetrics
}

export interface HistoryEntry {
  readonly version: number
  readonly createdAt: Date
  readonly target: Target
  readonly metrics: ModelMetrics
}

const FeatureRow = Schema.Struct({
  email_id: Schema.String,
  from_address: Schema.NullOr(Schema.String),
  subject: Schema.NullOr(Schema.String),
  headers: Schema.Unknown,
  base_urgency: Schema.Number,
  base_importance: Schema.Number,
  base_category: Schema.String,
  base_spam: Schema.Boolean,
  base_tags: Schema.Array(Schema.String),
  vector: Schema.NullOr(Schema.Array(Schema.Number)),
  embedding_model: Schema.NullOr(Schema.String)
})
type FeatureRow = typeof FeatureRow.Type

const TrainingRowSchema = Schema.Struct({
  ...FeatureRow.fields,
  corrected: Schema.Boolean,
  o_urgency: Schema.NullOr(Schema.Number),
  o_importance: Schema.NullOr(Schema.Number),
  o_category: Schema.NullOr(Schema.String),
  o_spam: Schema.NullOr(Schema.Boolean),
  o_tags: Schema.NullOr(Schema.Array(Schema.String))
})

const ModelRow = Schema.Struct({
  version: Schema.Number,
  target: Schema.String,
  weights: StoredModel,
  metrics: ModelMetrics,
  created_at: Schema.Date
})

const HistoryRow = Schema.Struct({
  version: Schema.Number,
  target: Schema.String,
  metrics: ModelMetrics,
  created_at: Schema.Date
})

const Fingerprint = Schema.Struct({ fingerprint: Schema.String, n: Schema.Number })
const Version = Schema.Struct({ version: Schema.Number })

const sourceOf = (row: FeatureRow): FeatureSource => ({
  fromAddress: row.from_address,
  subject: row.subject,
  headers: analysisHeadersOf(row.headers),
  base: {
    urgency: row.base_urgency,
    importance: row.base_importance,
    category: row.base_category,
    spam: row.base_spam,
    tags: row.base_tags
  },
  embedding: row.vector,
  embeddingModel: row.embedding_model
})

export interface PersonalModelStoreShape {
  /** Changes whenever a correction is made, changed or removed; `count` is the number of corrected messages. */
  readonly correctionsFingerprint: (
    owner: UserId
  ) => Effect.Effect<{ readonly fingerprint: string; readonly count: number }, SqlError.SqlError>
  /**
   * The owner's corrected, analysed messages (newest first, at most `limit`), and as many of
   * their uncorrected analysed ones from senders they never corrected (newest first): the
   * implicit examples.
   */
  readonly trainingRows: (owner: UserId, limit: number) => Effect.Effect<ReadonlyArray<TrainingRow>, SqlError.SqlError>
  /** Saves one training's targets as the next version; keeps the latest VERSIONS_KEPT. Returns the version. */
  readonly save: (owner: UserId, targets: ReadonlyArray<SavedTarget>) => Effect.Effect<number, SqlError.SqlError>
  /** The latest version's models (empty when the owner has none). */
  readonly latest: (owner: UserId) => Effect.Effect<PersonalModels, SqlError.SqlError>
  /** Metrics of every kept version, oldest first. */
  readonly history: (owner: UserId) => Effect.Effect<ReadonlyArray<HistoryEntry>, SqlError.SqlError>
  /** The features of messages by id (analysed ones only), for scoring. */
  readonly scoringRows: (
    owner: UserId,
    ids: ReadonlyArray<string>
  ) => Effect.Effect<ReadonlyArray<ScoringRow>, SqlError.SqlError>
  /** Analysed canonical messages with a date in [since, until), in id order after `afterId`. */
  readonly rescoreBatch: (
    owner: UserId,
    window: { readonly since: Date; readonly until: Date | null },
    afterId: string | null,
    limit: number
  ) => Effect.Effect<ReadonlyArray<ScoringRow>, SqlError.SqlError>
  readonly countRescore: (
    owner: UserId,
    window: { readonly since: Date; readonly until: Date | null }
  ) => Effect.Effect<number, SqlError.SqlError>
  /** Writes re-blended values (the base stays); corrections are apart and still win. */
  readonly saveScored: (
    owner: UserId,
    scored: ReadonlyArray<{ readonly emailId: string; readonly scored: Scored }>
  ) => Effect.Effect<{ readonly updated: number; readonly changed: number }, SqlError.SqlError>
  /** The owner's embeddings of some messages (vector and model), by message id. */
  readonly embeddingsOf: (
    owner: UserId,
    ids: ReadonlyArray<string>
  ) => Effect.Effect<
    ReadonlyMap<string, { readonly vector: ReadonlyArray<number>; readonly model: string }>,
    SqlError.SqlError
  >
}

export class PersonalModelStore extends Context.Service<PersonalModelStore, PersonalModelStoreShape>()(
  "mail-helper/PersonalModelStore"
) {
  static readonly layer = Layer.effect(
    PersonalModelStore,
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const scope = yield* UserScope
      const decodeFingerprint = decodeRows(Fingerprint)
      const decodeTraining = decodeRows(TrainingRowSchema)
      const decodeFeatures = decodeRows(FeatureRow)
      const decodeModels = decodeRows(ModelRow)
      const decodeHistory = decodeRows(HistoryRow)
      const decodeVersion = decodeRows(Version)
      const decodeCount = decodeRows(Schema.Struct({ n: Schema.Number }))
      const decodeChanged = decodeRows(Schema.Struct({ changed: Schema.Boolean }))
      const decodeEmbeddings = decodeRows(
        Schema.Struct({ email_id: Schema.String, vector: Schema.Array(Schema.Number), model: Schema.String })
      )

      const embeddingsOf = (owner: UserId, ids: ReadonlyArray<string>) =>
        ids.length === 0
          ? Effect.succeed(new Map<string, { readonly vector: ReadonlyArray<number>; readonly model: string }>())
          : scope.run(
              owner,
              sql`
                SELECT email_id::text AS email_id, vector, model FROM embeddings
                WHERE user_id = ${owner} AND email_id = ANY(${ids}::uuid[])`.pipe(
                Effect.flatMap(decodeEmbeddings),
                Effect.map(
                  (rows) => new Map(rows.map((row) => [row.email_id, { vector: row.vector, model: row.model }]))
                )
              )
            )

      const featureColumns = sql`
        e.id::text AS email_id, e.from_address, e.subject, e.headers,
        COALESCE(a.base_urgency, a.urgency) AS base_urgency,
        COALESCE(a.base_importance, a.importance) AS base_importance,
        COALESCE(a.base_category, a.category) AS base_category,
        COALESCE(a.base_spam, a.spam) AS base_spam,
        COALESCE(a.base_tags, a.tags) AS base_tags,
        m.vector, m.model AS embedding_model`
      // the mail, its analysis and its embedding that featureColumns reads, for a query over mail
      const featureSource = sql`
        FROM emails e
        JOIN email_analysis a ON a.email_id = e.id
        LEFT JOIN embeddings m ON m.email_id = e.id`

      const correctionsFingerprint = (owner: UserId) =>
        scope.run(
          owner,
          sql`
            SELECT md5(COALESCE(string_agg(o.email_id::text || '@' || o.updated_at::text, ',' ORDER BY o.email_id), ''))
              AS fingerprint, count(*)::int AS n
            FROM email_overrides o WHERE o.user_id = ${owner}`.pipe(
            Effect.flatMap(decodeFingerprint),
            Effect.map((rows) => ({ fingerprint: rows[0]?.fingerprint ?? "", count: rows[0]?.n ?? 0 }))
          )
        )

      const trainingRows = (owner: UserId, limit: number) =>
        scope.run(
          owner,
          Effect.gen(function* () {
            const corrected = yield* sql`
              SELECT ${featureColumns}, true AS corrected,
                o.urgency AS o_urgency, o.importance AS o_importance, o.category AS o_category,
                o.spam AS o_spam, o.tags AS o_tags
              FROM email_overrides o
              JOIN emails e ON e.id = o.email_id
              JOIN email_analysis a ON a.email_id = e.id
              LEFT JOIN embeddings m ON m.email_id = e.id
              WHERE o.user_id = ${owner}
              ORDER BY o.updated_at DESC, o.email_id
              LIMIT ${limit}`.pipe(Effect.flatMap(decodeTraining))
            const implicit =
              corrected.length === 0
                ? []
                : yield* sql`
                  SELECT ${featureColumns}, false AS corrected,
                    NULL::smallint AS o_urgency, NULL::smallint AS o_importance, NULL::text AS o_category,
                    NULL::boolean AS o_spam, NULL::text[] AS o_tags
                  ${featureSource}
                  WHERE e.user_id = ${owner} AND e.canonical
                    AND NOT EXISTS (SELECT 1 FROM email_overrides o WHERE o.email_id = e.id)
                    -- mail from a sender the user corrected is no evidence that they accept its base:
                    -- they may just not have got to it yet
                    AND NOT EXISTS (
                      SELECT 1 FROM email_overrides o JOIN emails c ON c.id = o.email_id
                      WHERE o.user_id = ${owner} AND c.from_address = e.from_address)
                  ORDER BY a.analysed_at DESC, e.id
                  LIMIT ${corrected.length}`.pipe(Effect.flatMap(decodeTraining))
            return [...corrected, ...implicit].map(
              (row): TrainingRow => ({
                emailId: row.email_id,
                source: sourceOf(row),
                embeddingModel: row.embedding_model,
                correction: row.corrected
                  ? {
                      urgency: row.o_urgency,
                      importance: row.o_importance,
                      category: row.o_category,
                      spam: row.o_spam,
                      tags: row.o_tags
                    }
                  : null
              })
            )
          })
        )

      const save = (owner: UserId, targets: ReadonlyArray<SavedTarget>) =>
        Effect.gen(function* () {
          // two saves of one user (which the job's de-duplication already rules out) never share a version
          yield* sql`SELECT pg_advisory_xact_lock(${MODEL_LOCK_NAMESPACE}, hashtext(${owner}))`
          const [last] = yield* sql`
            SELECT COALESCE(max(version), 0)::int AS version FROM personal_models WHERE user_id = ${owner}`.pipe(
            Effect.flatMap(decodeVersion)
          )
          const version = (last?.version ?? 0) + 1
          for (const target of targets) {
            yield* sql`
              INSERT INTO personal_models (user_id, version, target, weights, metrics)
              VALUES (${owner}, ${version}, ${target.target}, ${JSON.stringify(target.model)}::jsonb,
                ${JSON.stringify(target.metrics)}::jsonb)`
          }
          yield* sql`DELETE FROM personal_models WHERE user_id = ${owner} AND version <= ${version - VERSIONS_KEPT}`
          return version
        }).pipe((effect) => scope.run(owner, effect))

      const latest = (owner: UserId) =>
        scope.run(
          owner,
          sql`
            SELECT version, target, weights, metrics, created_at FROM personal_models
            WHERE user_id = ${owner}
              AND version = (SELECT max(version) FROM personal_models WHERE user_id = ${owner})
            ORDER BY target`.pipe(
            Effect.flatMap(decodeModels),
            Effect.map((rows) =>
              rows.map(
                (row): LoadedModel => ({
                  target: row.target,
                  version: row.version,
                  model: row.weights,
                  metrics: row.metrics
                })
              )
            )
          )
        )

      const history = (owner: UserId) =>
        scope.run(
          owner,
          sql`
            SELECT version, target, metrics, created_at FROM personal_models
            WHERE user_id = ${owner} ORDER BY version, target`.pipe(
            Effect.flatMap(decodeHistory),
            Effect.map((rows) =>
              rows.map((row) => ({
                version: row.version,
                target: row.target,
                metrics: row.metrics,
                createdAt: row.created_at
              }))
            )
          )
        )

      const scoringRows = (owner: UserId, ids: ReadonlyArray<string>) =>
        ids.length === 0
          ? Effect.succeed([])
          : scope.run(
              owner,
              sql`
                SELECT ${featureColumns}
                ${featureSource}
                WHERE e.user_id = ${owner} AND e.id = ANY(${ids}::uuid[])
                ORDER BY e.id`.pipe(
                Effect.flatMap(decodeFeatures),
                Effect.map((rows) => rows.map((row) => ({ emailId: row.email_id, source: sourceOf(row) })))
              )
            )

      const windowFilter = (owner: UserId, window: { readonly since: Date; readonly until: Date | null }) =>
        sql.and([
          sql`e.user_id = ${owner}`,
          sql`e.canonical`,
          sql`e.mail_date >= ${window.since}`,
          window.until === null ? sql`TRUE` : sql`e.mail_date < ${window.until}`
        ])

      const rescoreBatch = (
        owner: UserId,
        window: { readonly since: Date; readonly until: Date | null },
        afterId: string | null,
        limit: number
      ) =>
        scope.run(
          owner,
          sql`
            SELECT ${featureColumns}
            ${featureSource}
            WHERE ${windowFilter(owner, window)} ${afterId === null ? sql`` : sql`AND e.id > ${afterId}::uuid`}
            ORDER BY e.id
            LIMIT ${limit}`.pipe(
            Effect.flatMap(decodeFeatures),
            Effect.map((rows) => rows.map((row) => ({ emailId: row.email_id, source: sourceOf(row) })))
          )
        )

      const countRescore = (owner: UserId, window: { readonly since: Date; readonly until: Date | null }) =>
        scope.run(
          owner,
          sql`
            SELECT count(*)::int AS n FROM emails e JOIN email_analysis a ON a.email_id = e.id
            WHERE ${windowFilter(owner, window)}`.pipe(
            Effect.flatMap(decodeCount),
            Effect.map((rows) => rows[0]?.n ?? 0)
          )
        )

      const saveScored = (
        owner: UserId,
        scored: ReadonlyArray<{ readonly emailId: string; readonly scored: Scored }>
      ) =>
        scored.length === 0
          ? Effect.succeed({ updated: 0, changed: 0 })
          : Effect.gen(function* () {
              // the row-lock order every writer of emails keeps (src/platform/rowLocks.ts)
              yield* lockEmailRows(
                sql,
                sql`e.user_id = ${owner} AND e.id = ANY(${scored.map((s) => s.emailId)}::uuid[])`
              )
              const rows = scored.map(({ emailId, scored: s }) => ({
                email_id: emailId,
                urgency: s.values.urgency,
                importance: s.values.importance,
                category: s.values.category,
                spam: s.values.spam,
                decisions: s.decisions,
                tag_suggestions: s.tagSuggestions
              }))
              const ids = scored.map((s) => s.emailId)
              const updated = yield* sql`
                WITH old AS (
                  SELECT email_id, urgency, importance, category, spam FROM email_analysis
                  WHERE user_id = ${owner} AND email_id = ANY(${ids}::uuid[]))
                UPDATE email_analysis a SET
                  base_urgency = COALESCE(a.base_urgency, a.urgency),
                  base_importance = COALESCE(a.base_importance, a.importance),
                  base_category = COALESCE(a.base_category, a.category),
                  base_spam = COALESCE(a.base_spam, a.spam),
                  base_tags = COALESCE(a.base_tags, a.tags),
                  urgency = r.urgency, importance = r.importance, category = r.category, spam = r.spam,
                  decisions = r.decisions, tag_suggestions = r.tag_suggestions
                FROM jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) AS r(
                  email_id uuid, urgency smallint, importance smallint, category text, spam boolean,
                  decisions jsonb, tag_suggestions text[])
                JOIN old ON old.email_id = r.email_id
                WHERE a.email_id = r.email_id AND a.user_id = ${owner}
                RETURNING ((old.urgency, old.importance, old.category, old.spam)
                  IS DISTINCT FROM (r.urgency, r.importance, r.category, r.spam)) AS changed`.pipe(
                Effect.flatMap(decodeChanged)
              )
              return { updated: updated.length, changed: updated.filter((row) => row.changed).length }
            }).pipe((effect) => scope.run(owner, effect))

      return PersonalModelStore.of({
        correctionsFingerprint,
        trainingRows,
        save,
        latest,
        history,
        scoringRows,
        rescoreBatch,
        countRescore,
        saveScored,
        embeddingsOf
      })
    })
  )
}
