import { Layer } from "effect"
import { jobKinds } from "../contract/jobs/catalog.ts"
import { EventBus } from "../events/EventBus.ts"
import { EventsConfig } from "../events/EventsConfig.ts"
import { JobEvents } from "../jobs/JobEvents.ts"
import { JobKinds } from "../jobs/JobKinds.ts"
import { Jobs } from "../jobs/Jobs.ts"
import { JobLimits } from "../jobs/JobLimits.ts"
import { JobsConfig } from "../jobs/JobsConfig.ts"
import { JobStore } from "../jobs/JobStore.ts"
import { SubmitLimiter } from "../jobs/SubmitLimiter.ts"
import { AppConfig } from "../platform/Config.ts"
import { DatabaseLive, SystemDatabase } from "../platform/Database.ts"
import { Redis } from "../platform/Redis.ts"
import { UserScope } from "../users/UserScope.ts"
import { MailFollowUpsLive } from "./mailFollowUps.ts"

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

/** The user event bus (src/events): every program publishes; the API also streams (SSE). */
export const EventsLive = EventBus.layer.pipe(Layer.provideMerge(EventsConfig.layer))

/**
 * The job system as producers see it (records, queues, events), with the mail pipeline's follow-ups
 * (main/mailFollowUps.ts), which are job submits: every program that submits jobs can announce.
 */
export const JobsLive = MailFollowUpsLive.pipe(
  Layer.provideMerge(Layer.mergeAll(Jobs.layer, JobLimits.layerLive)),
  Layer.provideMerge(
    Layer.mergeAll(JobStore.layer, JobEvents.layer, JobKinds.layer(jobKinds), SubmitLimiter.layer).pipe(
      Layer.provideMerge(JobsConfig.layer),
      Layer.provideMerge(EventsLive)
    )
  )
)
