import { type Duration, Schema } from "effect"

/**
 * How urgent a job's work is (docs/jobs.md has the table of kinds): `interactive` when a user is
 * waiting for it (a manual sync, a rule test, fresh mail's analysis), `bulk` for backlogs (an
 * initial sync's analysis, re-embedding, rules on past mail, imports). Interactive jobs of a kind
 * always start before its bulk ones; within a class users take turns (src/jobs/FairShare.ts).
 */
export const WorkClass = Schema.Literals(["interactive", "bulk"])
export type WorkClass = typeof WorkClass.Type

/** The lower of two classes: a submit may lower its kind's class, never raise it. */
export const lowerClass = (declared: WorkClass, asked: WorkClass | undefined): WorkClass =>
  declared === "bulk" || asked === "bulk" ? "bulk" : "interactive"

export interface RetryPolicy {
  /** Total attempts, the first one included. */
  readonly attempts: number
  /** Delay before the first retry; doubles on each further retry. */
  readonly initialDelay: Duration.Input
  /** Upper bound of a single delay. */
  readonly maxDelay: Duration.Input
  /** Fraction (0..1) of each delay that is randomised, so retries of many jobs spread out. */
  readonly jitter: number
}

/**
 * A kind of background job and its policy: a contract between the programs that submit jobs (the
 * API, the CLI, a pipeline stage) and the worker that runs them, so it imports nothing but effect
 * and other contract modules (test/main/programImports.test.ts). The payload schema is checked
 * when the job is enqueued and again when a worker takes it.
 */
export interface JobKind<Name extends string, Payload, PayloadEncoded, Result, ResultEncoded> {
  readonly name: Name
  readonly description: string
  readonly payload: Schema.Codec<Payload, PayloadEncoded>
  readonly result: Schema.Codec<Result, ResultEncoded>
  /** Jobs of this kind one worker process runs at once. */
  readonly concurrency: number
  /** Hard time limit of one attempt: the job's fiber is interrupted when it passes. */
  readonly timeout: Duration.Input
  /**
   * Soft time limit of one attempt (Celery's `soft_time_limit`), shorter than `timeout` (checked at
   * start-up): when it passes the processor is told (`CurrentJob.softTimeLimit`), so it can save its
   * checkpoint and stop at a safe point; the hard limit still holds. See docs/jobs.md.
   */
  readonly softTimeLimit?: Duration.Input
  /** Whether an attempt that hit its time limit (hard or soft) is retried (as a transient error) or fails at once. */
  readonly retryOnTimeout: boolean
  readonly retry: RetryPolicy
  /**
   * At most one queued or running job per key and kind (e.g. one sync per account). The key sees
   * the payload and the job's owner (the submit's owner, null for system jobs): a payload never
   * carries its owner, which the job's record holds (CurrentJob.owner). A long key is stored as its
   * digest (Jobs.storedDeduplicationKey).
   */
  readonly deduplicationKey?: (payload: Payload, owner: string | null) => string
  /**
   * Whether a job of this kind queued with `queued` does, when it starts, all that a job with `asked`
   * (the same de-duplication key) would: a submit that joins such a job before it started is
   * `covered` (Jobs.Submitted), and its caller need not ask again once that job ended.
   */
  readonly covers?: (queued: Payload, asked: Payload) => boolean
  /**
   * For a kind whose job takes pending work until none is left (mail.analyze, mail.embed,
   * search.index): a submit that joins an equal job that may already have passed its work (not
   * `covered`) marks that job to run once more when it succeeds, as a fresh job with the same
   * payload, owner and class (docs/jobs.md, "Run again when it ends"). Without it the submit's
   * work waits for the next submit or sweep. Not for mail.sync: its watcher waits for the joined
   * job's end and asks again itself.
   */
  readonly rerunOnJoin?: boolean
  /** The kind's class of work (default interactive); a submit may lower it (SubmitOptions.workClass). */
  readonly workClass?: WorkClass
  /** Shown in the user's job list; system jobs (clean-up) are not. */
  readonly userVisible: boolean
}

// biome-ignore lint/suspicious/noExplicitAny: the registry holds kinds of every payload type; each is checked by its own schema
export type AnyJobKind = JobKind<string, any, any, any, any>
export type PayloadOf<K> = K extends JobKind<string, infer P, infer _PE, infer _R, infer _RE> ? P : never
export type ResultOf<K> = K extends JobKind<string, infer _P, infer _PE, infer R, infer _RE> ? R : never

export const defineJobKind = <const Name extends string, P, PE, R, RE>(
  kind: JobKind<Name, P, PE, R, RE>
): JobKind<Name, P, PE, R, RE> => kind

/** A failure worth another attempt: network, timeouts, 5xx, serialization conflicts. */
export class TransientJobError extends Schema.TaggedError<TransientJobError>()("TransientJobError", {
  code: Schema.String,
  message: Schema.String
}) {}

/** A failure no retry can fix: bad credentials, invalid payload, missing rows. */
export class PermanentJobError extends Schema.TaggedError<PermanentJobError>()("PermanentJobError", {
  code: Schema.String,
  message: Schema.String
}) {}

export type JobError = TransientJobError | PermanentJobError
