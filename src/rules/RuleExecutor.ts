/**
 * Runs a user's rules over stored mail and carries the actions out: on the IMAP server first (UID STORE,
 * UID MOVE or its fallbacks in src/imap/Imap.ts `moveMessages`; delete = move to the Trash), then in the
 * database, then in the execution log.
 *
 * Per page of messages (in id order):
 * 1. evaluate in the evaluation threads (`RuleEvaluator.plan`: `planActions`, then `diffPlan`: only what
 *    would change), at most the confirmed number of messages;
 * 2. per account and source mailbox, one UID STORE per distinct flag change, one UID COPY per copy
 *    destination (`copyMessages`: messages whose Message-ID is already there are not copied again) and
 *    one UID MOVE per destination, for every message of the page that needs it;
 * 3. one transaction: flags and location of what the server confirmed (a MOVE counts only for UIDs
 *    in the server's COPYUID map), guarded by the message's old mailbox + UIDVALIDITY + UID; tags and
 *    priority as user overrides; one `rule_runs` row per rule and message (applied, partial, failed); one
 *    `rule_journal` row per message changed on the server, and one (`kind: "copy"`) per copy made
 *    (for undo, RulesUndoProcessor.ts).
 *
 * Nothing is written for a change the server did not confirm, so the database never claims a move
 * that did not happen. A change that did happen on the server but not in the database (the attempt
 * was interrupted between 2 and 3) is found again by the next run, whose MOVE of the stale UID then
 * reports the message missing; the next sync reconciles it.
 *
 * Transient failures (connection, database) stop the attempt after the page that met them has been
 * written; the caller retries, and `diffPlan` skips whatever is already done.
 */
import { Context, Effect, Exit, Layer, Result, Scope } from "effect"
import { type DatabaseError, fromSqlError } from "../platform/Database.ts"
import {
  type ImapError,
  type ImapSession,
  type ImapUnsafeExpunge,
  isTransientImapError,
  type MailboxInfo
} from "../imap/Imap.ts"
import type { UserId } from "../contract/users/UserId.ts"
import { UserScope } from "../users/UserScope.ts"
import { type AccountSessionError, AccountSessions } from "./AccountSessions.ts"
import { groupBy } from "./groupBy.ts"
import type { ApplySummary, DryRunTruncation, RuleTestResult, SkippedMessage } from "../contract/rules/RuleSchemas.ts"
import {
  applyActions,
  type CompiledRule,
  compileRuleResult,
  EvaluationLimits,
  type PlannedAction,
  sameMailbox
} from "./evaluate.ts"
import type { WireRule } from "./evaluationTask.ts"
import { EvaluationBudgets, RuleEvaluator } from "./RuleEvaluator.ts"
import { type NewJournalEntry, RunJournalStore } from "./RunJournalStore.ts"
import { describeAction, type RuleAction, type RuleInput } from "../contract/rules/Rule.ts"
import { type MessageSelection, type OverrideUpdate, RuleMailStore, type RuleMessage } from "./RuleMailStore.ts"
import type { RunAction, RunOutcome, RunTrigger } from "../contract/rules/RuleSchemas.ts"
import { type NewRun, RuleStore, type StoredRule } from "./RuleStore.ts"
import { RuleApplied } from "../contract/events/UserEvent.ts"
import { EmailId } from "../contract/emails/EmailId.ts"
import { EventBus } from "../events/EventBus.ts"

// ---------------------------------------------------------------------------
// Public shapes
// ---------------------------------------------------------------------------

export interface ApplyRequest {
  readonly ownerId: UserId
  /** Only these rules (still only the enabled ones); all of the user's when absent. */
  readonly ruleIds?: ReadonlyArray<string> | undefined
  /**
   * Rules that are not stored, applied instead of the user's (the archive key's move). Each gets a
   * fresh id for this run, which names no stored rule: the log keeps its name only.
   */
  readonly adhocRules?: ReadonlyArray<RuleInput> | undefined
  readonly selection: MessageSelection
  readonly jobId: string | null
  readonly trigger: RunTrigger
  readonly progress?: (done: number, total: number) => Effect.Effect<void>
  /** Messages per page (one IMAP round per mailbox and one transaction per page). Default 200. */
  readonly pageSize?: number
  /**
   * The number of messages the user confirmed this run may change (POST /rules/apply): the run stops
   * before changing more (new mail that matches since the count is left for the next run).
   */
  readonly confirmedCount?: number | undefined
}

export interface FailureInfo {
  readonly code: string
  readonly message: string
}

export interface ApplyOutcome {
  readonly summary: ApplySummary
  /** Set when the attempt stopped early on a failure worth retrying. */
  readonly transient: FailureInfo | null
}

export interface RuleExecutorShape {
  readonly apply: (request: ApplyRequest) => Effect.Effect<ApplyOutcome, DatabaseError>
}

