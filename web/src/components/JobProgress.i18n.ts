import { defineStrings } from "../i18n/index.ts"

export const jobProgressStrings = defineStrings(
  "jobProgress",
  {
    queued: "queued",
    running: "running",
    retrying: "retrying",
    succeeded: "done",
    failed: "failed",
    cancelled: "cancelled",
    progressOf: "{{phase}}: {{done}} of {{total}}",
    progressCount: "{{phase}}: {{done}}",
    progressLabel: "Progress of {{kind}}",
    cancelRequested: "cancel requested",
    attempt: "attempt {{attempts}} of {{max}}"
  },
  {
    queued: "wartet",
    running: "läuft",
    retrying: "neuer Versuch",
    succeeded: "fertig",
    failed: "fehlgeschlagen",
    cancelled: "abgebrochen",
    progressOf: "{{phase}}: {{done}} von {{total}}",
    progressCount: "{{phase}}: {{done}}",
    progressLabel: "Fortschritt von {{kind}}",
    cancelRequested: "Abbruch angefordert",
    attempt: "Versuch {{attempts}} von {{max}}"
  }
)
