import { Deferred, Duration, Effect, Fiber } from "effect"
import type { SoftTimeLimit } from "./CurrentJob.ts"
import { type AnyJobKind, type JobError, PermanentJobError, TransientJobError } from "../contract/jobs/JobKind.ts"

/** The error code of an attempt that stopped at its soft time limit. */
export const softTimeLimitCode = "soft_time_limit"

const millisOf = (input: Duration.Input): number => Duration.toMillis(Duration.fromInputUnsafe(input))

/**
 * What is wrong with a kind's time limits, or undefined: a soft limit must be a positive
 * duration before the hard one (a soft limit at or after it could never be heard).
 */
export const timeLimitProblem = (kind: AnyJobKind): string | undefined => {
  const hard = millisOf(kind.timeout)
  if (!(hard > 0)) return `job kind ${kind.name}: its time limit must be positive`
  if (kind.softTimeLimit === undefined) return undefined
  const soft = millisOf(kind.softTimeLimit)
  if (!(soft > 0)) return `job kind ${kind.name}: its soft time limit must be positive`
  if (soft >= hard) {
    return `job kind ${kind.name}: its soft time limit (${Duration.format(Duration.millis(soft))}) must be shorter than its time limit (${Duration.format(Duration.millis(hard))})`
  }
  return undefined
}

/** A defect at start-up, naming the kind, for a kind whose time limits make no sense. */
export const checkTimeLimits = (kinds: ReadonlyArray<AnyJobKind>): void => {
  for (const kind of kinds) {
    const problem = timeLimitProblem(kind)
    if (problem !== undefined) throw new Error(problem)
  }
}

/**
 * The soft limit of one attempt: the kind's, or a tighter one given at submit; none when it is
 * not before the attempt's hard limit (the hard limit comes first anyway).
 */
export const attemptSoftLimitMillis = (
  kind: AnyJobKind,
  perJobMillis: number | undefined,
  hardMillis: number
): number | null => {
  const soft = Math.min(
    kind.softTimeLimit === undefined ? Number.POSITIVE_INFINITY : millisOf(kind.softTimeLimit),
    perJobMillis ?? Number.POSITIVE_INFINITY
  )
  return soft > 0 && soft < hardMillis ? soft : null
}

/** The error a processor ends with once it stopped at its soft limit: retried like a timeout, when the kind says so. */
export const softTimeLimitError = (kind: AnyJobKind, message: string): JobError =>
  kind.retryOnTimeout
    ? new TransientJobError({ code: softTimeLimitCode, message })
    : new PermanentJobError({ code: softTimeLimitCode, message })

const never: Effect.Effect<void> = Effect.never
const notPassed: Effect.Effect<boolean> = Effect.succeed(false)

/**
 * The signal a processor sees (CurrentJob.softTimeLimit) and `arm`, which runs the attempt with
 * the timer that raises it: a child fiber that sleeps until the soft limit, completes the latch,
 * logs and marks the span. It does not interrupt anything: the processor stops at a safe point of
 * its own, and the hard limit still holds.
 */
export const makeSoftTimeLimit = (kind: AnyJobKind, millis: number | null) => {
  const exceeded = (message: string) => softTimeLimitError(kind, message)
  if (millis === null) {
    // no fiber and no latch: a job without a soft limit costs nothing more (bench/jobs)
    const limit: SoftTimeLimit = { millis: null, await: never, passed: notPassed, exceeded }
    return Effect.succeed({ limit, passed: () => false, arm: <A, E, R>(self: Effect.Effect<A, E, R>) => self })
  }
  return Effect.map(Deferred.make<void>(), (latch) => {
    const limit: SoftTimeLimit = { millis, await: Deferred.await(latch), passed: Deferred.isDone(latch), exceeded }
    const timer = Effect.sleep(Duration.millis(millis)).pipe(
      Effect.andThen(Deferred.succeed(latch, undefined)),
      Effect.andThen(Effect.annotateCurrentSpan("job.soft_time_limit_passed", true)),
      Effect.andThen(
        Effect.logInfo("soft time limit passed; the job is asked to stop", {
          softTimeLimit: Duration.format(Duration.millis(millis))
        })
      )
    )
    return {
      limit,
      passed: () => Deferred.isDoneUnsafe(latch),
      arm: <A, E, R>(self: Effect.Effect<A, E, R>) =>
        Effect.flatMap(Effect.forkChild(timer), (fiber) => Effect.ensuring(self, Fiber.interrupt(fiber)))
    }
  })
}