// ---------------------------------------------------------------------------
// Internals
// ---------------------------------------------------------------------------

type ChangeStatus =
  | { readonly _tag: "pending" }
  | { readonly _tag: "applied" }
  | { readonly _tag: "failed"; readonly failure: Failure }

interface Failure extends FailureInfo {
  readonly transient: boolean
}

interface Item {
  readonly message: RuleMessage
  readonly changes: ReadonlyArray<PlannedAction>
  readonly status: Array<ChangeStatus>
  /** Flags after a confirmed STORE. */
  flagsAfter?: ReadonlyArray<string>
  /** Where a confirmed MOVE put the message. */
  moved?: { readonly destination: MailboxInfo; readonly uidValidity: number | null; readonly uid: number }
  /** Copies the run made (UID confirmed), for the journal (undo removes them). */
  copies: Array<{
    readonly action: RuleAction
    readonly destination: MailboxInfo
    readonly uidValidity: number | null
    readonly uid: number
  }>
}

type ActionKind = "db" | "flags" | "copy" | "move"
const kindOf = (action: RuleAction): ActionKind => {
  switch (action.type) {
    case "setPriority":
    case "addTag":
    case "removeTag":
      return "db"
    case "markRead":
    case "markUnread":
    case "flag":
    case "unflag":
      return "flags"
    case "copyTo":
      return "copy"
    case "moveTo":
    case "delete":
      return "move"
  }
}

const SEEN = "\\Seen"
const FLAGGED = "\\Flagged"

/** The flags to add and remove for an item's flag changes (sorted, so equal changes group together). */
const flagDelta = (changes: ReadonlyArray<PlannedAction>) => {
  const add: Array<string> = []
  const remove: Array<string> = []
  for (const { action } of changes) {
    if (action.type === "markRead") add.push(SEEN)
    if (action.type === "markUnread") remove.push(SEEN)
    if (action.type === "flag") add.push(FLAGGED)
    if (action.type === "unflag") remove.push(FLAGGED)
  }
  return { add: add.sort(), remove: remove.sort() }
}

const withFlags = (
  flags: ReadonlyArray<string>,
  add: ReadonlyArray<string>,
  remove: ReadonlyArray<string>
): ReadonlyArray<string> => {
  const removed = new Set(remove.map((flag) => flag.toLowerCase()))
  const kept = flags.filter((flag) => !removed.has(flag.toLowerCase()))
  const present = new Set(kept.map((flag) => flag.toLowerCase()))
  return [...kept, ...add.filter((flag) => !present.has(flag.toLowerCase()))]
}

const failureOf = (error: ImapError | ImapUnsafeExpunge | AccountSessionError): Failure => {
  switch (error._tag) {
    case "ImapUnsafeExpunge":
      // the message carries the reason ("unsafe_expunge: the folder holds N other messages marked deleted; ...")
      return { code: "unsafe_expunge", message: error.message, transient: false }
    case "ImapConnectionError":
      return isTransientImapError(error)
        ? { code: "imap_unavailable", message: error.message, transient: true }
        : { code: "imap_connection_failed", message: error.message, transient: false }
    case "ImapAuthenticationError":
      return { code: "imap_auth_failed", message: `the server refused the login: ${error.message}`, transient: false }
    case "ImapMailboxMissing":
      return { code: "mailbox_missing", message: error.message, transient: false }
    case "ImapProtocolError":
      return { code: "imap_refused", message: error.message, transient: false }
    case "ImapLimitExceeded":
      return { code: "imap_limit_exceeded", message: error.message, transient: false }
    case "AccountUnavailable":
      // an OAuth2 provider that could not give a token now may tomorrow
      return { code: "account_unavailable", message: error.message, transient: error.reason === "oauth_unavailable" }
    case "ImapSlotUnavailable":
      // every connection slot of the account stayed busy (or Redis was unreachable): try again later
      return { code: "imap_busy", message: error.message, transient: true }
    case "DatabaseError":
      return { code: "database", message: error.message, transient: true }
  }
}

const missingMessage: Failure = {
  code: "message_missing",
  message:
    "the message is no longer at its stored place on the server (moved or deleted elsewhere); the next sync updates it",
  transient: false
}

const markKinds = (item: Item, kinds: ReadonlyArray<ActionKind>, status: ChangeStatus) => {
  item.changes.forEach((change, index) => {
    if (kinds.includes(kindOf(change.action)) && item.status[index]?._tag === "pending") item.status[index] = status
  })
}

const hasPending = (item: Item, kind: ActionKind) =>
  item.changes.some((change, index) => kindOf(change.action) === kind && item.status[index]?._tag === "pending")

