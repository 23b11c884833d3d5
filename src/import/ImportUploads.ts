import { Context, Effect, Layer, type Redacted } from "effect"
import { ImportKiMailHelperJob } from "../contract/jobs/ImportKiMailHelperJob.ts"
import type { UserId } from "../contract/users/UserId.ts"
import type { QueueUnavailable, SubmitRateLimited } from "../contract/jobs/Job.ts"
import { Jobs, type Submitted } from "../jobs/Jobs.ts"
import type { DatabaseError } from "../platform/Database.ts"
import { ImportUploadStore } from "./ImportUploadStore.ts"

/**
 * The upload use case (POST /api/v1/import/ki-mail-helper): stage the file and the master password
 * sealed, then queue the `import.kiMailHelper` job for the uploader; a submit that fails deletes the
 * staged row again, so nothing waits for a job that will never come.
 */
export class ImportUploads extends Context.Service<
  ImportUploads,
  {
    readonly submit: (
      owner: UserId,
      upload: {
        readonly file: Uint8Array
        readonly masterPassword: Redacted.Redacted<string>
        readonly dryRun: boolean
      }
    ) => Effect.Effect<Submitted, DatabaseError | QueueUnavailable | SubmitRateLimited>
  }
>()("mail-helper/ImportUploads") {
  static readonly layer = Layer.effect(
    ImportUploads,
    Effect.gen(function* () {
      const store = yield* ImportUploadStore
      const jobs = yield* Jobs
      return ImportUploads.of({
        submit: (owner, upload) =>
          Effect.gen(function* () {
            const uploadId = yield* store.stage(owner, upload)
            return yield* jobs
              .submitForUser(ImportKiMailHelperJob, { uploadId, dryRun: upload.dryRun }, { ownerId: owner })
              .pipe(Effect.tapError(() => Effect.ignore(store.remove(owner, uploadId))))
          })
      })
    })
  )
}
