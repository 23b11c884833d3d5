import { Effect } from "effect"
import { SqlClient } from "effect/sql"
import { userOwnedTable } from "../src/users/Rls.ts"

/**
 * `import_uploads`: an old installation's SQLite file a user uploaded (POST /import/ki-mail-helper),
 * waiting for its `import.kiMailHelper` job. The file and the user's old master password are sealed
 * under our keyring (src/platform/Crypto.ts) so that the job payload holds only this row's id; the
 * job deletes the row when it ends, the maintenance clean-up deletes rows a job never took.
 */
export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`
    CREATE TABLE import_uploads (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
      sealed_file text NOT NULL,
      sealed_password text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now()
    )`
  yield* sql`CREATE INDEX import_uploads_created ON import_uploads (created_at)`
  yield* userOwnedTable("import_uploads")
})
