import { Duration, Effect, Schema } from "effect"
import { CurrentJob } from "../jobs/CurrentJob.ts"
import { defineJobKind, PermanentJobError, TransientJobError } from "../jobs/JobKind.ts"
import { makeProcessor } from "../jobs/JobProcessor.ts"
import { PingPayload, pingTimeLimitMillis } from "../contract/debug/Ping.ts"

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
