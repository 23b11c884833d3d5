import { Context, Effect, Layer, Schema } from "effect"
import { TooManyRequests } from "../contract/http/ApiErrors.ts"
import { Redis, type RedisError } from "../platform/Redis.ts"
import { AuthConfig } from "./AuthConfig.ts"
import { secretHash } from "./Secrets.ts"

export interface LoginThrottleShape {
  /**
   * Counts one sign-in attempt for the client address and for the account
   * (known or not) before the password is checked, so parallel guesses are
   * counted too. Past either limit: TooManyRequests with the seconds until
   * the window that tripped ends.
   */
  readonly attempt: (address: string, email: string) => Effect.Effect<void, TooManyRequests | RedisError>
  /**
   * Counts one registration from the client address (each costs an argon2id
   * hash, so unbounded registrations would be a cheap way to burn CPU).
   */
  readonly registration: (address: string) => Effect.Effect<void, TooManyRequests | RedisError>
  /** A successful sign-in clears the account's count and takes its attempt back from the address. */
  readonly succeeded: (address: string, email: string) => Effect.Effect<void, RedisError>
}

/**
 * Fixed windows in Redis: the first attempt starts a window of
 * LOGIN_WINDOW_SECONDS; the counters only expire, so hammering on does not
 * lengthen the lock-out.
 */
const attemptScript = `
local counts = {}
for i = 1, 2 do
  local n = redis.call('INCR', KEYS[i])
  if n == 1 then redis.call('PEXPIRE', KEYS[i], ARGV[1]) end
  counts[#counts + 1] = n
  counts[#counts + 1] = redis.call('PTTL', KEYS[i])
end
return counts
`

// DECR only a live counter: on an expired key it would create one without a TTL.
const successScript = `
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('DECR', KEYS[1]) end
redis.call('DEL', KEYS[2])
return 1
`

const Reply = Schema.Tuple([Schema.Number, Schema.Number, Schema.Number, Schema.Number])
const decodeReply = Schema.decodeUnknownEffect(Reply)

export class LoginThrottle extends Context.Service<LoginThrottle, LoginThrottleShape>()("mail-helper/LoginThrottle") {
  static readonly layer = Layer.effect(
    LoginThrottle,
    Effect.gen(function* () {
      const redis = yield* Redis
      const config = yield* AuthConfig
      const windowMillis = config.loginWindowSeconds * 1000
      // Keys hold hashes, so Redis never lists who tried to sign in.
      const addressKey = (address: string) => redis.key("login-throttle", "address", secretHash(address).slice(0, 32))
      const accountKey = (email: string) => redis.key("login-throttle", "account", secretHash(email).slice(0, 32))

      const attempt = (address: string, email: string) =>
        Effect.gen(function* () {
          const reply = yield* redis.use("count sign-in attempt", (client) =>
            client.eval(attemptScript, 2, addressKey(address), accountKey(email), String(windowMillis))
          )
          const [byAddress, addressTtl, byAccount, accountTtl] = yield* decodeReply(reply).pipe(Effect.orDie)
          const waits: Array<number> = []
          if (byAddress > config.loginMaxPerAddress) waits.push(addressTtl)
          if (byAccount > config.loginMaxPerAccount) waits.push(accountTtl)
          if (waits.length > 0) {
            const retryAfterSeconds = Math.max(1, Math.ceil(Math.max(...waits) / 1000))
            return yield* new TooManyRequests({
              message: `too many sign-in attempts; try again in ${retryAfterSeconds} seconds`,
              retryAfterSeconds
            })
          }
        }).pipe(Effect.withSpan("LoginThrottle.attempt"))

      const registrationScript = `
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return {n, redis.call('PTTL', KEYS[1])}
`
      const registration = (address: string) =>
        Effect.gen(function* () {
          const key = redis.key("login-throttle", "register", secretHash(address).slice(0, 32))
          const reply = yield* redis.use("count registration", (client) =>
            client.eval(registrationScript, 1, key, String(windowMillis))
          )
          const [count, ttl] = yield* Schema.decodeUnknownEffect(Schema.Tuple([Schema.Number, Schema.Number]))(
            reply
          ).pipe(Effect.orDie)
          if (count > config.loginMaxPerAddress) {
            const retryAfterSeconds = Math.max(1, Math.ceil(ttl / 1000))
            return yield* new TooManyRequests({
              message: `too many registrations from this address; try again in ${retryAfterSeconds} seconds`,
              retryAfterSeconds
            })
          }
        })

      const succeeded = (address: string, email: string) =>
        redis
          .use("reset sign-in attempts", (client) =>
            client.eval(successScript, 2, addressKey(address), accountKey(email))
          )
          .pipe(Effect.asVoid)

      return LoginThrottle.of({ attempt, registration, succeeded })
    })
  )
}
