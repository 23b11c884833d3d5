import { Duration, Effect, Schema } from "effect"
import { CurrentJob } from "../jobs/CurrentJob.ts"
import { defineJobKind, PermanentJobError, TransientJobError } from "../jobs/JobKind.ts"
import { makeProcessor } from "../jobs/JobProcessor.ts"

const boundedInt = (min: number, max: number) =>
  Schema.Int.pipe(Schema.check(Schema.isBetween({ minimum: min, maximum: max })))

/**
 * The kind's hard time limit, in milliseconds. A ping may not ask to sleep longer: it could never
 * succeed, and would only hold a worker slot until the limit (docs/security.md).
 */
export const pingTimeLimitMillis = 30_000

/** A job that exercises every path of the job system on demand. */
export const PingPayload = Schema.Struct({
  /** Total time the job sleeps, spread over its steps; at most the kind's time limit. */
  sleepMillis: Schema.optionalKey(
    Schema.Int.pipe(
      Schema.check(
        Schema.isBetween(
          { minimum: 0, maximum: pingTimeLimitMillis },
          {
            message: `sleepMillis must be between 0 and ${pingTimeLimitMillis} (the debug.ping time limit of ${pingTimeLimitMillis / 1000} s)`
          }
        )
      )
    )
  ),
  /** Progress reports, one per step. */
  steps: Schema.optionalKey(boundedInt(1, 1_000)),
  /** Fail transiently on the first N attempts, then succeed. */
  failTimes: Schema.optionalKey(boundedInt(0, 10)),
  /** Fail with a permanent error (no retry). */
  failPermanently: Schema.optionalKey(Schema.Boolean),
  /**
   * What to do when the soft time limit passes (a per-job one, `softTimeoutMillis` at submit): by
   * default stop after the current step (code `soft_time_limit`); true: note it in the progress
   * message and sleep on, so the hard limit ends the attempt.
   */
  ignoreSoftTimeLimit: Schema.optionalKey(Schema.Boolean),
  message: Schema.optionalKey(Schema.String.pipe(Schema.check(Schema.isMaxLength(200))))
})
export type PingPayload = typeof PingPayload.Type

export const PingResult = Schema.Struct({
  pong: Schema.Literal(true),
  attempt: Schema.Int,
  message: Schema.NullOr(Schema.String)
})

export const PingJob = defineJobKind({
  name: "debug.ping",
  description: "Sleeps, reports progress and fails on request, to exercise the job system",
  payload: PingPayload,
  result: PingResult,
  concurrency: 50,
  timeout: Duration.millis(pingTimeLimitMillis),
  retryOnTimeout: false,
  retry: { attempts: 3, initialDelay: "200 millis", maxDelay: "2 seconds", jitter: 0.2 },
  userVisible: true
})

export const PingProcessor = makeProcessor(
  PingJob,
  Effect.succeed((payload: PingPayload) =>
    Effect.gen(function* () {
      const job = yield* CurrentJob
      if (payload.failPermanently === true) {
        return yield* new PermanentJobError({ code: "requested_failure", message: "failed permanently as requested" })
      }
      if (job.attempt <= (payload.failTimes ?? 0)) {
        return yield* new TransientJobError({
          code: "requested_failure",
          message: `transient failure ${job.attempt} of ${payload.failTimes}, as requested`
        })
      }
      const steps = payload.steps ?? 1
      const stepMillis = (payload.sleepMillis ?? 0) / steps
      let softLimitNoted = false
      for (let step = 1; step <= steps; step++) {
        if (stepMillis > 0) yield* Effect.sleep(stepMillis)
        // the soft time limit is checked between steps: the safe points of this job
        const softLimitPassed = yield* job.softTimeLimit.passed
        if (softLimitPassed && payload.ignoreSoftTimeLimit !== true) {
          yield* job.progress({ phase: "stopped", done: step, total: steps, message: "stopped at the soft time limit" })
          return yield* job.softTimeLimit.exceeded(`stopped at the soft time limit after step ${step} of ${steps}`)
        }
        softLimitNoted ||= softLimitPassed
        yield* job.progress({
          phase: "pinging",
          done: step,
          total: steps,
          ...(softLimitNoted ? { message: "soft time limit passed; ignored as requested" } : {})
        })
      }
      return { pong: true as const, attempt: job.attempt, message: payload.message ?? null }
    })
  )
)
