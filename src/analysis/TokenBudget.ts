import { Config, Context, Effect, Layer, Metric, Option, Ref, Schema } from "effect"
import type { TokenBudgetView } from "../contract/analysis/AnalysisApi.ts"
import { PermanentJobError, TransientJobError } from "../contract/jobs/JobKind.ts"
import type { UserId } from "../contract/users/UserId.ts"
import type { DatabaseError } from "../platform/Database.ts"
import { aiTokenBudgetExhausted } from "../platform/Metrics.ts"
import { Redis, type RedisError } from "../platform/Redis.ts"
import { UserLimitsStore } from "../users/UserLimitsStore.ts"
import type { TokenUsageRecorder } from "./providers/TokenUsage.ts"

/**
 * The daily AI token budget per user (issue 15, item 3), for the OpenAI-compatible provider.
 *
 * What counts: the tokens the provider reports in `usage` for each call made for the user's
 * mail.analyze / mail.embed jobs (prompt + completion; embedding input), one INCRBY per call on
 * `<prefix>:ai-tokens:<user>:<YYYY-MM-DD>` (UTC day), so every worker process adds to the same
 * counter. A day's key expires two days after its first use. The limit is the admin's override
 * (user_limits.ai_daily_token_budget, migration 0065) or AI_DAILY_TOKEN_BUDGET; neither: no budget.
 *
 * Enforcement is between batches (`ensureAvailable` before each batch): calls already in flight
 * finish and are counted, so a day can end a little above the limit (at most one batch).
 */

const DAY_MS = 86_400_000
const KEY_TTL_SECONDS = 2 * 86_400

export class TokenBudgetExhausted extends Schema.TaggedError<TokenBudgetExhausted>()("TokenBudgetExhausted", {
  limit: Schema.Number,
  used: Schema.Number,
  resetAt: Schema.Date,
  message: Schema.String
}) {}

export const dayOf = (at: Date): string => at.toISOString().slice(0, 10)
export const nextUtcMidnight = (at: Date): Date => new Date(Math.floor(at.getTime() / DAY_MS) * DAY_MS + DAY_MS)

/** AI_DAILY_TOKEN_BUDGET: tokens per user and UTC day; unset = no budget. */
export const dailyTokenBudgetConfig = Config.option(
  Config.schema(Schema.Int.check(Schema.isGreaterThanOrEqualTo(0)), "AI_DAILY_TOKEN_BUDGET")
)

export interface TokenBudgetShape {
  /** Limit, used, remaining and reset time of the user's budget today. */
  readonly status: (owner: UserId) => Effect.Effect<TokenBudgetView, RedisError | DatabaseError>
  /** Adds the tokens of one provider call to the user's count of today (one INCRBY). */
  readonly record: (owner: UserId, tokens: number) => Effect.Effect<void, RedisError>
  /** Fails with TokenBudgetExhausted when today's usage has reached the limit. */
  readonly ensureAvailable: (owner: UserId) => Effect.Effect<void, TokenBudgetExhausted | RedisError | DatabaseError>
}

export class TokenBudget extends Context.Service<TokenBudget, TokenBudgetShape>()("mail-helper/TokenBudget") {
  /** Needs Redis and UserLimitsStore; reads AI_DAILY_TOKEN_BUDGET. */
  static readonly layer = Layer.effect(
    TokenBudget,
    Effect.gen(function* () {
      const redis = yield* Redis
      const limits = yield* UserLimitsStore
      const fallback = yield* dailyTokenBudgetConfig.pipe(Effect.orDie)
      const keyOf = (owner: UserId, at: Date) => redis.key("ai-tokens", owner, dayOf(at))

      const status = (owner: UserId) =>
        Effect.gen(function* () {
          const now = new Date()
          const overrides = yield* limits.own(owner)
          const raw = yield* redis.use("ai-tokens.get", (client) => client.get(keyOf(owner, now)))
          const used = raw === null ? 0 : Number.parseInt(raw, 10)
          const limit = overrides.aiDailyTokenBudget ?? Option.getOrNull(fallback)
          return {
            limit,
            used,
            remaining: limit === null ? null : Math.max(0, limit - used),
            resetAt: nextUtcMidnight(now)
          } satisfies TokenBudgetView
        })

      const record = (owner: UserId, tokens: number) =>
        Effect.gen(function* () {
          if (tokens <= 0) return
          const key = keyOf(owner, new Date())
          yield* redis.use("ai-tokens.incrby", (client) =>
            client.multi().incrby(key, tokens).expire(key, KEY_TTL_SECONDS, "NX").exec()
          )
        })

      const ensureAvailable = (owner: UserId) =>
        Effect.gen(function* () {
          const current = yield* status(owner)
          if (current.limit !== null && current.used >= current.limit) {
            return yield* new TokenBudgetExhausted({
              limit: current.limit,
              used: current.used,
              resetAt: current.resetAt,
              message: `the daily AI token budget is used up (${current.used} of ${current.limit} tokens); it resets at ${current.resetAt.toISOString()}`
            })
          }
        })

      return TokenBudget.of({ status, record, ensureAvailable })
    })
  )
}

/**
 * For the mail.analyze / mail.embed processors: the budget check before a batch, as job errors.
 * Exhausted: a permanent failure with the code `token_budget_exhausted` (the mail stays pending;
 * the next sync's jobs, or a reprocess, pick it up once the budget has reset). Redis or the
 * database unreachable: transient (the job retries).
 */
export const budgetGate = (budget: TokenBudgetShape, owner: UserId, kind: "mail.analyze" | "mail.embed") =>
  budget.ensureAvailable(owner).pipe(
    Effect.catchTag("TokenBudgetExhausted", (exhausted) =>
      Metric.update(Metric.withAttributes(aiTokenBudgetExhausted, { kind }), 1).pipe(
        Effect.andThen(
          Effect.fail(new PermanentJobError({ code: "token_budget_exhausted", message: exhausted.message }))
        )
      )
    ),
    Effect.catchTag(["RedisError", "DatabaseError"], (error) =>
      Effect.fail(new TransientJobError({ code: "token_budget_unavailable", message: error.message }))
    )
  )

/**
 * A TokenUsageRecorder for one job of `owner`: each provider call's tokens are added to the
 * owner's count. A count that could not be written (Redis unreachable) is not dropped silently:
 * `failIfLost`, run after the batch is saved, fails the job as transient (`token_budget_unavailable`).
 */
export const tokenUsageRecorderFor = (budget: TokenBudgetShape, owner: UserId) =>
  Effect.gen(function* () {
    const lost = yield* Ref.make(Option.none<RedisError>())
    const recorder: TokenUsageRecorder = (tokens) =>
      budget.record(owner, tokens).pipe(Effect.catchTag("RedisError", (error) => Ref.set(lost, Option.some(error))))
    const failIfLost = Effect.flatMap(Ref.get(lost), (error) =>
      Option.match(error, {
        onNone: () => Effect.void,
        onSome: (e) =>
          Effect.fail(
            new TransientJobError({
              code: "token_budget_unavailable",
              message: `the token usage could not be counted: ${e.message}`
            })
          )
      })
    )
    return { recorder, failIfLost }
  })
