import { assert, it } from "@effect/vitest"
import { ConfigProvider, Context, Effect, Fiber, Layer, Queue, Stream } from "effect"
import type { JobState } from "../../src/contract/jobs/Job.ts"
import { PlatformLive } from "../../src/main/layers.ts"
import { EVENT_FALLBACK_POLL_MILLIS, JobEnds, type JobStateEvent, makeJobEnds } from "../../src/watch/JobEnds.ts"
import { makeTestEnv } from "../harness/TestEnv.ts"
import { psqlValue } from "../harness/postgres.ts"

/*
 * Issue 14, finding A: the watchers follow every sync they queue (the lag metric) and wait for running
 * syncs to end. Each follower used to poll `jobs.get` on its own (one transaction per job per 200 ms):
 * a backlog of 1,000 syncs starved the worker's database pool. JobEnds reads all followed jobs with
 * one query per tick, whatever their number.
 */

it.live("1,000 followed jobs cost one look-up per tick, and each follower gets its job's end", () =>
  Effect.gen(function* () {
    const states = new Map<string, JobState>()
    const ids = Array.from({ length: 1_000 }, () => crypto.randomUUID())
    for (const id of ids) states.set(id, "queued")
    let polls = 0
    let largest = 0
    const jobEnds = yield* makeJobEnds(
      (asked) =>
        Effect.sync(() => {
          polls++
          largest = Math.max(largest, asked.length)
          return new Map(asked.flatMap((id) => (states.has(id) ? [[id, states.get(id) ?? "queued"] as const] : [])))
        }),
      20
    )
    const followers = yield* Effect.forEach(ids, (id) => Effect.forkChild(jobEnds.awaitEnd(id, 60_000)))
    // several ticks with every job still queued
    while (polls < 5) yield* Effect.sleep("20 millis")
    const pollsWhileQueued = polls
    for (const [index, id] of ids.entries()) states.set(id, index % 2 === 0 ? "succeeded" : "failed")
    const ends = yield* Effect.forEach(followers, Fiber.join)
    assert.deepStrictEqual(
      ends,
      ids.map((_, index) => (index % 2 === 0 ? "succeeded" : "failed"))
    )
    assert.strictEqual(largest, 1_000, "one look-up asks for every followed job")
    // per-job polling asked once per job per tick: at least 1,000 look-ups for the first tick alone
    assert.isAtMost(polls, pollsWhileQueued + 3, `${polls} look-ups`)
    assert.strictEqual(yield* jobEnds.following, 0)
    const idle = polls
    yield* Effect.sleep("100 millis")
    assert.strictEqual(polls, idle, "nothing followed: no look-ups")
  }).pipe(Effect.scoped)
)

it.live("a follower past its wait gets `timeout`, a job without a row `gone`", () =>
  Effect.gen(function* () {
    const jobEnds = yield* makeJobEnds(
      (asked) => Effect.succeed(new Map(asked.filter((id) => id === "queued").map((id) => [id, "queued" as const]))),
      20
    )
    assert.strictEqual(yield* jobEnds.awaitEnd("queued", 50), "timeout")
    assert.strictEqual(yield* jobEnds.awaitEnd("no-such-job", 60_000), "gone")
    assert.strictEqual(yield* jobEnds.following, 0)
  }).pipe(Effect.scoped)
)

it.live("the real look-up reads job states from PostgreSQL (system scope)", () =>
  Effect.gen(function* () {
    const testEnv = yield* makeTestEnv()
    const owner = crypto.randomUUID()
    psqlValue(
      testEnv.databaseUrl,
      `INSERT INTO users (id, email, password_hash) VALUES ('${owner}', '${owner}@ends.test', '!')`
    )
    const job = psqlValue(
      testEnv.databaseUrl,
      `INSERT INTO jobs (user_id, kind, payload, state, max_attempts) VALUES ('${owner}', 'mail.sync', '{}', 'running', 1) RETURNING id`
    )
    const context = yield* Layer.build(
      JobEnds.layer.pipe(
        Layer.provide(PlatformLive),
        Layer.provide(ConfigProvider.layer(ConfigProvider.fromUnknown(testEnv.env)))
      )
    )
    const jobEnds = Context.get(context, JobEnds)
    const follower = yield* Effect.forkChild(jobEnds.awaitEnd(job, 60_000))
    yield* Effect.sleep("300 millis")
    psqlValue(testEnv.databaseUrl, `UPDATE jobs SET state = 'cancelled' WHERE id = '${job}'`)
    assert.strictEqual(yield* Fiber.join(follower), "cancelled")
  }).pipe(Effect.scoped)
)

/*
 * With the job events: a follower settles on its job's terminal event, so the look-up is only the
 * fallback for a lost event (once per EVENT_FALLBACK_POLL_MILLIS), not a transaction per tick for as
 * long as syncs keep coming.
 */
const eventStream = () =>
  Effect.map(Queue.unbounded<JobStateEvent>(), (queue) => ({
    queue,
    stream: Stream.fromQueue(queue)
  }))

it.live("with job events a follower settles on its job's event, without a look-up", () =>
  Effect.gen(function* () {
    let polls = 0
    const { queue, stream } = yield* eventStream()
    const jobEnds = yield* makeJobEnds(
      (asked) =>
        Effect.sync(() => {
          polls++
          return new Map(asked.map((id) => [id, "running" as const]))
        }),
      20,
      stream
    )
    const ids = Array.from({ length: 20 }, () => crypto.randomUUID())
    const followers = yield* Effect.forEach(ids, (id) => Effect.forkChild(jobEnds.awaitEnd(id, 5_000)))
    yield* Effect.sleep("100 millis")
    // a `running` event settles nothing; the terminal ones settle their followers
    for (const id of ids) yield* Queue.offer(queue, { jobId: id, state: "running" })
    for (const id of ids) yield* Queue.offer(queue, { jobId: id, state: "succeeded" })
    const ends = yield* Effect.forEach(followers, Fiber.join)
    assert.deepStrictEqual(
      ends,
      ids.map(() => "succeeded")
    )
    // five ticks went by: one look-up per tick would have been five or more
    assert.strictEqual(polls, 0, `${polls} look-ups`)
    // a follower that comes after its job's event is settled at once
    const late = crypto.randomUUID()
    yield* Queue.offer(queue, { jobId: late, state: "failed" })
    yield* Effect.sleep("20 millis")
    assert.strictEqual(yield* jobEnds.awaitEnd(late, 5_000), "failed")
    assert.strictEqual(polls, 0)
  }).pipe(Effect.scoped)
)

it.live("with job events a lost event is caught by the fallback look-up", () =>
  Effect.gen(function* () {
    let polls = 0
    const { stream } = yield* eventStream()
    const jobEnds = yield* makeJobEnds(
      (asked) =>
        Effect.sync(() => {
          polls++
          return new Map(asked.map((id) => [id, "succeeded" as const]))
        }),
      20,
      stream
    )
    const started = Date.now()
    // no event ever comes for this job (lost): the fallback look-up, about a second later, settles it
    assert.strictEqual(yield* jobEnds.awaitEnd(crypto.randomUUID(), 60_000), "succeeded")
    assert.strictEqual(polls, 1)
    assert.isAtLeast(Date.now() - started, EVENT_FALLBACK_POLL_MILLIS - 100)
  }).pipe(Effect.scoped)
)
