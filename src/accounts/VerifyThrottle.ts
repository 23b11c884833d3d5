import { Context, Effect, Layer, Schema } from "effect"
import { TooManyRequests } from "../contract/http/ApiErrors.ts"
import { Redis, type RedisError } from "../platform/Redis.ts"
import type { UserId } from "../contract/users/UserId.ts"
import { AccountsConfig } from "./AccountsConfig.ts"

export interface VerifyThrottleShape {
  /**
   * Counts one IMAP login check (account create, credential change) for the user before it
   * starts, so parallel requests are counted too. Past IMAP_VERIFY_MAX_PER_WINDOW within
   * IMAP_VERIFY_WINDOW_SECONDS: TooManyRequests (429, Retry-After) and nothing is contacted.
   */
  readonly attempt: (owner: UserId) => Effect.Effect<void, TooManyRequests | RedisError>
}

/** A fixed window: the first check starts it; the counter only expires, so hammering does not lengthen it. */
const script = `
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return {n, redis.call('PTTL', KEYS[1])}
`

const decodeReply = Schema.decodeUnknownEffect(Schema.Tuple([Schema.Number, Schema.Number]))

/**
 * Bounds how fast one user can make the server open connections to hosts of their choosing
 * (each check is a TCP connect, maybe TLS, maybe a login), even to public hosts.
 */
export class VerifyThrottle extends Context.Service<VerifyThrottle, VerifyThrottleShape>()(
  "mail-helper/VerifyThrottle"
) {
  static readonly layer = Layer.effect(
    VerifyThrottle,
    Effect.gen(function* () {
      const redis = yield* Redis
      const config = yield* AccountsConfig
      const windowMillis = config.verifyWindowSeconds * 1000

      const attempt = (owner: UserId) =>
        Effect.gen(function* () {
          const reply = yield* redis.use("count IMAP login check", (client) =>
            client.eval(script, 1, redis.key("imap-verify", owner), String(windowMillis))
          )
          const [count, ttl] = yield* decodeReply(reply).pipe(Effect.orDie)
          if (count > config.verifyMaxPerWindow) {
            const retryAfterSeconds = Math.max(1, Math.ceil((ttl > 0 ? ttl : windowMillis) / 1000))
            return yield* new TooManyRequests({
              message: `too many IMAP login checks (at most ${config.verifyMaxPerWindow} in ${config.verifyWindowSeconds} seconds); try again in ${retryAfterSeconds} seconds`,
              retryAfterSeconds
            })
          }
        }).pipe(Effect.withSpan("VerifyThrottle.attempt"))

      return VerifyThrottle.of({ attempt })
    })
  )
}
