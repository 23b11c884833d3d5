import { Context, Effect, Layer, Option, type Redacted, Schema } from "effect"
import { Redis, type RedisError } from "../platform/Redis.ts"
import { AuthConfig } from "./AuthConfig.ts"
import { Role } from "../contract/users/CurrentUser.ts"
import { randomSecret, secretHash } from "./Secrets.ts"
import { UserId } from "../contract/users/UserId.ts"

/** Who a live session belongs to. */
export interface SessionUser {
  readonly id: UserId
  readonly email: string
  readonly role: Role
}

export interface NewSession {
  /** The cookie value: shown to the client once, never stored (Redis keeps its SHA-256). */
  readonly token: Redacted.Redacted<string>
  readonly expiresAt: Date
}

/** A live session as its owner lists it (never the cookie). */
export interface SessionInfo {
  /** The first characters of the stored hash (see `sessionIdOf`). */
  readonly id: string
  readonly userAgent: string | null
  readonly signedInAt: Date
  readonly lastUsedAt: Date
  readonly expiresAt: Date
}

/** Characters of the session's SHA-256 (hex) that name it in the API: 64 bits, not the cookie. */
const sessionIdLength = 16
/** The API's id of the session whose cookie is `token`. */
export const sessionIdOf = (token: Redacted.Redacted<string>): string => secretHash(token).slice(0, sessionIdLength)

/** Longest User-Agent kept with a session. */
const maxUserAgentLength = 300

export interface SessionsShape {
  readonly create: (user: SessionUser, userAgent?: string | undefined) => Effect.Effect<NewSession, RedisError>
  /** The session's user, refreshing its idle timer; None when unknown, idle too long or past its absolute end. */
  readonly validate: (token: Redacted.Redacted<string>) => Effect.Effect<Option.Option<SessionUser>, RedisError>
  readonly revoke: (token: Redacted.Redacted<string>) => Effect.Effect<void, RedisError>
  /** The user's live sessions, newest sign-in first. */
  readonly list: (userId: UserId) => Effect.Effect<ReadonlyArray<SessionInfo>, RedisError>
  /** Ends the user's session with this id; false when the user has none with it (another user's id included). */
  readonly revokeById: (userId: UserId, id: string) => Effect.Effect<boolean, RedisError>
  /** Ends every session of a user at once (disable, password change). */
  readonly revokeAll: (userId: UserId) => Effect.Effect<number, RedisError>
}

/**
 * One Redis hash per session under `<prefix>:session:<sha256(id)>`, whose TTL
 * is the idle timeout (refreshed on use, never past the absolute end), plus a
 * set per user (`<prefix>:user-sessions:<user id>`) so all of a user's
 * sessions can be ended together.
 */
const validateScript = `
local s = redis.call('HMGET', KEYS[1], 'u', 'e', 'r', 'a')
if not s[1] then return nil end
local now = tonumber(ARGV[1])
local absolute = tonumber(s[4])
if (not absolute) or now >= absolute then
  redis.call('DEL', KEYS[1])
  return nil
end
redis.call('PEXPIRE', KEYS[1], math.min(tonumber(ARGV[2]), absolute - now))
redis.call('HSET', KEYS[1], 'l', ARGV[1])
return {s[1], s[2], s[3]}
`

const SessionFields = Schema.Tuple([UserId, Schema.String, Role])
const decodeFields = Schema.decodeUnknownOption(SessionFields)

const millis = (value: string | null | undefined): number | undefined => {
  const parsed = value === null || value === undefined ? Number.NaN : Number(value)
  return Number.isFinite(parsed) ? parsed : undefined
}

