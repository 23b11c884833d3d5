/**
 * A user's correction of one message (`PATCH /emails/:id`): saved, then the user's personal model
 * is queued for training (`model.train`, debounced: a burst of corrections is one training).
 */
import { Context, Effect, Layer } from "effect"
import { enqueueTraining } from "../analysis/enqueue.ts"
import type { EmailId, EmailNotFound } from "../contract/emails/EmailId.ts"
import type { Correction, EmailDetail } from "../contract/emails/EmailViews.ts"
import type { QueueUnavailable } from "../contract/jobs/Job.ts"
import type { UserId } from "../contract/users/UserId.ts"
import { Jobs } from "../jobs/Jobs.ts"
import type { DatabaseError } from "../platform/Database.ts"
import { EmailStore } from "./EmailStore.ts"

export interface CorrectionsShape {
  /**
   * Saves the correction and queues the training. The correction is saved first and stands when
   * the queue is down (the request fails then, and repeating it is harmless: it is idempotent).
   */
  readonly correct: (
    owner: UserId,
    id: EmailId,
    correction: Correction
  ) => Effect.Effect<EmailDetail, EmailNotFound | QueueUnavailable | DatabaseError>
}

export class Corrections extends Context.Service<Corrections, CorrectionsShape>()("mail-helper/Corrections") {
  static readonly layer = Layer.effect(
    Corrections,
    Effect.gen(function* () {
      const store = yield* EmailStore
      const jobs = yield* Jobs
      const correct: CorrectionsShape["correct"] = (owner, id, correction) =>
        Effect.gen(function* () {
          const detail = yield* store.correct(owner, id, correction)
          yield* enqueueTraining(owner).pipe(Effect.provideService(Jobs, jobs))
          return detail
        }).pipe(Effect.withSpan("Corrections.correct"))
      return Corrections.of({ correct })
    })
  )
}
