/**
 * Persistence of rules and of their execution log (`rules`, `rule_runs`, migration 0040).
 *
 * Every read and write runs in the owner's `UserScope` (row-level security) and also filters by
 * `user_id`, so another user's rule is simply not found (404). Rules are stored as their decoded
 * `RuleInput` fields and decoded again with the `RuleInput` schema when read.
 */
import { Context, Effect, Layer, Option, Schema } from "effect"
import { SqlClient, type SqlError } from "effect/sql"
import { type DatabaseError, decodeRows, fromSqlError } from "../platform/Database.ts"
import type { UserId } from "../contract/users/UserId.ts"
import { UserScope } from "../users/UserScope.ts"
import { MatchMode, RuleAction, RuleCondition, type RuleInput } from "../contract/rules/Rule.ts"
import { decodeRuleInput } from "./regex.ts"
import {
  RuleId,
  RuleLimitReached,
  RuleNotFound,
  type RulePatch,
  RuleRunView,
  RuleView,
  RunAction,
  RunOutcome,
  RunTrigger
} from "../contract/rules/RuleSchemas.ts"

// ---------------------------------------------------------------------------
// Limits
// ---------------------------------------------------------------------------

export const RuleStoreLimits = {
  /** Rules one user may have; every `rules.apply` evaluates all of them per message. */
  maxRulesPerUser: 200
} as const

export interface StoredRule {
  readonly id: RuleId
  readonly input: RuleInput
  readonly createdAt: Date
  readonly updatedAt: Date
}

export const toRuleView = (rule: StoredRule): RuleView =>
  new RuleView({
    id: rule.id,
    name: rule.input.name,
    enabled: rule.input.enabled,
    match: rule.input.match,
    priority: rule.input.priority,
    stopProcessing: rule.input.stopProcessing,
    conditions: rule.input.conditions,
    actions: rule.input.actions,
    createdAt: rule.createdAt,
    updatedAt: rule.updatedAt
  })

export interface NewRun {
  readonly ruleId: string | null
  readonly ruleName: string
  readonly emailId: string
  readonly actions: ReadonlyArray<RunAction>
  readonly outcome: RunOutcome
  readonly error: { readonly code: string; readonly message: string } | null
}

export interface RunQuery {
  readonly ruleId?: string | undefined
  readonly emailId?: string | undefined
  readonly jobId?: string | undefined
  readonly outcome?: RunOutcome | undefined
  readonly limit: number
  /** Only entries older than this log position. */
  readonly beforeSeq?: bigint | undefined
}

export interface RunPage {
  readonly items: ReadonlyArray<RuleRunView>
  /** Log position of the last item, for the next page; undefined on the last page. */
  readonly nextSeq: bigint | undefined
}

// ---------------------------------------------------------------------------
// Rows
// ---------------------------------------------------------------------------

const RuleRow = Schema.Struct({
  id: RuleId,
  name: Schema.String,
  enabled: Schema.Boolean,
  priority: Schema.Number,
  match: Schema.String,
  stop_processing: Schema.Boolean,
  conditions: Schema.Unknown,
  actions: Schema.Unknown,
  created_at: Schema.Date,
  updated_at: Schema.Date
})
type RuleRow = typeof RuleRow.Type

const RunRow = Schema.Struct({
  id: Schema.String,
  seq: Schema.BigInt,
  rule_id: Schema.NullOr(Schema.String),
  rule_name: Schema.String,
  email_id: Schema.NullOr(Schema.String),
  subject: Schema.NullOr(Schema.String),
  mailbox: Schema.NullOr(Schema.String),
  job_id: Schema.NullOr(Schema.String),
  trigger: RunTrigger,
  actions: Schema.Array(RunAction),
  outcome: RunOutcome,
  error_code: Schema.NullOr(Schema.String),
  error_message: Schema.NullOr(Schema.String),
  created_at: Schema.Date
})

