import { Schema } from "effect"
import { UserId } from "../../users/UserId.ts"
import { defineJobKind } from "./JobKind.ts"

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
