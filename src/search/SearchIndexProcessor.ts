import { Effect } from "effect"
import { currentOwner } from "../jobs/CurrentJob.ts"
import { SearchIndexJob, type SearchIndexPayload } from "../contract/jobs/SearchIndexJob.ts"
import { CurrentJob } from "../jobs/CurrentJob.ts"
import type { QueueUnavailable } from "../contract/jobs/Job.ts"
import { makeProcessor } from "../jobs/JobProcessor.ts"
import { databaseTrouble } from "../jobs/DatabaseTrouble.ts"
import { Jobs, type Submitted } from "../jobs/Jobs.ts"
import type { DatabaseError } from "../platform/Database.ts"
import type { UserId } from "../contract/users/UserId.ts"
import { SearchConfig } from "./SearchConfig.ts"
import { SearchIndexStore } from "./SearchIndexStore.ts"

export const SearchIndexProcessor = makeProcessor(
  SearchIndexJob,
  Effect.gen(function* () {
    const store = yield* SearchIndexStore
    // messages per transaction; each costs PostgreSQL about 1-2 ms of CPU
    const { indexBatchSize } = yield* SearchConfig

    return (_payload: SearchIndexPayload) =>
      Effect.gen(function* () {
        const job = yield* CurrentJob
        const owner = yield* currentOwner
        let total = yield* store.countUnindexed(owner)
        let indexed = 0
        yield* job.progress({ phase: "indexing", done: 0, total })
        while (true) {
          // two batches at a time (their advisory claims give them different rows): six to_tsvector calls per
          // message keep one PostgreSQL backend busy, the machine has a core for the second
          const batches = yield* Effect.all(
            [store.indexBatch(owner, indexBatchSize), store.indexBatch(owner, indexBatchSize)],
            { concurrency: 2 }
          )
          if (batches.every((batch) => batch.picked === 0)) break
          indexed += batches.reduce((sum, batch) => sum + batch.updated, 0)
          total = Math.max(total, indexed)
          yield* job.progress({ phase: "indexing", done: indexed, total })
        }
        return { indexed }
      }).pipe(Effect.catchTag("SqlError", databaseTrouble), Effect.withSpan("search.index"))
    // the store is this processor's alone: built here, once, when the worker starts
  }).pipe(Effect.provide(SearchIndexStore.layer))
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