/** The stored form of a rule is ours: one that no longer decodes is a bug (or a data fix gone wrong). */
const toStored = (row: RuleRow): Effect.Effect<StoredRule> =>
  decodeRuleInput({
    name: row.name,
    enabled: row.enabled,
    match: row.match,
    priority: row.priority,
    stopProcessing: row.stop_processing,
    conditions: row.conditions,
    actions: row.actions
  }).pipe(
    Effect.map((input) => ({ id: row.id, input, createdAt: row.created_at, updatedAt: row.updated_at })),
    Effect.orDie
  )

const columnsOf = (input: RuleInput) => ({
  name: input.name,
  enabled: input.enabled,
  priority: input.priority,
  match: input.match,
  stop_processing: input.stopProcessing,
  conditions: JSON.stringify(input.conditions),
  actions: JSON.stringify(input.actions)
})

const encodeInput = Schema.encodeSync(
  Schema.Struct({
    name: Schema.String,
    enabled: Schema.Boolean,
    match: MatchMode,
    priority: Schema.Int,
    stopProcessing: Schema.Boolean,
    conditions: Schema.Array(RuleCondition),
    actions: Schema.Array(RuleAction)
  })
)

/** For `Effect.catchTag("SqlError", sqlFailure)`: the driver's error as a safe DatabaseError. */
export const sqlFailure = (error: SqlError.SqlError): Effect.Effect<never, DatabaseError> =>
  Effect.fail(fromSqlError(error))

// ---------------------------------------------------------------------------
// Service
// ---------------------------------------------------------------------------

export interface RuleStoreShape {
  /** The user's rules in the order they run (priority, then creation). */
  readonly list: (ownerId: UserId) => Effect.Effect<ReadonlyArray<StoredRule>, DatabaseError>
  readonly get: (ownerId: UserId, id: string) => Effect.Effect<StoredRule, RuleNotFound | DatabaseError>
  readonly create: (ownerId: UserId, input: RuleInput) => Effect.Effect<StoredRule, RuleLimitReached | DatabaseError>
  /** Applies the patch and validates the resulting rule as a whole (`Schema.SchemaError` when it is not a rule). */
  readonly update: (
    ownerId: UserId,
    id: string,
    patch: RulePatch
  ) => Effect.Effect<StoredRule, RuleNotFound | Schema.SchemaError | DatabaseError>
  readonly remove: (ownerId: UserId, id: string) => Effect.Effect<void, RuleNotFound | DatabaseError>
  /** The ids among `ids` that are the user's rules. */
  readonly existing: (ownerId: UserId, ids: ReadonlyArray<string>) => Effect.Effect<ReadonlySet<string>, DatabaseError>
  /** Whether the user has at least one enabled rule (cheap check before enqueueing work). */
  readonly hasEnabled: (ownerId: UserId) => Effect.Effect<boolean, DatabaseError>
  /** Appends to the execution log (joins the caller's transaction when it runs in the same user's scope). */
  readonly insertRuns: (
    ownerId: UserId,
    context: { readonly jobId: string | null; readonly trigger: RunTrigger },
    runs: ReadonlyArray<NewRun>
  ) => Effect.Effect<void, DatabaseError>
  /** The execution log, newest first. */
  readonly listRuns: (ownerId: UserId, query: RunQuery) => Effect.Effect<RunPage, DatabaseError>
}

