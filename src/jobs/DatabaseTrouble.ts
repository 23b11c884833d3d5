import { Effect } from "effect"
import type { SqlError } from "effect/sql"
import { logDatabaseError } from "../platform/Database.ts"
import { TransientJobError } from "../contract/jobs/JobKind.ts"

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
