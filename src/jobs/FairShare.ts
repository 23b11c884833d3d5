import { Effect, Schema } from "effect"
import { createHash } from "node:crypto"
import type { Redis as IORedis } from "ioredis"
import type { WorkClass } from "../contract/jobs/JobKind.ts"
import type { RedisShape } from "../platform/Redis.ts"

/**
 * Fair share between users on open-source BullMQ (no groups): every job's BullMQ `priority` is its
 * turn, assigned at submit time by one Lua script (start-time fair queuing). Within a class of work a
 * user's next turn is `max(their last turn + 1, the class's virtual time)`, where the virtual time is
 * the turn of the class's next waiting job: a user with 50,000 waiting jobs holds turns far ahead, a
 * user with one gets the next turn. Interactive turns live in a band of priorities below the bulk
 * band, so interactive work always starts first. BullMQ pops the lowest priority (ties in arrival
 * order), so no scheduler process holds turns: a worker dying loses nothing, a cancel removes the job
 * from the prioritized set as from the wait list.
 *
 * BullMQ's priorities end at 2^21 - 1. When a class's turns reach the end of its band, the script
 * re-bases it: every waiting (and delayed) job of the band and every user's last turn move down by
 * the virtual time, in the same script, so the order of what waits is unchanged.
 */

/**
 * The code of the TransientJobError a job ends with when every IMAP connection slot of its account
 * stayed taken (MailSync, RuleExecutor): the worker sends it back to waiting (WorkerRuntime), and
 * GET /jobs/:id says `waiting: imap slot`.
 */
export const imapSlotBusyCode = "imap_busy"

/**
 * The code of the TransientJobError a bulk job ends its attempt with when it yields its slot to
 * interactive work of its kind (CurrentJob.shouldYield, `yieldToInteractive`): the worker sends it
 * back to waiting without spending an attempt (WorkerRuntime), and GET /jobs/:id says `fair share`.
 */
export const yieldedCode = "yielded"

/**
 * BullMQ's prioritized sorted set scores a job `priority * 2^32 + counter`: the scores of one band's
 * jobs are `[low * 2^32, (high + 1) * 2^32 - 1]` (exact in a double: 2^53 is above them all).
 */
export const bandScores = (band: Band): { readonly min: string; readonly max: string } => ({
  min: String(band.low * 2 ** 32),
  max: String((band.high + 1) * 2 ** 32 - 1)
})

/** BullMQ's highest priority (2^21 - 1). */
export const maxPriority = 2 ** 21 - 1

export interface Band {
  readonly low: number
  readonly high: number
}

/** Interactive turns are 1 .. 2^20 - 1, bulk turns 2^20 .. 2^21 - 1. */
export const bands: Record<WorkClass, Band> = {
  interactive: { low: 1, high: 2 ** 20 - 1 },
  bulk: { low: 2 ** 20, high: maxPriority }
}

/** The priority a job gets when its turn could not be assigned (Redis did not answer): last of its class. */
export const fallbackPriority = (workClass: WorkClass): number => bands[workClass].high

/** The owner name the script keys turns by; system jobs take turns as one user. */
export const ownerKey = (ownerId: string | null): string => ownerId ?? "-"

/**
 * KEYS[1] the queue's fair-share hash (fields `vt:<class>`, `u:<class>:<owner>`), KEYS[2] the
 * queue's prioritized sorted set, KEYS[3] its delayed sorted set.
 * ARGV[1] band low, ARGV[2] band high, ARGV[3] class, ARGV[4] the queue's job key prefix
 * (`<prefix>:<queue>:`), ARGV[5..] one owner per job.
 * Returns { rebased (0|1), turn of each job in order }.
 */
