import { Layer } from "effect"
import { SyncTickJob } from "../accounts/AccountSchedules.ts"
import { AnalyzeMailJob } from "../analysis/jobs/AnalyzeMailJob.ts"
import { EmbedMailJob } from "../analysis/jobs/EmbedMailJob.ts"
import { PingJob } from "../debug/PingJob.ts"
import { JobEvents } from "../jobs/JobEvents.ts"
import { JobKinds } from "../jobs/JobKinds.ts"
import { Jobs } from "../jobs/Jobs.ts"
import { JobsConfig } from "../jobs/JobsConfig.ts"
import { JobStore } from "../jobs/JobStore.ts"
import { SubmitLimiter } from "../jobs/SubmitLimiter.ts"
import { AppConfig } from "../platform/Config.ts"
import { DatabaseLive, SystemDatabase } from "../platform/Database.ts"
import { Redis } from "../platform/Redis.ts"
import { RulesApplyJob } from "../rules/ApplyJob.ts"
import { RulesUndoJob } from "../rules/UndoJob.ts"
import { SearchIndexJob } from "../search/SearchIndexJob.ts"
import { SyncJob } from "../sync/SyncJob.ts"
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
  SyncJob,
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
