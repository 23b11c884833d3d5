import { Effect, Schema } from "effect"
import { CurrentJob } from "../jobs/CurrentJob.ts"
import { defineJobKind, PermanentJobError, TransientJobError } from "../jobs/JobKind.ts"
import { makeProcessor } from "../jobs/JobProcessor.ts"

const boundedInt = (min: number, max: number) =>
  Schema.Int.pipe(Schema.check(Schema.isBetween({ minimum: min, maximum: max })))

/** A job that exercises every path of the job system on demand. */
export const PingPayload = Schema.Struct({
  /** Total time the job sleeps, spread over its steps. */
  sleepMillis: Schema.optionalKey(boundedInt(0, 600_000)),
  /** Progress reports, one per step. */
  steps: Schema.optionalKey(boundedInt(1, 1_000)),
  /** Fail transiently on the first N attempts, then succeed. */
  failTimes: Schema.optionalKey(boundedInt(0, 10)),
  /** Fail with a permanent error (no retry). */
  failPermanently: Schema.optionalKey(Schema.Boolean),
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
  timeout: "30 seconds",
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
      for (let step = 1; step <= steps; step++) {
        if (stepMillis > 0) yield* Effect.sleep(stepMillis)
        yield* job.progress({ phase: "pinging", done: step, total: steps })
      }
      return { pong: true as const, attempt: job.attempt, message: payload.message ?? null }
    })
  )
)
