import { Effect, Layer, Schedule } from "effect"
import { jobKinds } from "../../../src/contract/jobs/catalog.ts"
import type { AnyJobKind } from "../../../src/contract/jobs/JobKind.ts"
import { JobEvents } from "../../../src/jobs/JobEvents.ts"
import { JobKinds } from "../../../src/jobs/JobKinds.ts"
import { JobLimits } from "../../../src/jobs/JobLimits.ts"
import type { JobProcessor } from "../../../src/jobs/JobProcessor.ts"
import { Jobs } from "../../../src/jobs/Jobs.ts"
import { JobsConfig } from "../../../src/jobs/JobsConfig.ts"
import { JobStore } from "../../../src/jobs/JobStore.ts"
import { SubmitLimiter } from "../../../src/jobs/SubmitLimiter.ts"
import { WorkerIdentity, WorkerRuntimeLive } from "../../../src/jobs/WorkerRuntime.ts"
import { EventsLive, PlatformLive } from "../../../src/main/layers.ts"
import { psqlValue } from "../../harness/postgres.ts"
import { configLayer, type TestEnv } from "../../harness/TestEnv.ts"

/**
 * The job system with the worker runtime in this process, running test job kinds beside the
 * catalog's (the scheduling tests: bulk yield, lowering to bulk).
 */
export const inProcessWorkerLayer = <R>(
  env: TestEnv,
  processors: ReadonlyArray<Effect.Effect<JobProcessor, never, R>>,
  testKinds: ReadonlyArray<AnyJobKind>
) =>
  WorkerRuntimeLive(processors).pipe(
    Layer.provide(WorkerIdentity.layer),
    Layer.provideMerge(Layer.mergeAll(Jobs.layer, JobLimits.layerLive)),
    Layer.provideMerge(
      Layer.mergeAll(
        JobStore.layer,
        JobEvents.layer,
        JobKinds.layer([...jobKinds, ...testKinds]),
        SubmitLimiter.layer
      ).pipe(Layer.provideMerge(JobsConfig.layer), Layer.provideMerge(EventsLive))
    ),
    Layer.provideMerge(PlatformLive),
    Layer.provide(configLayer(env))
  )

/** A job record's `state|attempts`. */
export const jobRecord = (env: TestEnv, id: string) =>
  psqlValue(env.databaseUrl, `SELECT state, attempts FROM jobs WHERE id = '${id}'`)

/** Polls until every job's record is finished (bounded by `within`: these tests run on loaded machines). */
export const jobsFinished = (env: TestEnv, ids: ReadonlyArray<string>, within: `${number} minutes`) =>
  Effect.sync(() =>
    Number(
      psqlValue(
        env.databaseUrl,
        `SELECT count(*) FROM jobs WHERE id IN (${ids.map((id) => `'${id}'`).join(",")})
           AND state NOT IN ('succeeded', 'failed', 'cancelled')`
      )
    )
  ).pipe(
    Effect.filterOrFail(
      (left) => left === 0,
      (left) => `${left} jobs not finished`
    ),
    Effect.retry(Schedule.spaced("100 millis").pipe(Schedule.upTo({ duration: within }))),
    Effect.orDie
  )

/** Polls until every tag has an entry in `starts` (bounded: 1 minute). */
export const allStarted = (starts: ReadonlyArray<{ readonly tag: string }>, tags: ReadonlyArray<string>) =>
  Effect.sync(() => tags.every((tag) => starts.some((start) => start.tag === tag))).pipe(
    Effect.filterOrFail(
      (all) => all,
      () => "not started"
    ),
    Effect.retry(Schedule.spaced("20 millis").pipe(Schedule.upTo({ duration: "1 minute" }))),
    Effect.orDie
  )
