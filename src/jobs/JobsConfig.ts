import { Config, Context, Effect, Layer, Option, Schema } from "effect"

/**
 * Settings of the job system beyond AppConfig.
 *
 * | variable                   | default | meaning                                                                  |
 * |----------------------------|---------|--------------------------------------------------------------------------|
 * | JOB_RECONCILE_INTERVAL_MS  | 60000   | how often a worker looks for job records without a queue entry (1000-…)  |
 * | JOB_RECONCILE_GRACE_MS     | 60000   | a record younger than this is never touched (a submit may be in flight)  |
 * | JOB_RECONCILE_RECONNECT_GRACE_MS | 15000 | the pass after Redis comes back: this long after the disconnect, over records older than this |
 * | JOB_SUBMIT_RATE_PER_MINUTE | 120     | user-initiated submits per user and minute (token refill; 0 = no limit)  |
 * | JOB_SUBMIT_BURST           | 60      | submits a user may make at once before the rate applies                   |
 * | JOB_FAIR_SHARE             | true    | users take turns within a class (false: plain FIFO per kind; FairShare.ts)|
 * | JOB_USER_CONCURRENCY       | 0       | running jobs per user and kind unless an admin set the user's (0 = none)  |
 * | JOB_INTERACTIVE_SLOTS      | 2       | a worker's slots per kind that only interactive jobs take, on top of the kind's (fair share only) |
 *
 * MH_FAILPOINT_SUBMIT_PAUSE_MS (tests only, honoured only when NODE_ENV=test): a submit pauses this
 * long after its record is committed and before it queues the job, so a test can kill the process
 * or cut Redis in exactly that window.
 */
export interface JobsConfigShape {
  readonly reconcileIntervalMillis: number
  readonly reconcileGraceMillis: number
  readonly reconcileReconnectGraceMillis: number
  readonly submitRatePerMinute: number
  readonly submitBurst: number
  readonly failpointSubmitPauseMillis: Option.Option<number>
  readonly fairShare: boolean
  readonly userConcurrency: number
  /**
   * Slots per kind in each worker beyond the kind's own (JOB_CONCURRENCY or its default) that only
   * interactive jobs take: bulk work keeps the kind's slots, and a user's fresh mail does not wait
   * for one of them to yield. 0 without fair share (no classes then).
   */
  readonly interactiveSlots: number
}

const bounded = (name: string, min: number, max: number, fallback: number) =>
  Config.schema(Schema.Int.check(Schema.isBetween({ minimum: min, maximum: max })), name).pipe(
    Config.withDefault(fallback)
  )

export const jobsConfig = Effect.gen(function* () {
  const environment = yield* Config.String("NODE_ENV").pipe(Config.withDefault("development"))
  const reconcileIntervalMillis = yield* bounded("JOB_RECONCILE_INTERVAL_MS", 1_000, 86_400_000, 60_000)
  const reconcileGraceMillis = yield* bounded("JOB_RECONCILE_GRACE_MS", 0, 86_400_000, 60_000)
  const reconcileReconnectGraceMillis = yield* bounded("JOB_RECONCILE_RECONNECT_GRACE_MS", 0, 86_400_000, 15_000)
  const submitRatePerMinute = yield* bounded("JOB_SUBMIT_RATE_PER_MINUTE", 0, 1_000_000, 120)
  const submitBurst = yield* bounded("JOB_SUBMIT_BURST", 1, 1_000_000, 60)
  const fairShare = yield* Config.Boolean("JOB_FAIR_SHARE").pipe(Config.withDefault(true))
  const userConcurrency = yield* bounded("JOB_USER_CONCURRENCY", 0, 100_000, 0)
  const interactiveSlots = yield* bounded("JOB_INTERACTIVE_SLOTS", 0, 1_000, 2)
  // a failpoint must never be reachable in a deployment: outside tests the variable is not even read
  const failpointSubmitPauseMillis =
    environment === "test"
      ? Option.some(yield* bounded("MH_FAILPOINT_SUBMIT_PAUSE_MS", 0, 600_000, 0)).pipe(
          Option.filter((millis) => millis > 0)
        )
      : Option.none<number>()
  return {
    reconcileIntervalMillis,
    reconcileGraceMillis,
    reconcileReconnectGraceMillis,
    submitRatePerMinute,
    submitBurst,
    failpointSubmitPauseMillis,
    fairShare,
    userConcurrency,
    interactiveSlots: fairShare ? interactiveSlots : 0
  }
})

export class JobsConfig extends Context.Service<JobsConfig, JobsConfigShape>()("mail-helper/JobsConfig") {
  static readonly layer = Layer.effect(JobsConfig, jobsConfig)
}
