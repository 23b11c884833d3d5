import { Schema } from "effect"
import { HttpApiEndpoint, HttpApiGroup, HttpApiSchema } from "effect/http-api"
import { ServiceUnavailable } from "../http/ApiErrors.ts"
import { JobAccepted } from "../jobs/Job.ts"
import { TooManyRequestsWithRetryAfter } from "../users/UserErrors.ts"
import { Authentication } from "../users/CurrentUser.ts"

/** Hard ceiling of the upload's body; the installation's IMPORT_UPLOAD_MAX_BYTES is checked while reading. */
export const importUploadCeilingBytes = 1024 * 1024 * 1024

/** The admin has not enabled uploads (IMPORT_UPLOAD_ENABLED): the endpoint is as good as absent. */
export class ImportUploadDisabled extends Schema.TaggedError<ImportUploadDisabled>()(
  "ImportUploadDisabled",
  { message: Schema.String },
  { httpApiStatus: 404 }
) {}

export class ImportUploadTooLarge extends Schema.TaggedError<ImportUploadTooLarge>()(
  "ImportUploadTooLarge",
  { message: Schema.String, maxBytes: Schema.Int },
  { httpApiStatus: 413 }
) {}

export class ImportUploadInvalid extends Schema.TaggedError<ImportUploadInvalid>()(
  "ImportUploadInvalid",
  { message: Schema.String },
  { httpApiStatus: 400 }
) {}

export const ImportUploadQuery = {
  /** `true`: report what would be imported, write nothing. */
  dryRun: Schema.optionalKey(Schema.Literals(["true", "false"]))
}

export const ImportUploadHeaders = {
  /**
   * The master password of the old installation, as base64 of its UTF-8 bytes (a header carries only
   * Latin-1, a password may hold any character); sealed at once, never in the job's payload.
   */
  "x-import-master-password": Schema.String.pipe(Schema.check(Schema.isMinLength(1), Schema.isMaxLength(2048)))
}

/**
 * Moving in from KI-Mail-Helper (docs/import.md): the signed-in user uploads the old SQLite file
 * (`emails.db`) as the raw body; the import runs as an `import.kiMailHelper` job for them, whose
 * result is the import's report (GET /jobs/:id).
 */
export class ImportApi extends HttpApiGroup.make("import")
  .add(
    HttpApiEndpoint.post("kiMailHelper", "/import/ki-mail-helper", {
      query: ImportUploadQuery,
      headers: ImportUploadHeaders,
      payload: HttpApiSchema.StreamUint8Array({ maxBytes: importUploadCeilingBytes }),
      success: JobAccepted.pipe(HttpApiSchema.status(202)),
      error: [
        ImportUploadDisabled,
        ImportUploadTooLarge,
        ImportUploadInvalid,
        TooManyRequestsWithRetryAfter,
        ServiceUnavailable
      ]
    })
  )
  .middleware(Authentication)
  .prefix("/api/v1") {}
