import { Effect, Schema } from "effect"
import { SqlClient } from "effect/sql"
import { CurrentJob } from "../jobs/CurrentJob.ts"
import type { QueueUnavailable } from "../contract/jobs/Job.ts"
import { defineJobKind } from "../jobs/JobKind.ts"
import { makeProcessor } from "../jobs/JobProcessor.ts"
import { databaseTrouble, ownerOf } from "../jobs/ProcessorSupport.ts"
import { Jobs, type Submitted } from "../jobs/Jobs.ts"
import { type DatabaseError, decodeRows } from "../platform/Database.ts"
import { UserId } from "../contract/users/UserId.ts"
import { UserScope } from "../users/UserScope.ts"
import { SearchConfig } from "./SearchConfig.ts"

export const SearchIndexPayload = Schema.Struct({
  /** The job's owner again, so the de-duplication key can name it; must equal the job's owner. */
  owner: UserId
})
export type SearchIndexPayload = typeof SearchIndexPayload.Type

export const SearchIndexResult = Schema.Struct({ indexed: Schema.Int })

/**
 * Computes the full-text vectors the sync left out (migration 0050): every message of the
 * owner whose `search_vector` is NULL, in batches, until none is left. One per owner at a
 * time; a sync that stores mail while it runs is picked up by the same job.
 */
export const SearchIndexJob = defineJobKind({
  name: "search.index",
  description: "Makes newly synced messages searchable by words",
  payload: SearchIndexPayload,
  result: SearchIndexResult,
  concurrency: 2,
  timeout: "1 hour",
  retryOnTimeout: true,
  retry: { attempts: 8, initialDelay: "2 seconds", maxDelay: "5 minutes", jitter: 0.3 },
  deduplicationKey: (payload) => `${payload.owner}:search-index`,
  userVisible: true
})

const decodeCounted = decodeRows(Schema.Struct({ n: Schema.Number }))

export const SearchIndexProcessor = makeProcessor(
  SearchIndexJob,
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const scope = yield* UserScope
    // messages per transaction; each costs PostgreSQL about 1-2 ms of CPU
    const { indexBatchSize } = yield* SearchConfig
    const count = (owner: UserId) =>
      scope
        .run(owner, sql`SELECT count(*)::int AS n FROM emails WHERE user_id = ${owner} AND search_vector IS NULL`)
        .pipe(
          Effect.flatMap(decodeCounted),
          Effect.map((rows) => rows[0]?.n ?? 0)
        )
    // SKIP LOCKED: a row a sync is still writing is left for the next batch, never waited on
    const indexBatch = (owner: UserId) =>
      scope
        .run(
          owner,
          sql`
            UPDATE emails SET search_vector = app_search_document(subject, from_name, from_address, text_body)
            WHERE id IN (
              SELECT id FROM emails WHERE user_id = ${owner} AND search_vector IS NULL
              LIMIT ${indexBatchSize} FOR UPDATE SKIP LOCKED)
            RETURNING 1 AS n`
        )
        .pipe(Effect.map((rows) => rows.length))

    return (payload: SearchIndexPayload) =>
      Effect.gen(function* () {
        const job = yield* CurrentJob
        const owner = yield* ownerOf(payload)
        let total = yield* count(owner)
        let indexed = 0
        yield* job.progress({ phase: "indexing", done: 0, total })
        while (true) {
          const n = yield* indexBatch(owner)
          if (n === 0) break
          indexed += n
          total = Math.max(total, indexed)
          yield* job.progress({ phase: "indexing", done: indexed, total })
        }
        return { indexed }
      }).pipe(Effect.catchTag("SqlError", databaseTrouble), Effect.withSpan("search.index"))
  })
)

/**
 * For the sync, after it stored mail of `owner` with the vector deferred: queues the owner's
 * `search.index` job, or returns the one already queued or running (which takes the new rows
 * too). Fails only when nothing was queued; the rows then wait for the next call.
 */
export const enqueueSearchIndexing = (
  owner: UserId
): Effect.Effect<Submitted, QueueUnavailable | DatabaseError, Jobs> =>
  Effect.gen(function* () {
    const jobs = yield* Jobs
    return yield* jobs.submit(SearchIndexJob, { owner }, { ownerId: owner })
  }).pipe(
    // the payload is built here and the kind registered with the job system: a failure is a wiring bug
    Effect.catchTag(["InvalidJobPayload", "UnknownJobKind"], Effect.die)
  )
