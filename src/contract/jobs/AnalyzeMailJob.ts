import { Schema } from "effect"
import { defineJobKind } from "./JobKind.ts"
import { MailSelectionFields, selectionKey } from "./MailSelection.ts"

export const AnalyzeMailPayload = Schema.Struct({
  ...MailSelectionFields,
  /**
   * Also embeds the selection's pending messages, first (the blend of personal models reads their
   * vectors): a small run's fresh mail is one job, not a `mail.analyze` and a `mail.embed`. Embedding
   * that fails is left to a `mail.embed` job the analysis queues; the analysis goes on.
   */
  embed: Schema.optionalKey(Schema.Boolean)
})
export type AnalyzeMailPayload = typeof AnalyzeMailPayload.Type

export const AnalyzeMailResult = Schema.Struct({
  analysed: Schema.Int,
  failed: Schema.Int
})

/**
 * Analyses the owner's pending messages in batches: each ends `analysed`
 * (result with provider, model and confidence in email_analysis) or `failed`
 * (attempts and the reason on the message). A transient provider failure
 * ends the attempt and the job retries with backoff; what was finished
 * before it is not redone. One "all pending" job per owner (and account) at
 * a time.
 */
export const AnalyzeMailJob = defineJobKind({
  name: "mail.analyze",
  description: "Classifies pending messages (priority, category, spam, summary, tags)",
  payload: AnalyzeMailPayload,
  result: AnalyzeMailResult,
  concurrency: 2,
  timeout: "1 hour",
  // a huge backlog behind a slow model: the next attempt carries on where this one stopped
  retryOnTimeout: true,
  retry: { attempts: 8, initialDelay: "5 seconds", maxDelay: "5 minutes", jitter: 0.3 },
  deduplicationKey: (payload, owner) => selectionKey("pending", { ...payload, owner: owner ?? "system" }),
  // the same key is the same selection, which a job reads when it starts: only `embed` may differ
  covers: (queued, asked) => queued.embed === true || asked.embed !== true,
  // fresh mail whose analysis joined a running job gets a run after it (Jobs.Submitted.covered)
  rerunOnJoin: true,
  userVisible: true
})
