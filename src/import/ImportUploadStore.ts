import { randomUUID } from "node:crypto"
import { tmpdir } from "node:os"
import { Config, Context, Effect, Layer, Option, Redacted, Schema } from "effect"
import { SqlClient } from "effect/sql"
import type { UserId } from "../contract/users/UserId.ts"
import { Crypto, type SecretDecryptionFailed } from "../platform/Crypto.ts"
import { type DatabaseError, decodeRows, fromSqlError } from "../platform/Database.ts"

// rows are checked against what each statement selects: a mismatch is a defect in this file
const decodeSealed = decodeRows(Schema.Struct({ sealedFile: Schema.String, sealedPassword: Schema.String }))
const decodeEmail = decodeRows(Schema.Struct({ email: Schema.String }))
const decodeIds = decodeRows(Schema.Struct({ id: Schema.String }))
import { UserScope } from "../users/UserScope.ts"

/** The admin's switch and cap for uploads over the API (README, configuration). */
export const ImportUploadConfig = Config.all({
  enabled: Config.Boolean("IMPORT_UPLOAD_ENABLED").pipe(Config.withDefault(false)),
  maxBytes: Config.Int("IMPORT_UPLOAD_MAX_BYTES").pipe(Config.withDefault(64 * 1024 * 1024)),
  /** Where an upload is written while it arrives (a directory of its own, deleted when the request ends). */
  tempDir: Config.String("IMPORT_UPLOAD_TEMP_DIR").pipe(Config.withDefault(tmpdir()))
})

/** Staged uploads a job never took (cancelled while queued, worker gone) are deleted after this. */
export const staleUploadHours = 24

export interface StagedUpload {
  readonly file: Uint8Array
  readonly masterPassword: Redacted.Redacted<string>
}

// the row's id and purpose bind each sealed value to its row: a sealed file cannot be moved to another row
const fileData = (id: string) => `import_uploads:${id}:file`
const passwordData = (id: string) => `import_uploads:${id}:password`

/**
 * `import_uploads` (migration 0061): an uploaded old database and its master password, sealed under
 * our keyring, for the `import.kiMailHelper` job, whose payload holds only the row's id.
 */
export class ImportUploadStore extends Context.Service<
  ImportUploadStore,
  {
    readonly stage: (owner: UserId, upload: StagedUpload) => Effect.Effect<string, DatabaseError>
    /** The staged upload, or none when it is gone (deleted, another user's). */
    readonly read: (
      owner: UserId,
      id: string
    ) => Effect.Effect<Option.Option<StagedUpload>, DatabaseError | SecretDecryptionFailed>
    readonly remove: (owner: UserId, id: string) => Effect.Effect<void, DatabaseError>
    /** The user's email (the import's `--user`); a plain query, so the worker loads no UserStore.ts. */
    readonly ownerEmail: (owner: UserId) => Effect.Effect<Option.Option<string>, DatabaseError>
    /** Deletes every user's rows older than `staleUploadHours` (system clean-up); how many. */
    readonly removeStale: Effect.Effect<number, DatabaseError>
  }
>()("mail-helper/ImportUploadStore") {
  static readonly layer = Layer.effect(
    ImportUploadStore,
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const scope = yield* UserScope
      const crypto = yield* Crypto
      // the SqlError names the statement; fromSqlError keeps its diagnostic
      const failed = (_what: string) => Effect.mapError(fromSqlError)

      return ImportUploadStore.of({
        stage: (owner, upload) =>
          Effect.gen(function* () {
            const id = randomUUID()
            const sealedFile = yield* crypto.encrypt(
              Redacted.make(Buffer.from(upload.file).toString("base64")),
              fileData(id)
            )
            const sealedPassword = yield* crypto.encrypt(upload.masterPassword, passwordData(id))
            yield* scope.run(
              owner,
              sql`INSERT INTO import_uploads (id, user_id, sealed_file, sealed_password)
                  VALUES (${id}, ${owner}, ${sealedFile}, ${sealedPassword})`
            )
            return id
          }).pipe(failed("staging the upload")),
        read: (owner, id) =>
          Effect.gen(function* () {
            const rows = yield* scope
              .run(
                owner,
                sql`
                  SELECT sealed_file AS "sealedFile", sealed_password AS "sealedPassword" FROM import_uploads WHERE id = ${id} AND user_id = ${owner}`.pipe(
                  Effect.flatMap(decodeSealed)
                )
              )
              .pipe(failed("reading the staged upload"))
            const row = rows[0]
            if (row === undefined) return Option.none()
            const file = yield* crypto.decrypt(row.sealedFile, fileData(id))
            const masterPassword = yield* crypto.decrypt(row.sealedPassword, passwordData(id))
            return Option.some({ file: Buffer.from(Redacted.value(file), "base64"), masterPassword })
          }),
        remove: (owner, id) =>
          scope
            .run(owner, sql`DELETE FROM import_uploads WHERE id = ${id} AND user_id = ${owner}`)
            .pipe(Effect.asVoid, failed("deleting the staged upload")),
        ownerEmail: (owner) =>
          scope.run(owner, sql`SELECT email FROM users WHERE id = ${owner}`.pipe(Effect.flatMap(decodeEmail))).pipe(
            Effect.map((rows) => Option.fromNullishOr(rows[0]?.email)),
            failed("reading the user's email")
          ),
        removeStale: scope
          .system(
            "import uploads clean-up",
            sql`
              DELETE FROM import_uploads WHERE created_at < now() - make_interval(hours => ${staleUploadHours})
              RETURNING id`.pipe(Effect.flatMap(decodeIds))
          )
          .pipe(
            Effect.map((rows) => rows.length),
            failed("deleting stale uploads")
          )
      })
    })
  )
}
