/**
 * The `rules.undo` job (`POST /api/v1/rules/runs/:id/undo`): puts the messages a rule run changed on
 * the server back where they were, with the flags they had, from the run's journal (RunJournalStore.ts).
 *
 * Per journal row, on the server (never guessed):
 * - the message must still be where the run left it: same mailbox, same UIDVALIDITY, the UID from
 *   the server's COPYUID answer; otherwise it is `vanished` (moved, expunged, mailbox recreated);
 * - its flags must still be the ones the run left; otherwise it is `changed` (someone worked on it since)
 *   and left alone;
 * - then UID STORE back to the flags before, and UID MOVE back to the mailbox before (UIDPLUS gives
 *   the new UID, which our row takes); the row is `restored`.
 * A `copy` row (the copy rule action) is undone by removing the copy, never the original: the copy must
 * still be where the run made it, with the flags it had (else `vanished` / `changed`, left alone); then
 * UID STORE +FLAGS (\Deleted) and UID EXPUNGE of that UID (UIDPLUS). Without UIDPLUS a plain EXPUNGE
 * runs only when no other message of that mailbox is \Deleted; otherwise the row is `failed`
 * (unsafe_expunge) and the copy stays.
 * Each row's outcome is stored on the row; rows already restored are skipped, so undoing twice (or a
 * retried attempt) changes nothing more. Tags and priority (database-only actions) are not undone.
 */
import { RulesUndoJob, type RulesUndoPayload, UndoLimits, type UndoSummary } from "../contract/jobs/RulesUndoJob.ts"
import { Effect, Exit, Result, Schema, Scope } from "effect"
import { CurrentJob, currentOwner } from "../jobs/CurrentJob.ts"
import { PermanentJobError, TransientJobError } from "../contract/jobs/JobKind.ts"
import { makeProcessor } from "../jobs/JobProcessor.ts"
import type { DatabaseError } from "../platform/Database.ts"
import { type ImapError, type ImapSession, type ImapUnsafeExpunge, isTransientImapError } from "../imap/Imap.ts"
import type { UserId } from "../contract/users/UserId.ts"
import { type AccountSessionError, AccountSessions } from "./AccountSessions.ts"
import { groupBy } from "./groupBy.ts"
import type { JournalEntry, UndoStatus } from "../contract/rules/RuleSchemas.ts"
import { RunJournalStore } from "./RunJournalStore.ts"
import { RuleMailStore } from "./RuleMailStore.ts"

/** Flags as a comparable set: case-insensitive, without \Recent (the server sets it, nobody can). */
const flagKey = (flags: ReadonlyArray<string>): string =>
  [...new Set(flags.map((flag) => flag.toLowerCase()).filter((flag) => flag !== "\\recent"))].sort().join(" ")

const settable = (flags: ReadonlyArray<string>) => flags.filter((flag) => flag.toLowerCase() !== "\\recent")

const without = (flags: ReadonlyArray<string>, other: ReadonlyArray<string>) => {
  const drop = new Set(other.map((flag) => flag.toLowerCase()))
  return settable(flags).filter((flag) => !drop.has(flag.toLowerCase()))
}

interface Outcome {
  readonly status: UndoStatus
  readonly detail: string | null
}

/** The server could not be reached mid-undo: the attempt ends and is retried (restored rows are skipped). */
class UndoImapUnavailable extends Schema.TaggedError<UndoImapUnavailable>()("UndoImapUnavailable", {
  message: Schema.String
}) {}

const describeImap = (error: ImapError | ImapUnsafeExpunge | AccountSessionError): string => error.message

const isTransient = (error: ImapError | ImapUnsafeExpunge | AccountSessionError): boolean =>
  error._tag === "DatabaseError" ||
  error._tag === "ImapSlotUnavailable" ||
  (error._tag === "ImapConnectionError" && isTransientImapError(error))