interface Connected {
  readonly session: ImapSession
  readonly mailboxes: ReadonlyArray<MailboxInfo>
  readonly scope: Scope.Closeable
}

const emptySummary = (rules: number): ApplySummary => ({
  rules,
  messages: 0,
  matched: 0,
  changed: 0,
  actionsApplied: 0,
  actionsFailed: 0,
  failedMessages: 0,
  runs: 0,
  evaluationTimeouts: 0,
  stoppedAtConfirmedCount: false
})

/** Compiles stored rules; one that no longer compiles (a newer regex engine) is skipped with a warning. */
export const compileStored = (
  rules: ReadonlyArray<Pick<StoredRule, "input"> & { readonly id: string }>
): Effect.Effect<ReadonlyArray<CompiledRule>> =>
  Effect.gen(function* () {
    const compiled: Array<CompiledRule> = []
    for (const rule of rules) {
      const result = compileRuleResult(rule.input, { id: rule.id })
      if (Result.isSuccess(result)) compiled.push(result.success)
      else
        yield* Effect.logWarning("stored rule does not compile; skipped", {
          rule: rule.id,
          error: result.failure.message
        })
    }
    return compiled
  })

// ---------------------------------------------------------------------------
// Service
// ---------------------------------------------------------------------------

export class RuleExecutor extends Context.Service<RuleExecutor, RuleExecutorShape>()("mail-helper/RuleExecutor") {
  static readonly layer = Layer.effect(
    RuleExecutor,
    Effect.gen(function* () {
      const store = yield* RuleStore
      const journal = yield* RunJournalStore
      const bus = yield* EventBus
      const mail = yield* RuleMailStore
      const sessions = yield* AccountSessions
      const userScope = yield* UserScope
      const evaluator = yield* RuleEvaluator

      const apply = (request: ApplyRequest) =>
        Effect.scoped(
          Effect.gen(function* () {
            const { ownerId } = request
            const wanted = request.ruleIds === undefined ? undefined : new Set(request.ruleIds)
            const pageSize = Math.max(1, request.pageSize ?? 200)
            // the run's opening reads (its rules, how many messages, the first page) in one transaction
            // of the owner's, not one each: a new-mail run of one message paid three for them
            const opening = yield* userScope
              .run(
                ownerId,
                Effect.gen(function* () {
                  const stored =
                    request.adhocRules === undefined
                      ? (yield* store.list(ownerId)).filter(
                          (rule) => rule.input.enabled && (wanted === undefined || wanted.has(rule.id))
                        )
                      : request.adhocRules.map((input) => ({ id: crypto.randomUUID(), input }))
                  if (stored.length === 0) return { stored, total: 0, firstPage: [] }
                  const total = yield* mail.count(ownerId, request.selection)
                  const firstPage = yield* mail.page(ownerId, request.selection, null, pageSize)
                  return { stored, total, firstPage }
                })
              )
              .pipe(Effect.mapError((error) => (error._tag === "SqlError" ? fromSqlError(error) : error)))
            const rules = yield* compileStored(opening.stored)
            if (rules.length === 0) return { summary: emptySummary(0), transient: null } satisfies ApplyOutcome
            const wireRules = rules.map((rule): WireRule => ({ id: rule.id ?? "", input: rule.source }))

            const total = opening.total
            const summary = { ...emptySummary(rules.length) }
            const jobScope = yield* Effect.scope
            const connections = new Map<string, Result.Result<Connected, Failure>>()

            const connection = (accountId: string) =>
              Effect.gen(function* () {
                const known = connections.get(accountId)
                if (known !== undefined) return known
                const scope = yield* Scope.fork(jobScope)
                const connected = yield* Effect.result(
                  Effect.gen(function* () {
                    const session = yield* sessions.connect(ownerId, accountId).pipe(Scope.provide(scope))
                    const mailboxes = yield* session.listMailboxes()
                    return { session, mailboxes, scope } satisfies Connected
                  })
                )
                if (Result.isFailure(connected)) yield* Scope.close(scope, Exit.void)
                const result = Result.mapError(connected, failureOf)
                connections.set(accountId, result)
                return result
              })

            /** A broken connection is dropped, so a later attempt connects again. */
            const forget = (accountId: string) =>
              Effect.gen(function* () {
                const known = connections.get(accountId)
                connections.delete(accountId)
                if (known !== undefined && Result.isSuccess(known)) yield* Scope.close(known.success.scope, Exit.void)
              })

            let afterId: string | null = null
            /** Messages planned for a change so far (against the confirmed count). */
            let planned = 0
            const runRef: { id: string | null } = { id: null }
            let done = 0
            let transient: Failure | null = null
            // read with the rules; every later page in a transaction of its own
            let firstPage: ReadonlyArray<RuleMessage> | null = opening.firstPage
            while (transient === null) {
              const page: ReadonlyArray<RuleMessage> =
                firstPage ?? (yield* mail.page(ownerId, request.selection, afterId, pageSize))
              firstPage = null
              if (page.length === 0) break
              afterId = page[page.length - 1]?.id ?? afterId

              // 1. evaluate, in the evaluation threads (this event loop stays free for lock renewal)
              const items: Array<Item> = []
              const evaluated = yield* evaluator.plan(
                wireRules,
                page.map((message) => message.state),
                { hangMs: EvaluationBudgets.applyHangMs, resume: true }
              )
              page.forEach((message, index) => {
                const result = evaluated.results[index]
                if (result === undefined || result._tag === "skipped") {
                  summary.evaluationTimeouts += 1
                  return
                }
                if (result.outcome.matched) summary.matched += 1
                const changes = result.outcome.changes
                if (changes.length > 0) {
                  items.push({
                    message,
                    changes,
                    status: changes.map(() => ({ _tag: "pending" }) as const),
                    copies: []
                  })
                }
              })
              summary.messages += page.length
              if (request.confirmedCount !== undefined) {
                const room = Math.max(0, request.confirmedCount - planned)
                if (items.length > room) {
                  items.length = room
                  summary.stoppedAtConfirmedCount = true
                }
                planned += items.length
              }

              // 2. IMAP, grouped per account and source mailbox
              const imapItems = items.filter((item) => item.changes.some((c) => kindOf(c.action) !== "db"))
              for (const [accountId, accountItems] of groupBy(imapItems, (item) => item.message.accountId)) {
                const connected = yield* connection(accountId)
                if (Result.isFailure(connected)) {
                  const status: ChangeStatus = { _tag: "failed", failure: connected.failure }
                  for (const item of accountItems) markKinds(item, ["flags", "move"], status)
                  if (connected.failure.transient) {
                    transient ??= connected.failure
                    connections.delete(accountId)
                  }
                  continue
                }
                const failure = yield* runImap(connected.success, accountItems)
                if (failure !== null) {
                  transient ??= failure
                  yield* forget(accountId)
                }
              }

              // 3. database: confirmed changes, overrides, the log
              const written = yield* writePage(ownerId, request, items, runRef)
              summary.runs += written.length
              // committed: the owner hears of each rule that acted on a message (never fails the run)
              const occurredAt = new Date()
              yield* Effect.forEach(
                written,
                (run) => {
                  const actions = run.actions.filter((a) => a.status === "applied").map((a) => a.action.type)
                  return run.ruleId === null || actions.length === 0
                    ? Effect.void
                    : bus.publish(
                        ownerId,
                        new RuleApplied({ occurredAt, ruleId: run.ruleId, emailId: EmailId.make(run.emailId), actions })
                      )
                },
                { discard: true }
              )
              for (const item of items) {
                const applied = item.status.filter((s) => s._tag === "applied").length
                const failed = item.status.filter((s) => s._tag === "failed").length
                summary.actionsApplied += applied
                summary.actionsFailed += failed
                if (applied > 0) summary.changed += 1
                if (failed > 0) summary.failedMessages += 1
              }
              done += page.length
              if (request.progress !== undefined) yield* request.progress(Math.min(done, total), Math.max(done, total))
              if (page.length < pageSize || summary.stoppedAtConfirmedCount) break
            }
            return {
              summary,
              transient: transient === null ? null : { code: transient.code, message: transient.message }
            } satisfies ApplyOutcome
          })
        ).pipe(
          Effect.withSpan("RuleExecutor.apply", {
            attributes: {
              "rules.trigger": request.trigger,
              ...(request.jobId === null ? {} : { "job.id": request.jobId })
            }
          })
        )

      /**
       * STORE then MOVE for the items of one account, grouped per source mailbox. Returns the transient
       * failure that ended the account's work early (a broken connection), or null.
       */
      const runImap = (connected: Connected, items: ReadonlyArray<Item>) =>
        Effect.gen(function* () {
          const { session, mailboxes } = connected
          let broken: Failure | null = null
          const stop = (failure: Failure) => {
            if (failure.transient) broken ??= failure
          }

          for (const [path, sourceItems] of groupBy(items, (item) => item.message.mailboxPath)) {
            if (broken !== null) {
              for (const item of sourceItems)
                markKinds(item, ["flags", "copy", "move"], { _tag: "failed", failure: broken })
              continue
            }
            // UID STORE, one per distinct (add, remove)
            const storeGroups = groupBy(
              sourceItems.filter((item) => hasPending(item, "flags")),
              (item) => {
                const { add, remove } = flagDelta(item.changes)
                return `${add.join(" ")}|${remove.join(" ")}`
              }
            )
            for (const group of storeGroups.values()) {
              const first = group[0]
              if (first === undefined) continue
              if (broken !== null) {
                for (const item of group)
                  markKinds(item, ["flags", "copy", "move"], { _tag: "failed", failure: broken })
                continue
              }
              const { add, remove } = flagDelta(first.changes)
              const stored = yield* Effect.result(
                session.setFlags(
                  path,
                  group.map((item) => item.message.uid),
                  add,
                  remove
                )
              )
              if (Result.isSuccess(stored)) {
                for (const item of group) {
                  item.flagsAfter = withFlags(item.message.flags, add, remove)
                  markKinds(item, ["flags"], { _tag: "applied" })
                }
              } else {
                const failure = failureOf(stored.failure)
                stop(failure)
                // a message whose flags could not be set is not copied or moved either: the next run does all
                for (const item of group) markKinds(item, ["flags", "copy", "move"], { _tag: "failed", failure })
              }
            }

            // UID COPY, one per destination, before the move; a failed copy holds the move back
            const copying: Array<{ readonly item: Item; readonly index: number; readonly destination: MailboxInfo }> =
              []
            for (const item of sourceItems) {
              for (const [index, change] of item.changes.entries()) {
                if (change.action.type !== "copyTo" || item.status[index]?._tag !== "pending") continue
                const fail = (failure: Failure) => {
                  item.status[index] = { _tag: "failed", failure }
                  markKinds(item, ["move"], { _tag: "failed", failure })
                }
                if (broken !== null) {
                  fail(broken)
                  continue
                }
                const destination = resolveDestination(change.action, mailboxes)
                if (destination === undefined || destination._tag === "failed") {
                  fail(destination?.failure ?? { code: "internal", message: "no copy planned", transient: false })
                  continue
                }
                copying.push({ item, index, destination: destination.info })
              }
            }
            for (const group of groupBy(copying, (entry) => entry.destination.path).values()) {
              const destination = group[0]?.destination
              if (destination === undefined) continue
              const fail = (entry: (typeof group)[number], failure: Failure) => {
                entry.item.status[entry.index] = { _tag: "failed", failure }
                markKinds(entry.item, ["move"], { _tag: "failed", failure })
              }
              if (broken !== null) {
                for (const entry of group) fail(entry, broken)
                continue
              }
              const copied = yield* Effect.result(
                session.copyMessages(
                  path,
                  group.map(({ item }) => item.message.uid),
                  destination.path
                )
              )
              if (Result.isFailure(copied)) {
                const failure = failureOf(copied.failure)
                stop(failure)
                for (const entry of group) fail(entry, failure)
                continue
              }
              const { uidMap, unmapped, existing, withoutMessageId } = copied.success
              for (const entry of group) {
                const uid = entry.item.message.uid
                const target = uidMap.get(uid)
                if (target !== undefined) {
                  entry.item.copies.push({
                    action: entry.item.changes[entry.index]?.action ?? { type: "copyTo", mailbox: destination.path },
                    destination,
                    uidValidity: copied.success.destinationUidValidity,
                    uid: target
                  })
                  entry.item.status[entry.index] = { _tag: "applied" }
                } else if (existing.has(uid)) {
                  // already there (same Message-ID): a re-run makes no second copy
                  entry.item.status[entry.index] = { _tag: "applied" }
                } else if (withoutMessageId.includes(uid)) {
                  fail(entry, {
                    code: "copy_unverifiable",
                    message: `not copied to ${destination.path}: the message has no Message-ID, so a later run could not tell whether it was copied already`,
                    transient: false
                  })
                } else if (unmapped.includes(uid)) {
                  // the copy exists, the original is kept; only the undo cannot find the copy
                  entry.item.status[entry.index] = {
                    _tag: "failed",
                    failure: {
                      code: "destination_uid_unknown",
                      message: `copied to ${destination.path}, but the server (no UIDPLUS) did not report the copy's UID and its Message-ID did not identify it there; the copy cannot be undone`,
                      transient: false
                    }
                  }
                } else {
                  fail(entry, missingMessage)
                }
              }
            }

            // UID MOVE, one per destination
            const moving: Array<{ readonly item: Item; readonly destination: MailboxInfo }> = []
            for (const item of sourceItems.filter((i) => hasPending(i, "move"))) {
              if (broken !== null) {
                markKinds(item, ["move"], { _tag: "failed", failure: broken })
                continue
              }
              const change = item.changes.find((c) => kindOf(c.action) === "move")
              const destination = change === undefined ? undefined : resolveDestination(change.action, mailboxes)
              if (destination === undefined || destination._tag === "failed") {
                markKinds(item, ["move"], {
                  _tag: "failed",
                  failure: destination?.failure ?? { code: "internal", message: "no move planned", transient: false }
                })
              } else if (sameMailbox(destination.info.path, path)) {
                markKinds(item, ["move"], { _tag: "applied" })
              } else {
                moving.push({ item, destination: destination.info })
              }
            }
            for (const group of groupBy(moving, (entry) => entry.destination.path).values()) {
              const destination = group[0]?.destination
              if (destination === undefined) continue
              if (broken !== null) {
                for (const { item } of group) markKinds(item, ["move"], { _tag: "failed", failure: broken })
                continue
              }
              const uids = group.map(({ item }) => item.message.uid)
              const moved = yield* Effect.result(session.moveMessages(path, uids, destination.path))
              const unconfirmed: Array<Item> = []
              let failure: Failure | null = null
              if (Result.isSuccess(moved)) {
                const unmapped = new Set(moved.success.unmapped)
                for (const { item } of group) {
                  const uid = moved.success.uidMap.get(item.message.uid)
                  if (uid === undefined && unmapped.has(item.message.uid)) {
                    // moved, but without COPYUID and a unique Message-ID its new UID is unknown: our row
                    // and the journal cannot follow it (so no undo); the next sync finds it there
                    markKinds(item, ["move"], {
                      _tag: "failed",
                      failure: {
                        code: "destination_uid_unknown",
                        message: `moved to ${destination.path} on the server, but the server (no UIDPLUS) did not report its new UID and its Message-ID did not identify it there; it cannot be undone, the next sync updates it`,
                        transient: false
                      }
                    })
                    continue
                  }
                  if (uid === undefined) {
                    unconfirmed.push(item)
                    continue
                  }
                  item.moved = { destination, uidValidity: moved.success.destinationUidValidity, uid }
                  markKinds(item, ["move"], { _tag: "applied" })
                }
              } else {
                failure = failureOf(moved.failure)
                stop(failure)
                unconfirmed.push(...group.map(({ item }) => item))
              }
              if (unconfirmed.length === 0) continue
              // Not in the COPYUID map (or refused): tell a stale UID from a refusal. Nothing is claimed.
              const present = failure?.transient
                ? null
                : yield* Effect.result(session.searchUids(path)).pipe(
                    Effect.map((r) => (Result.isSuccess(r) ? new Set(r.success) : null))
                  )
              for (const item of unconfirmed) {
                const missing = present !== null && !present.has(item.message.uid)
                markKinds(item, ["move"], {
                  _tag: "failed",
                  failure: missing
                    ? missingMessage
                    : (failure ?? {
                        code: "imap_refused",
                        message: `the server did not move the message to ${destination.path}`,
                        transient: false
                      })
                })
              }
            }
          }
          return broken
        })

      const writePage = (
        ownerId: UserId,
        request: ApplyRequest,
        items: ReadonlyArray<Item>,
        runRef: { id: string | null }
      ) =>
        items.length === 0 ? Effect.succeed<ReadonlyArray<NewRun>>([]) : writeChanges(ownerId, request, items, runRef)

      const writeChanges = (
        ownerId: UserId,
        request: ApplyRequest,
        items: ReadonlyArray<Item>,
        runRef: { id: string | null }
      ) =>
        Effect.gen(function* () {
          const overrides: Array<OverrideUpdate> = []
          const entries: Array<NewJournalEntry> = []
          for (const item of items) {
            // flags and location the server confirmed
            if (item.flagsAfter !== undefined || item.moved !== undefined) {
              let location: { mailboxId: string; uidValidity: number; uid: number } | undefined
              let unusable = false
              if (item.moved !== undefined) {
                const row = yield* mail.ensureMailbox(
                  ownerId,
                  item.message.accountId,
                  item.moved.destination,
                  item.moved.uidValidity
                )
                const uidValidity = item.moved.uidValidity ?? row.uidValidity
                if (uidValidity === null) unusable = true
                else location = { mailboxId: row.id, uidValidity, uid: item.moved.uid }
              }
              // the journal: what the server did, whether or not our row could follow
              if (item.moved === undefined || location !== undefined) {
                const flagsAfter = item.flagsAfter ?? item.message.flags
                entries.push({
                  emailId: item.message.id,
                  accountId: item.message.accountId,
                  subject: item.message.subjectLine,
                  actions: item.changes
                    .filter(
                      (change, index) =>
                        kindOf(change.action) !== "db" &&
                        kindOf(change.action) !== "copy" &&
                        item.status[index]?._tag === "applied"
                    )
                    .map((change) => describeAction(change.action)),
                  before: {
                    mailbox: item.message.mailboxPath,
                    uidValidity: item.message.uidValidity,
                    uid: item.message.uid,
                    flags: item.message.flags
                  },
                  after:
                    item.moved === undefined || location === undefined
                      ? {
                          mailbox: item.message.mailboxPath,
                          uidValidity: item.message.uidValidity,
                          uid: item.message.uid,
                          flags: flagsAfter
                        }
                      : {
                          mailbox: item.moved.destination.path,
                          uidValidity: location.uidValidity,
                          uid: location.uid,
                          flags: flagsAfter
                        }
                })
              }
              const updated = yield* mail.updateMessage(ownerId, {
                message: item.message,
                flags: item.flagsAfter,
                location
              })
              if (!updated || unusable) {
                const failure: Failure = unusable
                  ? {
                      code: "uidvalidity_unknown",
                      message:
                        "the server moved the message without reporting the destination's UIDVALIDITY; the next sync updates it",
                      transient: false
                    }
                  : {
                      code: "message_changed",
                      message: "the stored message changed while the rules ran; the next run or sync updates it",
                      transient: false
                    }
                item.changes.forEach((change, index) => {
                  const kind = kindOf(change.action)
                  if (kind !== "db" && item.status[index]?._tag === "applied") {
                    item.status[index] = { _tag: "failed", failure }
                  }
                })
              }
            }
            // copies: one journal row each (the original stays; undo removes the copy). The copy carries
            // the flags the original had when it was copied (after this run's STORE).
            for (const copy of item.copies) {
              const uidValidity =
                copy.uidValidity ??
                (yield* mail.ensureMailbox(ownerId, item.message.accountId, copy.destination, null)).uidValidity
              if (uidValidity === null) continue
              entries.push({
                kind: "copy",
                emailId: item.message.id,
                accountId: item.message.accountId,
                subject: item.message.subjectLine,
                actions: [describeAction(copy.action)],
                before: {
                  mailbox: item.message.mailboxPath,
                  uidValidity: item.message.uidValidity,
                  uid: item.message.uid,
                  flags: item.message.flags
                },
                after: {
                  mailbox: copy.destination.path,
                  uidValidity,
                  uid: copy.uid,
                  flags: item.flagsAfter ?? item.message.flags
                }
              })
            }
            // tags and priority: the state after the database-only changes
            const dbActions = item.changes.filter((c) => kindOf(c.action) === "db").map((c) => c.action)
            if (dbActions.length > 0) {
              const after = applyActions(item.message.state, dbActions)
              const tagsChanged = dbActions.some((a) => a.type === "addTag" || a.type === "removeTag")
              const urgencyChanged = dbActions.some((a) => a.type === "setPriority" && a.urgency !== undefined)
              const importanceChanged = dbActions.some((a) => a.type === "setPriority" && a.importance !== undefined)
              overrides.push({
                emailId: item.message.id,
                tags: tagsChanged ? after.tags : undefined,
                urgency: urgencyChanged && after.urgency !== null ? after.urgency : undefined,
                importance: importanceChanged && after.importance !== null ? after.importance : undefined
              })
              markKinds(item, ["db"], { _tag: "applied" })
            }
          }
          yield* mail.upsertOverrides(ownerId, overrides)
          const runs = items.flatMap(runsOf)
          yield* store.insertRuns(ownerId, { jobId: request.jobId, trigger: request.trigger }, runs)
          if (entries.length > 0) {
            runRef.id ??= yield* journal.ensureRun(ownerId, {
              jobId: request.jobId,
              trigger: request.trigger,
              confirmedCount: request.confirmedCount ?? null
            })
            yield* journal.record(ownerId, runRef.id, entries)
          }
          return runs
        }).pipe(scopeOf(ownerId))

      const scopeOf =
        (ownerId: UserId) =>
        <A, R>(effect: Effect.Effect<A, DatabaseError, R>): Effect.Effect<A, DatabaseError, R> =>
          userScope
            .run(ownerId, effect)
            .pipe(Effect.mapError((error) => (error._tag === "SqlError" ? fromSqlError(error) : error)))

      return RuleExecutor.of({ apply })
    })
  )
}

