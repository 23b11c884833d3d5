import { AnalyzeMailJob } from "./AnalyzeMailJob.ts"
import { EmbedMailJob } from "./EmbedMailJob.ts"
import { ImportKiMailHelperJob } from "./ImportKiMailHelperJob.ts"
import { MailSyncJob } from "./MailSyncJob.ts"
import { ModelTrainJob } from "./ModelTrainJob.ts"
import { AnalysisRescoreJob } from "./AnalysisRescoreJob.ts"
import { PingJob } from "./PingJob.ts"
import { RulesApplyJob } from "./RulesApplyJob.ts"
import { RulesUndoJob } from "./RulesUndoJob.ts"
import { SearchIndexJob } from "./SearchIndexJob.ts"
import { SyncTickJob } from "./SyncTickJob.ts"
import { WebhookDeliverJob } from "./WebhookDeliverJob.ts"

/**
 * Every job kind of the installation, in one place: the API and the CLI submit them, the worker
 * pairs each with its processor (src/main/processors.ts, which checks that every kind has exactly
 * one), inspection lists their queues.
 */
export const jobKinds = [
  PingJob,
  MailSyncJob,
  SyncTickJob,
  RulesApplyJob,
  RulesUndoJob,
  AnalyzeMailJob,
  EmbedMailJob,
  SearchIndexJob,
  ImportKiMailHelperJob,
  ModelTrainJob,
  AnalysisRescoreJob,
  WebhookDeliverJob
] as const

export type CatalogKind = (typeof jobKinds)[number]
export type CatalogKindName = CatalogKind["name"]
