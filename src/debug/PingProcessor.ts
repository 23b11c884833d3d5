import { Effect } from "effect"
import type { PingPayload } from "../contract/debug/Ping.ts"
import { PingJob } from "../contract/jobs/PingJob.ts"
import { CurrentJob } from "../jobs/CurrentJob.ts"
import { PermanentJobError, TransientJobError } from "../contract/jobs/JobKind.ts"
import { makeProcessor } from "../jobs/JobProcessor.ts"

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
