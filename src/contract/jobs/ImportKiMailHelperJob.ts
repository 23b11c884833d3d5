import { Schema } from "effect"
import { defineJobKind } from "./JobKind.ts"

const Uuid = Schema.String.pipe(Schema.check(Schema.isUUID()))

/** Only the staging row's id: the file and the master password stay sealed in `import_uploads`. */
export const ImportKiMailHelperPayload = Schema.Struct({ uploadId: Uuid, dryRun: Schema.Boolean })
export type ImportKiMailHelperPayload = typeof ImportKiMailHelperPayload.Type

export const ImportKindName = Schema.Literals(["account", "rule", "correction", "tag", "trustedSender"])

/** The report the CLI prints (`import ki-mail-helper`), as data: one item per old row, and counts per kind. */
export const ImportReportView = Schema.Struct({
  dryRun: Schema.Boolean,
  schemaVersion: Schema.String,
  counts: Schema.Array(
    Schema.Struct({ kind: ImportKindName, imported: Schema.Int, skipped: Schema.Int, unmapped: Schema.Int })
  ),
  items: Schema.Array(
    Schema.Struct({
      kind: ImportKindName,
      source: Schema.String,
      outcome: Schema.Literals(["imported", "skipped", "unmapped"]),
      details: Schema.Array(Schema.String)
    })
  ),
  correctionsApplied: Schema.Int
})
export type ImportReportView = typeof ImportReportView.Type

export const ImportKiMailHelperJob = defineJobKind({
  name: "import.kiMailHelper",
  description: "Imports accounts, rules, tags and corrections from an uploaded KI-Mail-Helper database",
  payload: ImportKiMailHelperPayload,
  result: ImportReportView,
  concurrency: 1,
  timeout: "30 minutes",
  // the staging row is deleted when an attempt ends: a second attempt would find nothing
  retryOnTimeout: false,
  retry: { attempts: 1, initialDelay: "1 second", maxDelay: "1 second", jitter: 0 },
  workClass: "bulk",
  userVisible: true
})
