import { Context, type Effect } from "effect"

export interface ProgressUpdate {
  readonly phase: string
  readonly done: number
  readonly total?: number | null | undefined
  readonly message?: string | null | undefined
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
  }
>()("mail-helper/CurrentJob") {}
