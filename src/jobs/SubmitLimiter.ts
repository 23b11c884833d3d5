import { Context, Effect, Layer } from "effect"
import { Redis } from "../platform/Redis.ts"
import { QueueUnavailable, SubmitRateLimited } from "../contract/jobs/Job.ts"
import { JobsConfig } from "./JobsConfig.ts"

/**
 * A token bucket per user in Redis, so every API instance shares one budget: `burst` tokens, refilled
 * at `ratePerMinute`; one submit takes one. Checked and updated in one script (atomic under any
 * number of concurrent requests), on Redis's own clock (API hosts' clocks may differ).
 * Returns {1, 0} when a token was taken, {0, millis until the next token} otherwise.
 */
const takeScript = `
local rate = tonumber(ARGV[1]) / 60000
local burst = tonumber(ARGV[2])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
local allowed = 0
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
else
  wait = math.ceil((1 - tokens) / rate)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', now)
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate) + 1000)
return {allowed, wait}
`

export interface SubmitLimiterShape {
  /** Spends one of the user's submit tokens, or fails with how long until the next one. */
  readonly take: (userId: string) => Effect.Effect<void, SubmitRateLimited | QueueUnavailable>
}

export class SubmitLimiter extends Context.Service<SubmitLimiter, SubmitLimiterShape>()("mail-helper/SubmitLimiter") {
  static readonly layer = Layer.effect(
    SubmitLimiter,
    Effect.gen(function* () {
      const redis = yield* Redis
      const config = yield* JobsConfig
      if (config.submitRatePerMinute === 0) return SubmitLimiter.of({ take: () => Effect.void })
      const take = (userId: string) =>
        redis
          .use("submit rate", (client) =>
            client.eval(
              takeScript,
              1,
              redis.key("submit-rate", userId),
              String(config.submitRatePerMinute),
              String(config.submitBurst)
            )
          )
          .pipe(
            // Redis is where the job would go next: without it the submit cannot succeed anyway
            Effect.mapError(() => new QueueUnavailable({ message: "job queue unavailable (submit rate)" })),
            Effect.flatMap((reply) => {
              const [allowed, wait] = Array.isArray(reply) ? reply : []
              if (allowed === 1) return Effect.void
              const retryAfterSeconds = Math.max(1, Math.ceil(Number(wait) / 1000))
              return Effect.fail(
                new SubmitRateLimited({
                  message: `too many jobs submitted: at most ${config.submitRatePerMinute} per minute (bursts of ${config.submitBurst}); try again in ${retryAfterSeconds} s`,
                  retryAfterSeconds
                })
              )
            }),
            Effect.withSpan("SubmitLimiter.take")
          )
      return SubmitLimiter.of({ take })
    })
  )
}