export class Sessions extends Context.Service<Sessions, SessionsShape>()("mail-helper/Sessions") {
  static readonly layer = Layer.effect(
    Sessions,
    Effect.gen(function* () {
      const redis = yield* Redis
      const config = yield* AuthConfig
      const idleMillis = config.sessionIdleSeconds * 1000
      const absoluteMillis = config.sessionAbsoluteSeconds * 1000
      const sessionKey = (hash: string) => redis.key("session", hash)
      const userKey = (userId: string) => redis.key("user-sessions", userId)

      const pruneIndex = (userId: UserId) =>
        redis.use("prune sessions", async (client) => {
          const members = await client.smembers(userKey(userId))
          if (members.length < 8) return
          const exists = await Promise.all(members.map((hash) => client.exists(sessionKey(hash))))
          const gone = members.filter((_, index) => exists[index] === 0)
          if (gone.length > 0) await client.srem(userKey(userId), ...gone)
        })

      const create = (user: SessionUser, userAgent?: string | undefined) =>
        Effect.gen(function* () {
          const token = randomSecret()
          const hash = secretHash(token)
          const now = Date.now()
          const absolute = now + absoluteMillis
          yield* redis.use("create session", (client) =>
            client
              .multi()
              .hset(sessionKey(hash), {
                u: user.id,
                e: user.email,
                r: user.role,
                c: String(now),
                l: String(now),
                a: String(absolute),
                ua: (userAgent ?? "").slice(0, maxUserAgentLength)
              })
              .pexpire(sessionKey(hash), Math.min(idleMillis, absoluteMillis))
              .sadd(userKey(user.id), hash)
              .pexpire(userKey(user.id), absoluteMillis)
              .exec()
          )
          yield* pruneIndex(user.id)
          return { token, expiresAt: new Date(absolute) }
        }).pipe(Effect.withSpan("Sessions.create"))

      const validate = (token: Redacted.Redacted<string>) =>
        redis
          .use("validate session", (client) =>
            client.eval(validateScript, 1, sessionKey(secretHash(token)), String(Date.now()), String(idleMillis))
          )
          .pipe(
            Effect.map((reply) =>
              Option.map(decodeFields(reply), ([id, email, role]): SessionUser => ({ id, email, role }))
            ),
            Effect.withSpan("Sessions.validate")
          )

      const revoke = (token: Redacted.Redacted<string>) =>
        Effect.gen(function* () {
          const key = sessionKey(secretHash(token))
          const userId = yield* redis.use("read session owner", (client) => client.hget(key, "u"))
          yield* redis.use("revoke session", (client) => {
            const tx = client.multi().del(key)
            if (userId !== null) tx.srem(userKey(userId), secretHash(token))
            return tx.exec()
          })
        }).pipe(Effect.withSpan("Sessions.revoke"))

      const revokeAll = (userId: UserId) =>
        redis
          .use("revoke all sessions", async (client) => {
            const members = await client.smembers(userKey(userId))
            const tx = client.multi()
            for (const hash of members) tx.del(sessionKey(hash))
            await tx.del(userKey(userId)).exec()
            return members.length
          })
          .pipe(Effect.withSpan("Sessions.revokeAll"))

      const list = (userId: UserId) =>
        redis
          .use("list sessions", async (client) => {
            const members = await client.smembers(userKey(userId))
            const now = Date.now()
            const rows = await Promise.all(
              members.map(async (hash) => {
                const [fields, ttl] = await Promise.all([
                  client.hmget(sessionKey(hash), "u", "c", "l", "a", "ua"),
                  client.pttl(sessionKey(hash))
                ])
                return { hash, fields, ttl }
              })
            )
            const sessions: Array<SessionInfo> = []
            for (const { hash, fields, ttl } of rows) {
              const [owner, created, lastUsed, absolute, userAgent] = fields
              const signedInAt = millis(created)
              const end = millis(absolute)
              // gone meanwhile, someone else's (cannot happen: the set is per user), or past its end
              if (owner !== userId || signedInAt === undefined || end === undefined || ttl < 0 || end <= now) continue
              sessions.push({
                id: hash.slice(0, sessionIdLength),
                userAgent: userAgent === null || userAgent === undefined || userAgent === "" ? null : userAgent,
                signedInAt: new Date(signedInAt),
                lastUsedAt: new Date(millis(lastUsed) ?? signedInAt),
                expiresAt: new Date(Math.min(end, now + ttl))
              })
            }
            return sessions.sort((a, b) => b.signedInAt.getTime() - a.signedInAt.getTime())
          })
          .pipe(Effect.withSpan("Sessions.list"))

      const revokeById = (userId: UserId, id: string) =>
        redis
          .use("revoke session by id", async (client) => {
            // only the user's own set is searched: another user's session id is not found
            const members = await client.smembers(userKey(userId))
            const hash = id.length === sessionIdLength ? members.find((member) => member.startsWith(id)) : undefined
            if (hash === undefined) return false
            const [deleted] = (await client.multi().del(sessionKey(hash)).srem(userKey(userId), hash).exec()) ?? []
            return deleted?.[1] === 1
          })
          .pipe(Effect.withSpan("Sessions.revokeById"))

      return Sessions.of({ create, validate, revoke, revokeById, list, revokeAll })
    })
  )
}