export const RulesUndoProcessor = makeProcessor(
  RulesUndoJob,
  Effect.gen(function* () {
    const journal = yield* RunJournalStore
    const sessions = yield* AccountSessions
    const mail = yield* RuleMailStore

    /** Our row follows the message back (the next sync would too; this keeps the API right meanwhile). */
    const updateRow = (
      ownerId: UserId,
      entry: JournalEntry,
      location: { readonly uidValidity: number; readonly uid: number }
    ): Effect.Effect<void, DatabaseError> =>
      entry.emailId === null
        ? Effect.void
        : mail.restoreMessage(ownerId, {
            emailId: entry.emailId,
            accountId: entry.accountId,
            mailbox: entry.before.mailbox,
            flags: entry.before.flags,
            location
          })

    /** Undo of the rows of one mailbox (where the run left them). */
    const undoMailbox = (
      session: ImapSession,
      mailbox: string,
      entries: ReadonlyArray<JournalEntry>,
      ownerId: UserId
    ): Effect.Effect<ReadonlyArray<readonly [JournalEntry, Outcome]>, UndoImapUnavailable | DatabaseError> =>
      Effect.gen(function* () {
        const out: Array<readonly [JournalEntry, Outcome]> = []
        const opened = yield* Effect.result(session.openMailbox(mailbox))
        if (Result.isFailure(opened)) {
          if (isTransient(opened.failure)) return yield* new UndoImapUnavailable({ message: opened.failure.message })
          const detail =
            opened.failure._tag === "ImapMailboxMissing"
              ? `mailbox '${mailbox}' no longer exists`
              : `mailbox '${mailbox}' cannot be opened: ${describeImap(opened.failure)}`
          return entries.map((entry) => [entry, { status: "vanished", detail }] as const)
        }
        const flags = yield* Effect.result(session.fetchFlags(mailbox))
        if (Result.isFailure(flags)) {
          if (isTransient(flags.failure)) return yield* new UndoImapUnavailable({ message: flags.failure.message })
          return entries.map(
            (entry) =>
              [entry, { status: "failed", detail: `reading the flags: ${describeImap(flags.failure)}` }] as const
          )
        }
        const current = new Map(flags.success.map((state) => [state.uid, state.flags] as const))
        for (const entry of entries) {
          if (opened.success.uidValidity !== entry.after.uidValidity) {
            out.push([
              entry,
              { status: "vanished", detail: `mailbox '${mailbox}' was recreated (UIDVALIDITY changed)` }
            ])
            continue
          }
          const now = current.get(entry.after.uid)
          if (now === undefined) {
            out.push([entry, { status: "vanished", detail: `no longer in '${mailbox}' (moved or deleted since)` }])
            continue
          }
          if (flagKey(now) !== flagKey(entry.after.flags)) {
            out.push([
              entry,
              {
                status: "changed",
                detail: `its flags are now [${settable(now).join(" ")}], the run left [${settable(entry.after.flags).join(" ")}]: left as it is`
              }
            ])
            continue
          }
          if (entry.kind === "copy") {
            const removed = yield* Effect.result(session.deleteMessages(mailbox, [entry.after.uid]))
            if (Result.isFailure(removed)) {
              if (isTransient(removed.failure))
                return yield* new UndoImapUnavailable({ message: removed.failure.message })
              out.push([
                entry,
                { status: "failed", detail: `removing the copy: ${describeImap(removed.failure)}; the copy stays` }
              ])
              continue
            }
            out.push([
              entry,
              removed.success.includes(entry.after.uid)
                ? { status: "restored", detail: `the copy in '${mailbox}' was removed; the original stays` }
                : { status: "vanished", detail: `the copy is no longer in '${mailbox}' (moved or deleted since)` }
            ])
            continue
          }
          const add = without(entry.before.flags, now)
          const remove = without(now, entry.before.flags)
          if (add.length > 0 || remove.length > 0) {
            const stored = yield* Effect.result(session.setFlags(mailbox, [entry.after.uid], add, remove))
            if (Result.isFailure(stored)) {
              if (isTransient(stored.failure))
                return yield* new UndoImapUnavailable({ message: stored.failure.message })
              out.push([entry, { status: "failed", detail: `restoring the flags: ${describeImap(stored.failure)}` }])
              continue
            }
          }
          if (mailbox === entry.before.mailbox) {
            yield* updateRow(ownerId, entry, { uidValidity: entry.after.uidValidity, uid: entry.after.uid })
            out.push([entry, { status: "restored", detail: null }])
            continue
          }
          const moved = yield* Effect.result(session.moveMessages(mailbox, [entry.after.uid], entry.before.mailbox))
          if (Result.isFailure(moved)) {
            if (isTransient(moved.failure)) return yield* new UndoImapUnavailable({ message: moved.failure.message })
            out.push([
              entry,
              {
                status: "failed",
                detail: `flags restored, moving back to '${entry.before.mailbox}' failed: ${describeImap(moved.failure)}`
              }
            ])
            continue
          }
          const uid = moved.success.uidMap.get(entry.after.uid)
          const uidValidity = moved.success.destinationUidValidity
          if (uid !== undefined && uidValidity !== null) yield* updateRow(ownerId, entry, { uidValidity, uid })
          out.push([
            entry,
            {
              status: "restored",
              detail: uid === undefined ? "the server did not report the new UID; the next sync updates the row" : null
            }
          ])
        }
        return out
      })

    return (payload: RulesUndoPayload) =>
      Effect.gen(function* () {
        const job = yield* CurrentJob
        const ownerId = yield* currentOwner
        const found = yield* Effect.result(journal.get(ownerId, payload.runId))
        if (Result.isFailure(found)) {
          return found.failure._tag === "RunNotFound"
            ? yield* new PermanentJobError({ code: "run_not_found", message: found.failure.message })
            : yield* new TransientJobError({ code: "database", message: found.failure.message })
        }
        const entries = yield* journal.entries(ownerId, payload.runId)
        const summary = {
          entries: entries.length,
          restored: 0,
          changed: 0,
          vanished: 0,
          failed: 0,
          alreadyRestored: 0
        }
        const messages: Array<UndoSummary["messages"][number]> = []
        const list = (
          entry: JournalEntry,
          outcome: UndoSummary["messages"][number]["outcome"],
          detail: string | null
        ) => {
          if (messages.length < UndoLimits.maxListed) {
            messages.push({ emailId: entry.emailId, subject: entry.subject, outcome, detail })
          }
        }
        const todo: Array<JournalEntry> = []
        for (const entry of entries) {
          if (entry.undo?.status === "restored") {
            summary.alreadyRestored += 1
            list(entry, "already_restored", null)
          } else todo.push(entry)
        }
        const record = (entry: JournalEntry, outcome: Outcome) =>
          Effect.gen(function* () {
            yield* journal.markUndo(ownerId, entry.id, outcome.status, outcome.detail)
            summary[outcome.status] += 1
            list(entry, outcome.status, outcome.detail)
          })

        const byAccount = groupBy(todo, (entry) => entry.accountId)
        let done = 0
        for (const [accountId, accountEntries] of byAccount) {
          const scope = yield* Scope.make()
          const connected = yield* Effect.result(sessions.connect(ownerId, accountId).pipe(Scope.provide(scope)))
          if (Result.isFailure(connected)) {
            yield* Scope.close(scope, Exit.void)
            if (isTransient(connected.failure)) {
              return yield* new TransientJobError({ code: "imap_unavailable", message: connected.failure.message })
            }
            for (const entry of accountEntries) {
              yield* record(entry, {
                status: "failed",
                detail: `the account cannot be used: ${connected.failure.message}`
              })
            }
            continue
          }
          const byMailbox = groupBy(accountEntries, (entry) => entry.after.mailbox)
          for (const [mailbox, mailboxEntries] of byMailbox) {
            const outcomes = yield* undoMailbox(connected.success, mailbox, mailboxEntries, ownerId).pipe(
              Effect.onError(() => Scope.close(scope, Exit.void))
            )
            for (const [entry, outcome] of outcomes) yield* record(entry, outcome)
            done += mailboxEntries.length
            yield* job.progress({ phase: "undoing", done, total: todo.length })
          }
          yield* Scope.close(scope, Exit.void)
        }
        return { ...summary, messages }
      }).pipe(
        Effect.catchTag("DatabaseError", (error) =>
          Effect.fail(new TransientJobError({ code: "database", message: error.message }))
        ),
        Effect.catchTag("UndoImapUnavailable", (error) =>
          Effect.fail(new TransientJobError({ code: "imap_unavailable", message: error.message }))
        ),
        Effect.withSpan("rules.undo", { attributes: { "rules.run": payload.runId } })
      )
  })
)
