/**
 * The `import.kiMailHelper` job (POST /api/v1/import/ki-mail-helper, docs/import.md): runs the same
 * `runImport` as the CLI on the staged upload of the job's owner, for the owner's email (the CLI's
 * `--user`). The staged row is deleted when the attempt ends, whatever its end (success, failure,
 * cancel); the file is written for node:sqlite to a private temporary directory removed with it.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect, Option, Schema } from "effect"
import type { SqlClient } from "effect/sql"
import type { AccountStore } from "../accounts/AccountStore.ts"
import {
  ImportKiMailHelperJob,
  type ImportKiMailHelperPayload,
  type ImportReportView
} from "../contract/jobs/ImportKiMailHelperJob.ts"
import { PermanentJobError } from "../contract/jobs/JobKind.ts"
import { currentOwner } from "../jobs/CurrentJob.ts"
import { makeProcessor } from "../jobs/JobProcessor.ts"
import type { EventBus } from "../events/EventBus.ts"
import type { Crypto } from "../platform/Crypto.ts"
import type { RuleStore } from "../rules/RuleStore.ts"
import type { UserScope } from "../users/UserScope.ts"
import { countsOf, type ImportReport, ImportKinds, runImport } from "./Importer.ts"
import { ImportUploadStore } from "./ImportUploadStore.ts"

export const toReportView = (report: ImportReport): ImportReportView => ({
  dryRun: report.dryRun,
  schemaVersion: report.schemaVersion,
  counts: ImportKinds.map((kind) => ({ kind, ...countsOf(report, kind) })),
  items: report.items,
  correctionsApplied: report.correctionsApplied
})

/** `WrongMasterPassword` -> `wrong_master_password`: the job's error code. */
const codeOf = (tag: string) => tag.replace(/([a-z0-9])([A-Z])/g, "$1_$2").toLowerCase()

class TemporaryFileFailed extends Schema.TaggedError<TemporaryFileFailed>()("TemporaryFileFailed", {
  message: Schema.String
}) {}

const withTemporaryFile = <A, E, R>(file: Uint8Array, use: (path: string) => Effect.Effect<A, E, R>) =>
  Effect.acquireUseRelease(
    Effect.tryPromise({
      try: () => mkdtemp(join(tmpdir(), "mail-helper-import-")),
      catch: (error) => new TemporaryFileFailed({ message: `creating a temporary directory: ${String(error)}` })
    }),
    (directory) =>
      Effect.tryPromise({
        try: () => writeFile(join(directory, "emails.db"), file, { mode: 0o600 }),
        catch: (error) =>
          new TemporaryFileFailed({ message: `writing the upload to a temporary file: ${String(error)}` })
      }).pipe(Effect.andThen(use(join(directory, "emails.db")))),
    (directory) => Effect.promise(() => rm(directory, { recursive: true, force: true }))
  )

export const ImportKiMailHelperProcessor = makeProcessor(
  ImportKiMailHelperJob,
  Effect.gen(function* () {
    const uploads = yield* ImportUploadStore
    const context = yield* Effect.context<
      UserScope | SqlClient.SqlClient | AccountStore | RuleStore | Crypto | EventBus
    >()

    return (payload: ImportKiMailHelperPayload) =>
      Effect.gen(function* () {
        const owner = yield* currentOwner
        return yield* Effect.gen(function* () {
          const user = yield* uploads.ownerEmail(owner)
          if (Option.isNone(user)) {
            return yield* new PermanentJobError({ code: "user_not_found", message: "the job's user no longer exists" })
          }
          const staged = yield* uploads.read(owner, payload.uploadId)
          if (Option.isNone(staged)) {
            return yield* new PermanentJobError({
              code: "upload_not_found",
              message: "the uploaded file is gone (already imported, or deleted after 24 hours): upload it again"
            })
          }
          const report = yield* withTemporaryFile(staged.value.file, (path) =>
            runImport({
              source: { _tag: "sqlite", path },
              email: user.value,
              masterPassword: staged.value.masterPassword,
              dryRun: payload.dryRun
            })
          )
          // the temporary file's name is ours, not the user's: the report names the upload instead
          return toReportView({ ...report, source: "upload" })
        }).pipe(Effect.provideContext(context), Effect.ensuring(Effect.ignore(uploads.remove(owner, payload.uploadId))))
      }).pipe(
        Effect.catch((error) =>
          error._tag === "PermanentJobError"
            ? Effect.fail(error)
            : Effect.fail(new PermanentJobError({ code: codeOf(error._tag), message: error.message }))
        ),
        Effect.withSpan("import.kiMailHelper", { attributes: { "import.dryRun": payload.dryRun } })
      )
  })
)
