import { Schema } from "effect"

const boundedInt = (min: number, max: number) =>
  Schema.Int.pipe(Schema.check(Schema.isBetween({ minimum: min, maximum: max })))

/**
 * The kind's hard time limit, in milliseconds. A ping may not ask to sleep longer: it could never
 * succeed, and would only hold a worker slot until the limit (docs/security.md).
 */
export const pingTimeLimitMillis = 30_000

/** The payload of `debug.ping`, a job that exercises every path of the job system on demand. */
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