type Destination =
  | { readonly _tag: "ok"; readonly info: MailboxInfo }
  | { readonly _tag: "failed"; readonly failure: Failure }

/** The server mailbox a move or delete goes to, from the account's mailbox list. */
const resolveDestination = (action: RuleAction, mailboxes: ReadonlyArray<MailboxInfo>): Destination | undefined => {
  if (action.type === "delete") {
    // without SPECIAL-USE (RFC 6154) imapflow's LIST infers the role from well-known names (Trash, Deleted Items...)
    const trash = mailboxes.find((m) => m.specialUse === "trash" && m.selectable)
    return trash === undefined
      ? {
          _tag: "failed",
          failure: {
            code: "no_trash",
            message:
              "the account has no special-use Trash mailbox (nor exactly one named Trash, Deleted Items or Deleted Messages)",
            transient: false
          }
        }
      : { _tag: "ok", info: trash }
  }
  if (action.type !== "moveTo" && action.type !== "copyTo") return undefined
  const target = mailboxes.find((m) => sameMailbox(m.path, action.mailbox))
  if (target === undefined) {
    return {
      _tag: "failed",
      failure: {
        code: "mailbox_missing",
        message: `mailbox '${action.mailbox}' does not exist on the server`,
        transient: false
      }
    }
  }
  if (!target.selectable) {
    return {
      _tag: "failed",
      failure: {
        code: "mailbox_missing",
        message: `mailbox '${action.mailbox}' cannot hold messages`,
        transient: false
      }
    }
  }
  return { _tag: "ok", info: target }
}