export class RuleStore extends Context.Service<RuleStore, RuleStoreShape>()("mail-helper/RuleStore") {
  static readonly layer = Layer.effect(
    RuleStore,
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const scope = yield* UserScope
      const decodeRules = decodeRows(RuleRow)
      const decodeRuns = decodeRows(RunRow)
      const storedRules = (rows: ReadonlyArray<unknown>) =>
        Effect.flatMap(decodeRules(rows), (decoded) => Effect.forEach(decoded, toStored))
      const firstRule = (rows: ReadonlyArray<unknown>) =>
        Effect.map(storedRules(rows), (rules) => Option.fromNullishOr(rules[0]))
      const orNotFound =
        (id: string) =>
        <E, R>(effect: Effect.Effect<Option.Option<StoredRule>, E, R>) =>
          Effect.flatMap(
            effect,
            Option.match({ onNone: () => Effect.fail(RuleNotFound.forId(id)), onSome: Effect.succeed })
          )

      const list = (ownerId: UserId) =>
        scope
          .run(
            ownerId,
            sql`SELECT * FROM rules WHERE user_id = ${ownerId} ORDER BY priority, created_at, id`.pipe(
              Effect.flatMap(storedRules)
            )
          )
          .pipe(Effect.catchTag("SqlError", sqlFailure), Effect.withSpan("RuleStore.list"))

      const get = (ownerId: UserId, id: string) =>
        scope
          .run(
            ownerId,
            sql`SELECT * FROM rules WHERE id = ${id} AND user_id = ${ownerId}`.pipe(Effect.flatMap(firstRule))
          )
          .pipe(Effect.catchTag("SqlError", sqlFailure), orNotFound(id), Effect.withSpan("RuleStore.get"))

      const create = (ownerId: UserId, input: RuleInput) =>
        scope
          .run(
            ownerId,
            Effect.gen(function* () {
              // serialises one user's creates, so two parallel requests cannot both pass the cap
              yield* sql`SELECT pg_advisory_xact_lock(hashtextextended(${`rules:${ownerId}`}, 0))`
              const [count] = yield* sql`
                SELECT count(*)::int AS n FROM rules WHERE user_id = ${ownerId}`.pipe(
                Effect.flatMap(decodeRows(Schema.Struct({ n: Schema.Number })))
              )
              if ((count?.n ?? 0) >= RuleStoreLimits.maxRulesPerUser) {
                return yield* new RuleLimitReached({
                  message: `a user may have at most ${RuleStoreLimits.maxRulesPerUser} rules; delete one first`,
                  limit: RuleStoreLimits.maxRulesPerUser
                })
              }
              const rows = yield* sql`
                INSERT INTO rules ${sql.insert({ user_id: ownerId, ...columnsOf(input) })}
                RETURNING *`
              const created = yield* firstRule(rows)
              return yield* Option.match(created, {
                onNone: () => Effect.die(new Error("INSERT INTO rules returned no row")),
                onSome: Effect.succeed
              })
            })
          )
          .pipe(Effect.catchTag("SqlError", sqlFailure), Effect.withSpan("RuleStore.create"))

      const update = (ownerId: UserId, id: string, patch: RulePatch) =>
        scope
          .run(
            ownerId,
            Effect.gen(function* () {
              const current = yield* sql`
                SELECT * FROM rules WHERE id = ${id} AND user_id = ${ownerId} FOR UPDATE`.pipe(
                Effect.flatMap(firstRule),
                orNotFound(id)
              )
              const merged = yield* decodeRuleInput({ ...encodeInput(current.input), ...patch })
              const rows = yield* sql`
                UPDATE rules SET ${sql.update(columnsOf(merged))}, updated_at = now()
                WHERE id = ${id} AND user_id = ${ownerId}
                RETURNING *`
              return yield* firstRule(rows).pipe(orNotFound(id))
            })
          )
          .pipe(Effect.catchTag("SqlError", sqlFailure), Effect.withSpan("RuleStore.update"))

      const remove = (ownerId: UserId, id: string) =>
        scope.run(ownerId, sql`DELETE FROM rules WHERE id = ${id} AND user_id = ${ownerId} RETURNING id`).pipe(
          Effect.catchTag("SqlError", sqlFailure),
          Effect.flatMap((rows) => (rows.length === 0 ? Effect.fail(RuleNotFound.forId(id)) : Effect.void)),
          Effect.withSpan("RuleStore.remove")
        )

      const existing = (ownerId: UserId, ids: ReadonlyArray<string>) =>
        ids.length === 0
          ? Effect.succeed(new Set<string>())
          : scope
              .run(
                ownerId,
                sql`
                  SELECT id FROM rules WHERE user_id = ${ownerId} AND id IN ${sql.in([...ids])}`.pipe(
                  Effect.flatMap(decodeRows(Schema.Struct({ id: Schema.String })))
                )
              )
              .pipe(
                Effect.map((rows) => new Set(rows.map((row) => row.id))),
                Effect.catchTag("SqlError", sqlFailure)
              )

      const hasEnabled = (ownerId: UserId) =>
        scope
          .run(
            ownerId,
            sql`
              SELECT EXISTS (SELECT 1 FROM rules WHERE user_id = ${ownerId} AND enabled) AS found`.pipe(
              Effect.flatMap(decodeRows(Schema.Struct({ found: Schema.Boolean })))
            )
          )
          .pipe(
            Effect.map((rows) => rows[0]?.found === true),
            Effect.catchTag("SqlError", sqlFailure)
          )

      const insertRuns = (
        ownerId: UserId,
        context: { readonly jobId: string | null; readonly trigger: RunTrigger },
        runs: ReadonlyArray<NewRun>
      ) => {
        if (runs.length === 0) return Effect.void
        const records = runs.map((run) => ({
          rule_id: run.ruleId,
          rule_name: run.ruleName,
          email_id: run.emailId,
          actions: run.actions,
          outcome: run.outcome,
          error_code: run.error?.code ?? null,
          error_message: run.error?.message ?? null
        }))
        // a rule deleted while the job ran is logged by name only
        return scope
          .run(
            ownerId,
            sql`
              INSERT INTO rule_runs (user_id, rule_id, rule_name, email_id, job_id, trigger, actions, outcome,
                                     error_code, error_message)
              SELECT ${ownerId}, (SELECT r.id FROM rules r WHERE r.id = x.rule_id), x.rule_name, x.email_id,
                     ${context.jobId}, ${context.trigger}, x.actions, x.outcome, x.error_code, x.error_message
              FROM jsonb_to_recordset(${JSON.stringify(records)}::jsonb)
                AS x(rule_id uuid, rule_name text, email_id uuid, actions jsonb, outcome text,
                     error_code text, error_message text)`
          )
          .pipe(Effect.asVoid, Effect.catchTag("SqlError", sqlFailure), Effect.withSpan("RuleStore.insertRuns"))
      }

      const listRuns = (ownerId: UserId, query: RunQuery) =>
        scope
          .run(
            ownerId,
            sql`
              SELECT r.id, r.seq, r.rule_id, r.rule_name, r.email_id, e.subject, m.path AS mailbox, r.job_id,
                     r.trigger, r.actions, r.outcome, r.error_code, r.error_message, r.created_at
              FROM rule_runs r
              LEFT JOIN emails e ON e.id = r.email_id
              LEFT JOIN mailboxes m ON m.id = e.mailbox_id
              WHERE r.user_id = ${ownerId}
                ${query.ruleId === undefined ? sql`` : sql`AND r.rule_id = ${query.ruleId}`}
                ${query.emailId === undefined ? sql`` : sql`AND r.email_id = ${query.emailId}`}
                ${query.jobId === undefined ? sql`` : sql`AND r.job_id = ${query.jobId}`}
                ${query.outcome === undefined ? sql`` : sql`AND r.outcome = ${query.outcome}`}
                ${query.beforeSeq === undefined ? sql`` : sql`AND r.seq < ${query.beforeSeq.toString()}::bigint`}
              ORDER BY r.seq DESC
              LIMIT ${sql.literal(String(Math.max(1, Math.trunc(query.limit)) + 1))}`.pipe(Effect.flatMap(decodeRuns))
          )
          .pipe(
            Effect.map((rows): RunPage => {
              const page = rows.slice(0, query.limit)
              const last = page.at(-1)
              return {
                items: page.map(
                  (row) =>
                    new RuleRunView({
                      id: row.id,
                      rule: { id: row.rule_id, name: row.rule_name },
                      email: { id: row.email_id, subject: row.subject, mailbox: row.mailbox },
                      jobId: row.job_id,
                      trigger: row.trigger,
                      actions: row.actions,
                      outcome: row.outcome,
                      error:
                        row.error_code === null ? null : { code: row.error_code, message: row.error_message ?? "" },
                      createdAt: row.created_at
                    })
                ),
                nextSeq: rows.length > query.limit && last !== undefined ? last.seq : undefined
              }
            }),
            Effect.catchTag("SqlError", sqlFailure),
            Effect.withSpan("RuleStore.listRuns")
          )

      return RuleStore.of({ list, get, create, update, remove, existing, hasEnabled, insertRuns, listRuns })
    })
  )
}
