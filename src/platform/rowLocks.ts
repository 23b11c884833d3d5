import { Effect, Schema } from "effect"
import type { SqlClient, SqlError, Statement } from "effect/sql"
import { decodeRows } from "./Database.ts"

/** The lock statement both helpers below send: the rows `where` selects, locked in ascending id. */
const lockStatement = (sql: SqlClient.SqlClient, where: Statement.Fragment, mode: "no key update" | "update") =>
  sql`
    SELECT e.id FROM emails e WHERE ${where}
    ORDER BY e.id ${mode === "update" ? sql`FOR UPDATE` : sql`FOR NO KEY UPDATE`}`

/**
 * The one lock order of a user's mail rows (issue 17): every transaction that writes several
 * `emails` rows first locks all of them in ONE statement, in ascending id, and only then writes.
 * Two writers over overlapping rows then queue behind each other instead of deadlocking, whatever
 * order their own statements would visit the rows in (a hash join over a VALUES list, a bitmap scan
 * in heap order, `= ANY(...)` through an index, one statement per outcome...).
 *
 * `no key update` is the lock an UPDATE that leaves the keys alone takes (foreign-key checks of
 * analysis and embedding rows still pass); `update` is a DELETE's.
 *
 * Writers that never wait (search.index, the claims of mail.analyze / mail.embed: SKIP LOCKED)
 * cannot close a cycle and need no pre-lock. The claims' release waits (a skipped row kept its claim
 * until it expired), so it takes its locks here first, as the writers do.
 *
 * The write that follows must touch no row the lock statement left out. Under READ COMMITTED each
 * statement reads its own snapshot: when `where` tests a column another writer changes (a claim's
 * holder, a message's flags), a row can match the write but not the lock, and the write then waits
 * on it outside the order. Such a writer takes the locked ids (`lockEmailRowIds`) and writes those.
 */
export const lockEmailRows = (
  sql: SqlClient.SqlClient,
  where: Statement.Fragment,
  mode: "no key update" | "update" = "no key update"
): Effect.Effect<void, SqlError.SqlError> => lockStatement(sql, where, mode).pipe(Effect.asVoid)

const LockedRow = Schema.Struct({ id: Schema.String })
const decodeLocked = decodeRows(LockedRow)

/** `lockEmailRows`, returning the ids it locked: the only rows the write that follows may touch. */
export const lockEmailRowIds = (
  sql: SqlClient.SqlClient,
  where: Statement.Fragment,
  mode: "no key update" | "update" = "no key update"
): Effect.Effect<ReadonlyArray<string>, SqlError.SqlError> =>
  lockStatement(sql, where, mode).pipe(
    Effect.flatMap(decodeLocked),
    Effect.map((rows) => rows.map((row) => row.id))
  )