/** One log row per rule that asked for a change on this message. */
const runsOf = (item: Item): ReadonlyArray<NewRun> => {
  const byRule = new Map<number, { rule: PlannedAction["rule"]; actions: Array<RunAction>; failure: Failure | null }>()
  item.changes.forEach((change, index) => {
    const status = item.status[index]
    let entry = byRule.get(change.rule.index)
    if (entry === undefined) {
      entry = { rule: change.rule, actions: [], failure: null }
      byRule.set(change.rule.index, entry)
    }
    const failed = status?._tag === "failed"
    entry.actions.push({ action: change.action, status: failed ? "failed" : "applied" })
    if (status?._tag === "failed") entry.failure ??= status.failure
  })
  return [...byRule.values()].map(({ rule, actions, failure }) => {
    const failedCount = actions.filter((a) => a.status === "failed").length
    const outcome: RunOutcome = failedCount === 0 ? "applied" : failedCount === actions.length ? "failed" : "partial"
    return {
      ruleId: rule.id ?? null,
      ruleName: rule.name,
      emailId: item.message.id,
      actions,
      outcome,
      error:
        failure === null
          ? null
          : {
              code: failure.code,
              message: `${describeFailed(actions)}: ${failure.message}`
            }
    }
  })
}

const describeFailed = (actions: ReadonlyArray<RunAction>): string =>
  actions
    .filter((a) => a.status === "failed")
    .map((a) => describeAction(a.action))
    .join(", ")

