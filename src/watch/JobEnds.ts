/**
 * Waits for jobs to end, for the whole process at once: every followed job id is looked up by one
 * query per tick (`id = ANY(...)`, system scope, primary key), whatever the number of followers.
 *
 * The watchers follow each sync they queue (the lag metric) and wait for a running sync to end before
 * asking again (Watchers.ts). Following each job with its own `jobs.get` poll cost one user-scoped
 * transaction per job per 200 ms: with 1,000 catch-up syncs queued the worker's 10 database
 * connections had ~1,000 waiters and the syncs themselves starved (issue 14, finding A). Here the cost
 * is one query per tick while anything is followed, none when nothing is; deadlines are checked on the
 * tick too, so a follower holds no timer of its own.
 *
 * With the job events (JobEvents, Redis pub/sub: a job's final state is published right after its
 * record's final write) a follower settles on its job's event, and the look-up is only the fallback
 * for an event lost (pub/sub drops what a disconnected subscriber misses): once per
 * EVENT_FALLBACK_POLL_MILLIS while anything is followed, not every tick. Under a steady flow of syncs
 * the per-tick look-up was a transaction every 100 ms for as long as the flow lasted. A job that ended
 * before its follower came is found in the ends heard lately (bounded), so the follower does not wait
 * for the fallback.
 */
import { Context, Deferred, Effect, Layer, Option, Schema, Stream } from "effect"
import { SqlClient } from "effect/sql"
import { isTerminal, JobState } from "../contract/jobs/Job.ts"
import { type DatabaseError, decodeRows, fromSqlError } from "../platform/Database.ts"
import { UserScope } from "../users/UserScope.ts"
import { JobEvents } from "../jobs/JobEvents.ts"

/** How a followed job ended for its follower: a terminal state, gone (no such row), or not within the wait. */
export type JobEnd = JobState | "gone" | "timeout"

/** The states of the given jobs; ids without a row are absent from the map. */
export type PollStates = (ids: ReadonlyArray<string>) => Effect.Effect<ReadonlyMap<string, JobState>, DatabaseError>

/** How often the followed jobs are looked up (a sync of a few new messages takes a few hundred ms). */
export const JOB_END_POLL_MILLIS = 100

/** With job events: how often the look-up runs anyway while anything is followed (a lost event). */
export const EVENT_FALLBACK_POLL_MILLIS = 1_000

/** How many terminal job events are remembered for followers that come after them. */
const RECENT_ENDS = 10_000

/** A job's state as its event tells it (JobEvents). */
export interface JobStateEvent {
  readonly jobId: string
  readonly state: JobState
}

export interface JobEndsShape {
  /** Resolves when the job has ended, or with "timeout" after about `maxMillis` (checked on the tick). */
  readonly awaitEnd: (jobId: string, maxMillis: number) => Effect.Effect<JobEnd>
  /** Jobs followed right now (for tests and logs). */
  readonly following: Effect.Effect<number>
}

interface Follower {
  readonly deadline: number
  readonly done: Deferred.Deferred<JobEnd>
}

/**
 * The follower table and its polling fiber, forked in the caller's scope; with `events`, also the
 * fiber that settles followers on their jobs' events, and the look-up only every
 * EVENT_FALLBACK_POLL_MILLIS.
 */
