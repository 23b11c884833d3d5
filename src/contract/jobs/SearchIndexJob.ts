import { Schema } from "effect"
import { defineJobKind } from "./JobKind.ts"

/** Nothing but the job's owner (from its record) says whose mail to index. */
export const SearchIndexPayload = Schema.Struct({})
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
  deduplicationKey: (_payload, owner) => `${owner}:search-index`,
  // one job per owner, every unindexed message: a job that has not started covers any submit
  covers: () => true,
  // mail stored while a job runs, after its last read, gets a run after it (Jobs.Submitted.covered)
  rerunOnJoin: true,
  userVisible: true
})
