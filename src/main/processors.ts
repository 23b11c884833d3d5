import type { Effect } from "effect"
import { AnalyzeMailProcessor } from "../analysis/AnalyzeMailProcessor.ts"
import { EmbedMailProcessor } from "../analysis/EmbedMailProcessor.ts"
import { AnalysisRescoreProcessor } from "../analysis/AnalysisRescoreProcessor.ts"
import { ModelTrainProcessor } from "../analysis/ModelTrainProcessor.ts"
import type { CatalogKindName } from "../contract/jobs/catalog.ts"
import type { SyncTickJob } from "../contract/jobs/SyncTickJob.ts"
import { PingProcessor } from "../debug/PingProcessor.ts"
import { ImportKiMailHelperProcessor } from "../import/ImportKiMailHelperProcessor.ts"
import type { JobProcessor } from "../jobs/JobProcessor.ts"
import { RulesApplyProcessor } from "../rules/RulesApplyProcessor.ts"
import { RulesUndoProcessor } from "../rules/RulesUndoProcessor.ts"
import { SearchIndexProcessor } from "../search/SearchIndexProcessor.ts"
import { MailSyncProcessor } from "../sync/MailSyncProcessor.ts"
import { WebhookDeliverProcessor } from "../webhooks/WebhookDeliverProcessor.ts"

/**
 * Kinds that WorkerRuntime does not run: the sync tick is fired by a BullMQ job scheduler, which
 * cannot write a job record, so it has its own small BullMQ worker (accounts/AccountSchedules.ts).
 */
type OwnWorkerKindName = typeof SyncTickJob.name

/**
 * The processor of each kind of the catalogue (src/contract/jobs/catalog.ts), for the worker.
 * `satisfies` makes this the check that every kind has exactly one processor, and that each is
 * the processor of the kind it is filed under: a kind added to the catalogue without a processor,
 * or one listed twice or under another name, does not compile.
 */
export const processors = {
  "debug.ping": PingProcessor,
  "mail.sync": MailSyncProcessor,
  "rules.apply": RulesApplyProcessor,
  "rules.undo": RulesUndoProcessor,
  "mail.analyze": AnalyzeMailProcessor,
  "mail.embed": EmbedMailProcessor,
  "search.index": SearchIndexProcessor,
  "import.kiMailHelper": ImportKiMailHelperProcessor,
  "model.train": ModelTrainProcessor,
  "analysis.rescore": AnalysisRescoreProcessor,
  "webhook.deliver": WebhookDeliverProcessor
} as const satisfies {
  readonly [Name in Exclude<CatalogKindName, OwnWorkerKindName>]: Effect.Effect<JobProcessor<Name>, never, unknown>
}

/** The services the processors need, provided by the worker's layers. */
export type ProcessorServices = Effect.Services<(typeof processors)[keyof typeof processors]>

/** The processors in catalogue order. */
export const processorList: ReadonlyArray<Effect.Effect<JobProcessor, never, ProcessorServices>> =
  Object.values(processors)
