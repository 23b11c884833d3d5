import { Schema } from "effect"
import { defineJobKind } from "./JobKind.ts"

const Uuid = Schema.String.pipe(Schema.check(Schema.isUUID()))

export const RulesUndoPayload = Schema.Struct({ runId: Uuid })
export type RulesUndoPayload = typeof RulesUndoPayload.Type

export const UndoOutcome = Schema.Literals(["restored", "changed", "vanished", "failed", "already_restored"])

export const UndoSummary = Schema.Struct({
  /** Journal rows of the run. */
  entries: Schema.Int,
  restored: Schema.Int,
  /** Changed since the run (flags differ): left as they are. */
  changed: Schema.Int,
  /** No longer where the run left them (moved, deleted, mailbox recreated). */
  vanished: Schema.Int,
  failed: Schema.Int,
  /** Restored by an earlier undo. */
  alreadyRestored: Schema.Int,
  /** Per message (the first `UndoLimits.maxListed`; every row's outcome is in GET /rules/runs/:id). */
  messages: Schema.Array(
    Schema.Struct({
      emailId: Schema.NullOr(Schema.String),
      subject: Schema.NullOr(Schema.String),
      outcome: UndoOutcome,
      detail: Schema.NullOr(Schema.String)
    })
  )
})
export type UndoSummary = typeof UndoSummary.Type

export const UndoLimits = { maxListed: 200 } as const

export const RulesUndoJob = defineJobKind({
  name: "rules.undo",
  description: "Puts the messages a rule run changed back where they were, with their flags before",
  payload: RulesUndoPayload,
  result: UndoSummary,
  concurrency: 2,
  timeout: "30 minutes",
  // rows done are marked: a retry goes on with the rest
  retryOnTimeout: true,
  retry: { attempts: 5, initialDelay: "2 seconds", maxDelay: "2 minutes", jitter: 0.2 },
  userVisible: true
})