export const makeJobEnds = (
  poll: PollStates,
  intervalMillis: number = JOB_END_POLL_MILLIS,
  events?: Stream.Stream<JobStateEvent>
) =>
  Effect.gen(function* () {
    const followers = new Map<string, Set<Follower>>()
    /** Terminal states heard lately, oldest first (a Map keeps insertion order). */
    const recent = new Map<string, JobState>()
    const remember = (jobId: string, state: JobState) => {
      recent.delete(jobId)
      recent.set(jobId, state)
      if (recent.size > RECENT_ENDS) {
        const oldest = recent.keys().next()
        if (oldest.done !== true) recent.delete(oldest.value)
      }
    }
    const pollEveryTicks =
      events === undefined ? 1 : Math.max(1, Math.round(EVENT_FALLBACK_POLL_MILLIS / intervalMillis))
    let ticks = 0

    const settle = (jobId: string, end: JobEnd, only?: (follower: Follower) => boolean) =>
      Effect.suspend(() => {
        const set = followers.get(jobId)
        if (set === undefined) return Effect.void
        const chosen = [...set].filter((follower) => only === undefined || only(follower))
        for (const follower of chosen) set.delete(follower)
        if (set.size === 0) followers.delete(jobId)
        return Effect.forEach(chosen, (follower) => Deferred.succeed(follower.done, end), { discard: true })
      })

    const lookUp = (ids: ReadonlyArray<string>) =>
      poll(ids).pipe(
        Effect.catch((error) =>
          // the followers keep waiting (until their deadline); the next tick asks again
          Effect.as(
            Effect.logWarning("state of followed jobs not read", { jobs: ids.length, error: error.message }),
            undefined
          )
        )
      )
    const tick = Effect.gen(function* () {
      if (followers.size === 0) return
      ticks++
      const ids = [...followers.keys()]
      // without an answer this tick (no look-up due, or it failed) only deadlines are settled
      const states = ticks % pollEveryTicks === 0 ? yield* lookUp(ids) : undefined
      const now = Date.now()
      for (const id of ids) {
        const state = states === undefined ? undefined : states.get(id)
        if (states !== undefined && state === undefined) yield* settle(id, "gone")
        else if (state !== undefined && isTerminal(state)) yield* settle(id, state)
        else yield* settle(id, "timeout", (follower) => follower.deadline <= now)
      }
    })

    yield* tick.pipe(Effect.andThen(Effect.sleep(intervalMillis)), Effect.forever, Effect.forkScoped)
    if (events !== undefined) {
      yield* events.pipe(
        Stream.runForEach((event) =>
          isTerminal(event.state)
            ? Effect.andThen(
                Effect.sync(() => remember(event.jobId, event.state)),
                settle(event.jobId, event.state)
              )
            : Effect.void
        ),
        Effect.forkScoped
      )
    }

    const awaitEnd = (jobId: string, maxMillis: number): Effect.Effect<JobEnd> =>
      Effect.gen(function* () {
        const follower: Follower = { deadline: Date.now() + maxMillis, done: yield* Deferred.make<JobEnd>() }
        let set = followers.get(jobId)
        if (set === undefined) {
          set = new Set()
          followers.set(jobId, set)
        }
        set.add(follower)
        // its job ended before it came: settled at once (registered first, so an event in between is not missed)
        const ended = recent.get(jobId)
        if (ended !== undefined) yield* settle(jobId, ended)
        // an interrupted follower leaves the table (the id is not polled for nobody)
        return yield* Deferred.await(follower.done).pipe(
          Effect.onInterrupt(() => settle(jobId, "timeout", (other) => other === follower))
        )
      })

    return {
      awaitEnd,
      following: Effect.sync(() => followers.size)
    } satisfies JobEndsShape
  })

const StateRow = Schema.Struct({ id: Schema.String, state: JobState })

export class JobEnds extends Context.Service<JobEnds, JobEndsShape>()("mail-helper/JobEnds") {
  static readonly layer = Layer.effect(
    JobEnds,
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const scope = yield* UserScope
      // the worker's job events, when this process has them (the watchers' worker does)
      const jobEvents = yield* Effect.serviceOption(JobEvents)
      const decode = decodeRows(StateRow)
      const poll: PollStates = (ids) =>
        scope.system("JobEnds.poll", sql`SELECT id, state FROM jobs WHERE id = ANY(${ids}::uuid[])`).pipe(
          Effect.flatMap(decode),
          Effect.map((rows) => new Map(rows.map((row) => [row.id, row.state]))),
          Effect.mapError(fromSqlError)
        )
      const events = Option.isSome(jobEvents) ? yield* jobEvents.value.subscribeAll : undefined
      return JobEnds.of(yield* makeJobEnds(poll, JOB_END_POLL_MILLIS, events))
    })
  )
}
