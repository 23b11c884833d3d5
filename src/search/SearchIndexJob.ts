import { Effect, Schema } from "effect"
import { currentOwner } from "../jobs/CurrentJob.ts"
import { SearchIndexJob, type SearchIndexPayload } from "../contract/jobs/SearchIndexJob.ts"
import { SqlClient } from "effect/sql"
import { CurrentJob } from "../jobs/CurrentJob.ts"
import type { QueueUnavailable } from "../jobs/Job.ts"
import { makeProcessor } from "../jobs/JobProcessor.ts"
import { databaseTrouble } from "../jobs/DatabaseTrouble.ts"
import { Jobs, type Submitted } from "../jobs/Jobs.ts"
import { type DatabaseError, decodeRows } from "../platform/Database.ts"
import type { UserId } from "../users/UserId.ts"
import { UserScope } from "../users/UserScope.ts"
import { SearchConfig } from "./SearchConfig.ts"

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

    return (_payload: SearchIndexPayload) =>
      Effect.gen(function* () {
        const job = yield* CurrentJob
        const owner = yield* currentOwner
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
    return yield* jobs.submit(SearchIndexJob, {}, { ownerId: owner })
  })
