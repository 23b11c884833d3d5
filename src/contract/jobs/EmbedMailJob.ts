import { Schema } from "effect"
import { defineJobKind } from "./JobKind.ts"
import { MailSelectionFields, selectionKey } from "./MailSelection.ts"

export const EmbedMailPayload = Schema.Struct({
  ...MailSelectionFields,
  /**
   * Re-embed: every selected message whose vector is older than this, or of
   * another model, is embedded again (for a model change). Without it only
   * messages whose embedding is pending are embedded.
   */
  refreshBefore: Schema.optionalKey(Schema.DateFromString)
})
export type EmbedMailPayload = typeof EmbedMailPayload.Type

export const EmbedMailResult = Schema.Struct({
  embedded: Schema.Int,
  failed: Schema.Int,
  model: Schema.String
})

/**
 * Embeds the owner's pending messages (or, with `refreshBefore`, all of them)
 * in batches; each vector is stored with its model and dimension. Like
 * `mail.analyze`: transient provider failures retry the job, what was done is
 * not redone, a message the provider refuses is marked failed with the reason.
 */
export const EmbedMailJob = defineJobKind({
  name: "mail.embed",
  description: "Embeds messages for semantic search",
  payload: EmbedMailPayload,
  result: EmbedMailResult,
  concurrency: 2,
  timeout: "1 hour",
  retryOnTimeout: true,
  retry: { attempts: 8, initialDelay: "5 seconds", maxDelay: "5 minutes", jitter: 0.3 },
  deduplicationKey: (payload, owner) =>
    selectionKey(payload.refreshBefore === undefined ? "pending" : "refresh", { ...payload, owner: owner ?? "system" }),
  // the same key is the same selection (a list of ids shares its key with or without `refreshBefore`):
  // pending-only work is covered by a pending-only job, a re-embed by one with a cut-off as late
  covers: (queued, asked) =>
    asked.refreshBefore === undefined
      ? queued.refreshBefore === undefined
      : queued.refreshBefore !== undefined && queued.refreshBefore.getTime() >= asked.refreshBefore.getTime(),
  // fresh mail whose embedding joined a running job gets a run after it (Jobs.Submitted.covered)
  rerunOnJoin: true,
  userVisible: true
})
