import { Context, Effect, Option, Schema } from "effect"
import { type JobError, PermanentJobError, TransientJobError } from "../contract/jobs/JobKind.ts"
import { UserId } from "../contract/users/UserId.ts"
import { yieldedCode } from "./FairShare.ts"

export interface ProgressUpdate {
  readonly phase: string
  readonly done: number
  readonly total?: number | null | undefined
  readonly message?: string | null | undefined
}

/**
 * The attempt's soft time limit (Celery's `soft_time_limit`): a signal, not an interruption. A
 * processor that can stop early polls `passed` (or races `await`) at its safe points, saves its
 * checkpoint, and fails with `exceeded(...)` (code `soft_time_limit`). One that ignores it runs on
 * until the hard limit interrupts it (code `timeout`).
 */
export interface SoftTimeLimit {
  /** Milliseconds after the attempt's start; null: no soft limit (then `await` never completes). */
  readonly millis: number | null
  /** Completes when the soft limit passes. */
  readonly await: Effect.Effect<void>
  /** Whether the soft limit has passed. */
  readonly passed: Effect.Effect<boolean>
  /**
   * The error to end with after stopping at the soft limit: code `soft_time_limit`, transient
   * (retried from the checkpoint) when the kind has `retryOnTimeout`, else permanent.
   */
  readonly exceeded: (message: string) => JobError
}

/** The job a processor is running, with its progress reporter. Provided by the worker runtime. */
export class CurrentJob extends Context.Service<
  CurrentJob,
  {
    readonly id: string
    readonly kind: string
    readonly ownerId: string | null
    /** 1-based number of this attempt. */
    readonly attempt: number
    readonly maxAttempts: number
    /** Records progress; writes are coalesced to a bounded rate, the last one always lands. */
    readonly progress: (update: ProgressUpdate) => Effect.Effect<void>
    readonly softTimeLimit: SoftTimeLimit
    /**
     * Whether this job should give its slot to interactive work now: true only when the job runs
     * in the bulk class, an interactive job of its kind waits for its turn, and every slot of the
     * kind in this worker is busy. At most one Redis call (none for an interactive job or while a
     * slot is free); false when Redis cannot say. A long bulk job asks between its batches and, on
     * true, ends its attempt with `yieldToInteractive` (see below).
     */
    readonly shouldYield: Effect.Effect<boolean>
    /**
     * The rest of this job is bulk work (a large sync past its first page): from now on
     * `shouldYield` answers as for a bulk job, and when the job yields it goes back to waiting with a
     * bulk turn (the class stays lowered for its later runs). Only lowers, never raises; nothing
     * without fair share (no classes then). The job's record keeps the class its submit gave.
     */
    readonly continueAsBulk: Effect.Effect<void>
  }
>()("mail-helper/CurrentJob") {}

const decodeUserId = Schema.decodeUnknownOption(UserId)

/**
 * The user the current job runs for: its record's owner, which the submit wrote under that user's
 * row-level security. Never a payload field, which could name someone else. A job without an
 * owner (a system job) fails permanently: its kind runs for a user.
 */
export const currentOwner: Effect.Effect<UserId, PermanentJobError, CurrentJob> = Effect.flatMap(CurrentJob, (job) =>
  Option.match(decodeUserId(job.ownerId), {
    onNone: () =>
      Effect.fail(
        new PermanentJobError({ code: "no_owner", message: `${job.kind} runs for a user; this job has none` })
      ),
    onSome: Effect.succeed
  })
)

/**
 * Asked between the batches of a long bulk job, after at least one batch of the attempt is done:
 * when `shouldYield`, fails with code `yielded` (yieldedCode), which the worker turns into
 * a wait: the job goes back to waiting with its turn, no attempt spent, and runs again (from what is
 * still pending, so its work must be idempotent) once no interactive work of its kind waits.
 */
export const yieldToInteractive: Effect.Effect<void, TransientJobError, CurrentJob> = Effect.flatMap(
  CurrentJob,
  (job) =>
    Effect.flatMap(job.shouldYield, (yields) =>
      yields
        ? Effect.fail(
            new TransientJobError({ code: yieldedCode, message: `${job.kind} yielded its slot to interactive work` })
          )
        : Effect.void
    )
)