export const assignScript = `
local state, prioritized, delayed = KEYS[1], KEYS[2], KEYS[3]
local low, high = tonumber(ARGV[1]), tonumber(ARGV[2])
local class, jobPrefix = ARGV[3], ARGV[4]
local SHIFT = 4294967296
local vtField = "vt:" .. class
local userPrefix = "u:" .. class .. ":"
local vt = tonumber(redis.call("HGET", state, vtField) or low)
local first = redis.call("ZRANGEBYSCORE", prioritized, low * SHIFT, (high + 1) * SHIFT - 1, "WITHSCORES", "LIMIT", 0, 1)
if first[2] then
  local p = math.floor(tonumber(first[2]) / SHIFT)
  if p > vt then vt = p end
end
local lasts = {}
local function lastOf(owner)
  local last = lasts[owner]
  if last == nil then last = tonumber(redis.call("HGET", state, userPrefix .. owner) or 0) end
  return last
end
local function rebase()
  local delta = vt - low
  if delta <= 0 then return 0 end
  local waiting = redis.call("ZRANGEBYSCORE", prioritized, low * SHIFT, (high + 1) * SHIFT - 1, "WITHSCORES")
  for i = 1, #waiting, 2 do
    local score = tonumber(waiting[i + 1])
    local p = math.floor(score / SHIFT)
    local np = math.max(low, p - delta)
    redis.call("ZADD", prioritized, np * SHIFT + (score - p * SHIFT), waiting[i])
    redis.call("HSET", jobPrefix .. waiting[i], "priority", np)
  end
  local held = redis.call("ZRANGE", delayed, 0, -1)
  for i = 1, #held do
    local p = tonumber(redis.call("HGET", jobPrefix .. held[i], "priority") or 0)
    if p >= low and p <= high then
      redis.call("HSET", jobPrefix .. held[i], "priority", math.max(low, p - delta))
    end
  end
  local fields = redis.call("HGETALL", state)
  for i = 1, #fields, 2 do
    if string.sub(fields[i], 1, #userPrefix) == userPrefix then
      local owner = string.sub(fields[i], #userPrefix + 1)
      if lasts[owner] == nil then lasts[owner] = tonumber(fields[i + 1]) end
    end
  end
  for owner, last in pairs(lasts) do
    if last - delta < low then
      redis.call("HDEL", state, userPrefix .. owner)
      lasts[owner] = 0
    else
      lasts[owner] = last - delta
    end
  end
  vt = low
  return 1
end
local rebased = 0
local result = { 0 }
for i = 5, #ARGV do
  local owner = ARGV[i]
  local turn = math.max(lastOf(owner) + 1, vt)
  if turn > high and rebased == 0 then
    rebased = rebase()
    turn = math.max(lastOf(owner) + 1, vt)
  end
  if turn > high then turn = high end
  lasts[owner] = turn
  result[#result + 1] = turn
end
for owner, last in pairs(lasts) do
  if last > 0 then redis.call("HSET", state, userPrefix .. owner, last) end
end
redis.call("HSET", state, vtField, vt)
result[1] = rebased
return result
`

export const assignScriptSha = createHash("sha1").update(assignScript).digest("hex")

/** Runs the turn script by its SHA, loading it on NOSCRIPT. */
const runAssignScript = (client: IORedis, keys: ReadonlyArray<string>, args: ReadonlyArray<string>): Promise<unknown> =>
  client
    .evalsha(assignScriptSha, keys.length, ...keys, ...args)
    .catch((error: unknown) =>
      error instanceof Error && error.message.includes("NOSCRIPT")
        ? client.eval(assignScript, keys.length, ...keys, ...args)
        : Promise.reject(error)
    )

/** The turn script's answer: whether it re-based, then one turn per job. */
const decodeTurns = Schema.decodeUnknownEffect(Schema.TupleWithRest(Schema.Tuple([Schema.Number]), [Schema.Number]))

/**
 * The turns (BullMQ priorities) of jobs of one kind and class, one per owner in order: the submit's
 * path (Jobs) and the worker's, for a job that lowered itself to bulk and yielded (WorkerRuntime).
 * `queue` is the queue's qualified name (`<prefix>:<queue>`: BullMQ's `Queue.qualifiedName`,
 * `Job.queueQualifiedName`). Never fails: when Redis does not answer within 2 s (timed out,
 * connection down) or answers something that is not the script's answer, each job gets its class's
 * last priority and a warning says why. A re-base is logged.
 */
export const assignTurns = (
  redis: RedisShape,
  queue: string,
  kindName: string,
  workClass: WorkClass,
  owners: ReadonlyArray<string | null>
): Effect.Effect<ReadonlyArray<number>> => {
  if (owners.length === 0) return Effect.succeed([])
  const band = bands[workClass]
  const keys = [redis.key("fair", kindName), `${queue}:prioritized`, `${queue}:delayed`]
  const args = [String(band.low), String(band.high), workClass, `${queue}:`, ...owners.map(ownerKey)]
  return Effect.tryPromise({
    try: () => runAssignScript(redis.client, keys, args),
    catch: (cause) => (cause instanceof Error ? cause.message : String(cause))
  }).pipe(
    Effect.flatMap((answer) => Effect.mapError(decodeTurns(answer), (error) => `unexpected answer: ${error.message}`)),
    Effect.timeoutOrElse({ duration: "2 seconds", orElse: () => Effect.fail("timed out") }),
    Effect.flatMap(([rebased, ...turns]) =>
      rebased === 1
        ? Effect.as(Effect.logInfo("fair-share turns re-based", { kind: kindName, workClass }), turns)
        : Effect.succeed(turns)
    ),
    Effect.catch((reason) =>
      Effect.as(
        Effect.logWarning("fair-share turn not assigned; the job takes its class's last turn", {
          kind: kindName,
          workClass,
          reason
        }),
        owners.map(() => fallbackPriority(workClass))
      )
    )
  )
}
