/**
 * Analysing and embedding mail again on request: one message (`POST /emails/:id/reprocess`) or
 * every embedding of the user (`POST /embeddings/reprocess`). Both check the user's submit budget
 * first, so a refused request leaves the mail as it was.
 */
import { Context, Effect, Layer } from "effect"
import { enqueueMessages, enqueueReembedAll } from "../analysis/enqueue.ts"
import type { EmailId, EmailNotFound } from "../contract/emails/EmailId.ts"
import type { ReprocessAccepted } from "../contract/emails/EmailsApi.ts"
import type { JobAccepted, QueueUnavailable, SubmitRateLimited } from "../contract/jobs/Job.ts"
import type { UserId } from "../contract/users/UserId.ts"
import { Jobs } from "../jobs/Jobs.ts"
import type { DatabaseError } from "../platform/Database.ts"
import { EmailStore } from "./EmailStore.ts"

export interface ReprocessingShape {
  /** Sets the message's analysis and embedding back to pending and queues both jobs for it. */
  readonly message: (
    owner: UserId,
    id: EmailId
  ) => Effect.Effect<
    typeof ReprocessAccepted.Type,
    EmailNotFound | SubmitRateLimited | QueueUnavailable | DatabaseError
  >
  /** Queues a `mail.embed` job that embeds again every message embedded before now. */
  readonly reembedAll: (
    owner: UserId
  ) => Effect.Effect<JobAccepted, SubmitRateLimited | QueueUnavailable | DatabaseError>
}

export class Reprocessing extends Context.Service<Reprocessing, ReprocessingShape>()("mail-helper/Reprocessing") {
  static readonly layer = Layer.effect(
    Reprocessing,
    Effect.gen(function* () {
      const store = yield* EmailStore
      const jobs = yield* Jobs
      const withJobs = Effect.provideService(Jobs, jobs)

      const message: ReprocessingShape["message"] = (owner, id) =>
        Effect.gen(function* () {
          // the user's submit budget first: a refused request leaves the message as it was
          yield* jobs.admit(owner)
          yield* store.resetForReprocess(owner, id)
          const { analyze, embed } = yield* enqueueMessages(owner, [id]).pipe(withJobs)
          return {
            jobId: analyze.jobId,
            state: analyze.state,
            embedding: { jobId: embed.jobId, state: embed.state }
          }
        })

      const reembedAll: ReprocessingShape["reembedAll"] = (owner) =>
        Effect.gen(function* () {
          yield* jobs.admit(owner)
          const submitted = yield* enqueueReembedAll(owner, new Date()).pipe(withJobs)
          return { jobId: submitted.jobId, state: submitted.state }
        })

      return Reprocessing.of({ message, reembedAll })
    })
  )
}
