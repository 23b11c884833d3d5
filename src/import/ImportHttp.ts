import { Effect, Layer, Redacted } from "effect"
import { HttpApiBuilder } from "effect/http-api"
import { Api } from "../contract/Api.ts"
import { ImportUploadDisabled, ImportUploadInvalid, ImportUploadTooLarge } from "../contract/import/ImportApi.ts"
import { CurrentUser } from "../contract/users/CurrentUser.ts"
import { rateLimited, unavailable } from "../http/errorMapping.ts"
import { Crypto } from "../platform/Crypto.ts"
import { ImportUploadConfig, ImportUploadStore } from "./ImportUploadStore.ts"
import { ImportUploads } from "./ImportUploads.ts"
import { spoolUpload } from "./UploadSpool.ts"

/** SQLite's file header: anything else is refused before a job is queued. */
const sqliteMagic = Buffer.from("SQLite format 3\u0000", "latin1")

/** Base64 of UTF-8 -> the password; undefined when it is not canonical base64 of valid UTF-8. */
const decodePassword = (header: string): Redacted.Redacted<string> | undefined => {
  const bytes = Buffer.from(header, "base64")
  if (bytes.length === 0 || bytes.toString("base64") !== header) return undefined
  try {
    return Redacted.make(new TextDecoder("utf-8", { fatal: true }).decode(bytes))
  } catch {
    return undefined
  }
}

const ImportHandlers = HttpApiBuilder.group(
  Api,
  "import",
  Effect.fn(function* (handlers) {
    const config = yield* ImportUploadConfig
    const uploads = yield* ImportUploads
    return handlers.handle("kiMailHelper", ({ payload, query, headers }) =>
      Effect.gen(function* () {
        if (!config.enabled) {
          return yield* new ImportUploadDisabled({
            message: "importing an uploaded file is not enabled on this installation (IMPORT_UPLOAD_ENABLED)"
          })
        }
        const user = yield* CurrentUser
        const masterPassword = decodePassword(headers["x-import-master-password"])
        if (masterPassword === undefined) {
          return yield* new ImportUploadInvalid({
            message: "x-import-master-password must be the password's UTF-8 bytes in base64"
          })
        }
        // the body goes to a temporary file as it arrives (a slow or hostile client holds no memory);
        // one byte past the cap stops the upload (413); the file is deleted when this request ends
        const spooled = yield* spoolUpload(payload, { dir: config.tempDir, maxBytes: config.maxBytes })
        const file = yield* spooled.read
        if (file.length < sqliteMagic.length || !sqliteMagic.equals(file.subarray(0, sqliteMagic.length))) {
          return yield* new ImportUploadInvalid({
            message: "the body is not a SQLite database (KI-Mail-Helper's emails.db)"
          })
        }
        const submitted = yield* uploads.submit(user.id, { file, masterPassword, dryRun: query.dryRun === "true" })
        return { jobId: submitted.jobId, state: submitted.state }
      }).pipe(
        Effect.scoped,
        Effect.catchTag("UploadTooLarge", (tooLarge) =>
          Effect.fail(
            new ImportUploadTooLarge({
              message: `the file is larger than this installation accepts (${tooLarge.limit} bytes)`,
              maxBytes: tooLarge.limit
            })
          )
        ),
        Effect.catchTag("UploadBroken", (broken) => Effect.fail(new ImportUploadInvalid({ message: broken.message }))),
        // the temporary file's path and the OS error are for the operator, not the client
        Effect.catchTag("UploadSpoolFailed", (failed) =>
          Effect.logError("import upload: the temporary file failed", failed.message).pipe(
            Effect.andThen(unavailable({ message: "the upload could not be stored for the import; try again later" }))
          )
        ),
        Effect.catchTag(["DatabaseError", "QueueUnavailable"], unavailable),
        Effect.catchTag("SubmitRateLimited", rateLimited)
      )
    )
  })
)

export const ImportHttpLive = ImportHandlers.pipe(
  Layer.provide(ImportUploads.layer),
  Layer.provide(ImportUploadStore.layer),
  Layer.provide(Crypto.layer)
)
