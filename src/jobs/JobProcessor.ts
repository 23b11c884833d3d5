import { Effect, Schema } from "effect"
import type { CurrentJob } from "./CurrentJob.ts"
import { type AnyJobKind, type JobError, type JobKind, PermanentJobError } from "../contract/jobs/JobKind.ts"

/** The code that runs jobs of one kind, with the services it needs already captured. */
export interface JobProcessor<Name extends string = string> {
  readonly kind: AnyJobKind & { readonly name: Name }
  /** Decodes the payload, runs the handler, encodes the result. */
  readonly run: (payload: unknown) => Effect.Effect<unknown, JobError, CurrentJob>
}

/**
 * Builds a processor for `kind`. `build` runs once, when the worker starts, so
 * the handler closes over its services and each job only needs CurrentJob.
 */
export const makeProcessor = <Name extends string, P, PE, R, RE, Requirements>(
  kind: JobKind<Name, P, PE, R, RE>,
  build: Effect.Effect<(payload: P) => Effect.Effect<R, JobError, CurrentJob>, never, Requirements>
): Effect.Effect<JobProcessor<Name>, never, Requirements> =>
  Effect.map(build, (handler) => ({
    kind,
    run: (payload: unknown) =>
      Schema.decodeUnknownEffect(kind.payload)(payload).pipe(
        Effect.mapError(
          (error) =>
            new PermanentJobError({
              code: "invalid_payload",
              message: `invalid ${kind.name} payload: ${error.message}`
            })
        ),
        Effect.flatMap(handler),
        Effect.flatMap((result) => Schema.encodeEffect(kind.result)(result).pipe(Effect.orDie))
      )
  }))