export interface DryRunAnswer {
  readonly results: ReadonlyArray<RuleTestResult>
  readonly skipped: ReadonlyArray<typeof SkippedMessage.Type>
  readonly truncated: DryRunTruncation
}

/**
 * A dry run of one rule (also a disabled one) on some messages (`POST /rules/:id/test`); changes
 * nothing. Evaluated in the evaluation threads under a time budget; what was cut is reported.
 */
export const dryRunMessages = (
  rule: StoredRule,
  messages: ReadonlyArray<RuleMessage>,
  budgetMs: number = EvaluationBudgets.dryRunBudgetMs
): Effect.Effect<DryRunAnswer, never, RuleEvaluator> =>
  Effect.gen(function* () {
    const evaluator = yield* RuleEvaluator
    const run = yield* evaluator.test(
      { id: rule.id, input: rule.input },
      messages.map((message) => message.state),
      { budgetMs, hangMs: EvaluationBudgets.dryRunHangMs, resume: false }
    )
    const bodyConditions = rule.input.conditions.filter((c) => c.field === "body")
    const regexCut = bodyConditions.some((c) => c.op === "regex") ? EvaluationLimits.maxRegexBodyChars : null
    const textCut = bodyConditions.some((c) => c.op !== "regex") ? EvaluationLimits.maxBodyChars : null
    const results: Array<RuleTestResult> = []
    const skipped: Array<typeof SkippedMessage.Type> = []
    let withCutBody = 0
    messages.forEach((message, index) => {
      const email = { id: message.id, subject: message.subjectLine, mailbox: message.mailboxPath }
      const result = run.results[index]
      if (result === undefined || result._tag === "skipped") {
        skipped.push({ email, reason: result?.reason ?? "time_budget" })
        return
      }
      // RuleMailStore reads at most maxBodyChars: a body of exactly that length was (in all likelihood) longer
      const length = message.state.bodyText.length
      if ((regexCut !== null && length > regexCut) || (textCut !== null && length >= textCut)) withCutBody += 1
      const { evaluation, explanation, changes } = result.outcome
      results.push({
        email,
        matched: evaluation.matched,
        match: evaluation.match,
        conditions: evaluation.conditions,
        explanation,
        changes
      })
    })
    return {
      results,
      skipped,
      truncated: {
        bodyCharsPerCondition: EvaluationLimits.maxBodyChars,
        bodyCharsPerRegexCondition: EvaluationLimits.maxRegexBodyChars,
        subjectCharsPerCondition: EvaluationLimits.maxSubjectChars,
        messagesWithCutBody: withCutBody,
        messagesEvaluated: run.evaluated,
        messagesSkipped: run.skipped,
        reason: run.reason,
        budgetMs
      }
    }
  }).pipe(Effect.withSpan("rules.dryRun", { attributes: { "rules.messages": messages.length } }))
