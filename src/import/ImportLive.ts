import { Effect, Layer, Schedule } from "effect"
import { AccountStore } from "../accounts/AccountStore.ts"
import { Crypto } from "../platform/Crypto.ts"
import { RuleStore } from "../rules/RuleStore.ts"
import { ImportUploadStore } from "./ImportUploadStore.ts"

/**
 * What `runImport` and the import job need on top of the platform (SqlClient, UserScope): the stores.
 * The user is found with a plain query, so the worker (import job) loads no UserStore.ts.
 */
export const ImportLive = Layer.mergeAll(AccountStore.layer, RuleStore.layer, ImportUploadStore.layer).pipe(
  Layer.provideMerge(Crypto.layer)
)

/**
 * Deletes staged uploads no job took (cancelled while queued, lost) once an hour in each worker; the
 * delete is idempotent, so any number of workers may run it.
 */
export const ImportUploadCleanupLive = Layer.effectDiscard(
  Effect.gen(function* () {
    const uploads = yield* ImportUploadStore
    yield* uploads.removeStale.pipe(
      Effect.tap((deleted) =>
        deleted > 0 ? Effect.logInfo("deleted stale import uploads", { deleted }) : Effect.void
      ),
      Effect.catch((error) =>
        Effect.logWarning("stale import uploads not deleted; the next pass tries again", error.message)
      ),
      Effect.repeat(Schedule.spaced("1 hour")),
      Effect.forkScoped
    )
  })
)
