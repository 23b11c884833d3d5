import { Context, Effect, Layer, Option, Schema } from "effect"
import { SqlClient } from "effect/sql"
import { AccountId } from "../contract/accounts/Account.ts"
import { RulesApplyJob } from "../contract/jobs/RulesApplyJob.ts"
import { RulesUndoJob } from "../contract/jobs/RulesUndoJob.ts"
import { UserId } from "../contract/users/UserId.ts"
import { type DatabaseError, decodeRows, fromSqlError } from "../platform/Database.ts"
import { UserScope } from "../users/UserScope.ts"

/** An account a watcher may watch: its owner and the folders to IDLE on without NOTIFY (migration 0067). */
export interface WatchTarget {
  readonly id: AccountId
  readonly userId: UserId
  readonly watchFolders: ReadonlyArray<string>
}

const TargetRow = Schema.Struct({
  id: AccountId,
  user_id: UserId,
  watch_folders: Schema.Array(Schema.String)
})

const FlagsRow = Schema.Struct({ uid: Schema.Number, flags: Schema.Array(Schema.String) })

/** The job kinds that write flags on the server (UID STORE) and then into the stored rows. */
const FLAG_WRITER_KINDS: ReadonlyArray<string> = [RulesApplyJob.name, RulesUndoJob.name]

const toTarget = (row: typeof TargetRow.Type): WatchTarget => ({
  id: row.id,
  userId: row.user_id,
  watchFolders: row.watch_folders
})

/**
 * What the watchers read of the accounts (system scope: a watcher has no user). Watchable: `active`
 * or `unreachable` (a server that comes back is watched again); never `auth_failed` (only the user
 * can fix the password) nor `disabled`.
 */
export class WatchStore extends Context.Service<
  WatchStore,
  {
    readonly watchable: Effect.Effect<ReadonlyArray<WatchTarget>, DatabaseError>
    readonly target: (id: AccountId) => Effect.Effect<Option.Option<WatchTarget>, DatabaseError>
    /**
     * The stored flags of these messages of one mailbox (by UID under `uidValidity`); a message not
     * stored there is absent from the map.
     */
    readonly storedFlags: (
      owner: UserId,
      accountId: AccountId,
      path: string,
      uidValidity: number,
      uids: ReadonlyArray<number>
    ) => Effect.Effect<ReadonlyMap<number, ReadonlyArray<string>>, DatabaseError>
    /** Whether a job of the owner that writes flags (rules.apply, rules.undo) is running now. */
    readonly flagWriterRunning: (owner: UserId) => Effect.Effect<boolean, DatabaseError>
  }
>()("mail-helper/WatchStore") {
  static readonly layer = Layer.effect(
    WatchStore,
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const scope = yield* UserScope
      const decode = decodeRows(TargetRow)

      const watchable = scope
        .system(
          "WatchStore.watchable",
          sql`SELECT id, user_id, watch_folders FROM mail_accounts
              WHERE status IN ('active', 'unreachable') ORDER BY id`
        )
        .pipe(
          Effect.flatMap(decode),
          Effect.map((rows) => rows.map(toTarget)),
          Effect.mapError(fromSqlError)
        )

      const target = (id: AccountId) =>
        scope
          .system(
            "WatchStore.target",
            sql`SELECT id, user_id, watch_folders FROM mail_accounts
                WHERE id = ${id} AND status IN ('active', 'unreachable')`
          )
          .pipe(
            Effect.flatMap(decode),
            Effect.map((rows) => Option.map(Option.fromNullishOr(rows[0]), toTarget)),
            Effect.mapError(fromSqlError)
          )

      const decodeFlags = decodeRows(FlagsRow)
      const storedFlags = (
        owner: UserId,
        accountId: AccountId,
        path: string,
        uidValidity: number,
        uids: ReadonlyArray<number>
      ) =>
        uids.length === 0
          ? Effect.succeed(new Map<number, ReadonlyArray<string>>())
          : scope
              .run(
                owner,
                sql`SELECT e.uid::float8 AS uid, e.flags FROM mailboxes m
                    JOIN emails e ON e.mailbox_id = m.id AND e.uid_validity = ${uidValidity}
                    WHERE m.user_id = ${owner} AND m.account_id = ${accountId} AND m.path = ${path}
                      AND e.uid IN ${sql.in([...uids])}`
              )
              .pipe(
                Effect.flatMap(decodeFlags),
                Effect.map((rows) => new Map(rows.map((row) => [row.uid, row.flags] as const))),
                Effect.mapError(fromSqlError),
                Effect.withSpan("WatchStore.storedFlags")
              )

      const flagWriterRunning = (owner: UserId) =>
        scope
          .run(
            owner,
            sql`SELECT EXISTS (SELECT 1 FROM jobs WHERE state = 'running' AND user_id = ${owner}
                  AND kind IN ${sql.in([...FLAG_WRITER_KINDS])}) AS running`
          )
          .pipe(
            Effect.flatMap(decodeRows(Schema.Struct({ running: Schema.Boolean }))),
            Effect.map((rows) => rows[0]?.running === true),
            Effect.mapError(fromSqlError),
            Effect.withSpan("WatchStore.flagWriterRunning")
          )

      return WatchStore.of({ watchable, target, storedFlags, flagWriterRunning })
    })
  )
}
