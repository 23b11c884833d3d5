import { Effect } from "effect"
import { SqlClient } from "effect/sql"

/**
 * `mail_accounts.watch_folders`: the folders (besides INBOX) a watcher IDLEs on when the server
 * offers no NOTIFY (src/watch/Watchers.ts; at most WATCH_MAX_IDLE_FOLDERS of them are used). With
 * NOTIFY every folder is watched and the column is not read.
 */
export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`ALTER TABLE mail_accounts ADD COLUMN watch_folders text[] NOT NULL DEFAULT '{}'`
})
