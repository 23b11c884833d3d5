import { Effect } from "effect"
import type { SqlError } from "effect/sql"
import { logDatabaseError } from "../platform/Database.ts"
import type { UserId } from "../contract/users/UserId.ts"
import { CurrentJob } from "./CurrentJob.ts"
import { PermanentJobError, TransientJobError } from "./JobKind.ts"

/**
 * The job's owner, which must be the one its payload names. Kinds put the owner in the payload
 * only so their de-duplication key can name it; a payload naming anyone else fails permanently.
 */
export const ownerOf = (payload: { readonly owner: UserId }) =>
  Effect.gen(function* () {
    const job = yield* CurrentJob
    if (job.ownerId === null || job.ownerId !== payload.owner) {
      return yield* new PermanentJobError({
        code: "invalid_payload",
        message: `${job.kind} must run for the owner its payload names`
      })
    }
    return payload.owner
  })

/**
 * Database trouble inside a job: worth another attempt (nothing half-written survives a failed
 * transaction). The cause goes to the log (logDatabaseError), the job record keeps the safe message.
 */
export const databaseTrouble = (error: SqlError.SqlError) =>
  logDatabaseError(error).pipe(
    Effect.andThen(
      Effect.fail(new TransientJobError({ code: "database", message: `database error (${error.reason._tag})` }))
    )
  )
