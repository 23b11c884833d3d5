import { Layer } from "effect"
import { SyncTickJob } from "../contract/jobs/SyncTickJob.ts"
import { AnalyzeMailJob } from "../contract/jobs/AnalyzeMailJob.ts"
import { EmbedMailJob } from "../contract/jobs/EmbedMailJob.ts"
import { PingJob } from "../contract/jobs/PingJob.ts"
import { JobEvents } from "../jobs/JobEvents.ts"
import { JobKinds } from "../jobs/JobKinds.ts"
import { Jobs } from "../jobs/Jobs.ts"
import { JobsConfig } from "../jobs/JobsConfig.ts"
import { JobStore } from "../jobs/JobStore.ts"
import { SubmitLimiter } from "../jobs/SubmitLimiter.ts"
import { AppConfig } from "../platform/Config.ts"
import { DatabaseLive, SystemDatabase } from "../platform/Database.ts"
import { Redis } from "../platform/Redis.ts"
import { RulesApplyJob } from "../contract/jobs/RulesApplyJob.ts"
import { RulesUndoJob } from "../contract/jobs/RulesUndoJob.ts"
import { SearchIndexJob } from "../contract/jobs/SearchIndexJob.ts"
import { MailSyncJob } from "../contract/jobs/MailSyncJob.ts"
import { UserScope } from "../users/UserScope.ts"

/*
 * What every program (API, worker, CLI) composes. The worker's layers are in workerLayers.ts and
 * the HTTP application's in httpLayers.ts, so that neither program loads the other's modules.
 */

/** Configuration, PostgreSQL and Redis: what every program stands on. */
export const PlatformLive = Layer.mergeAll(
  UserScope.layer.pipe(Layer.provideMerge(DatabaseLive)),
  SystemDatabase.layer,
  Redis.layer
).pipe(Layer.provideMerge(AppConfig.layer))

/** Every job kind of the installation. */
export const jobKinds = [
  PingJob,
  MailSyncJob,
  SyncTickJob,
  RulesApplyJob,
  RulesUndoJob,
  AnalyzeMailJob,
  EmbedMailJob,
  SearchIndexJob
]

/** The job system as producers see it (records, queues, events). */
export const JobsLive = Jobs.layer.pipe(
  Layer.provideMerge(
    Layer.mergeAll(JobStore.layer, JobEvents.layer, JobKinds.layer(jobKinds), SubmitLimiter.layer).pipe(
      Layer.provideMerge(JobsConfig.layer)
    )
  )
)
