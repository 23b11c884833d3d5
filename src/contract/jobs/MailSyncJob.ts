import { Schema } from "effect"
import { AccountId } from "../accounts/Account.ts"
import { defineJobKind } from "./JobKind.ts"

/** A mailbox path named by a targeted sync (bounded: they come from the IMAP server). */
const MailboxPath = Schema.String.pipe(Schema.check(Schema.isMaxLength(1_000)))

/**
 * Only the account id travels through the queue: the worker reads and decrypts the rest itself.
 * `mailboxes`: a targeted sync (queued by the watchers, src/watch/): only these mailboxes are
 * synced, after the mailbox list; absent (every payload before it existed) = the whole account.
 */
export const SyncPayload = Schema.Struct({
  accountId: AccountId,
  mailboxes: Schema.optionalKey(Schema.Array(MailboxPath).pipe(Schema.check(Schema.isMaxLength(100))))
})
export type SyncPayload = typeof SyncPayload.Type

const Count = Schema.Int.pipe(Schema.check(Schema.isGreaterThanOrEqualTo(0)))

/** What one successful sync did (the attempt that finished; a resumed sync counts its own part). */
export const SyncResult = Schema.Struct({
  mailboxes: Count,
  /** Mailboxes found unchanged by LIST-STATUS and skipped. */
  unchangedMailboxes: Count,
  newMessages: Count,
  flagUpdates: Count,
  expunged: Count,
  /** Mailboxes whose UIDVALIDITY changed: their stored messages were dropped and fetched again. */
  uidValidityResets: Count,
  /** Messages stored with parse warnings. */
  messagesWithWarnings: Count,
  durationMillis: Count,
  /** Busy time of each pipeline stage (they overlap, so the sum exceeds durationMillis). */
  stageMillis: Schema.Struct({ fetch: Count, parse: Count, store: Count })
})
export type SyncResult = typeof SyncResult.Type

/**
 * The de-duplication key of a sync: whole-account and targeted syncs apart, so that a whole-account
 * request (the user's "sync now", the scheduler, a watcher's reconnect) queued while a targeted sync
 * of the account is queued or running is a job of its own and not that targeted one (the folders
 * nobody watches would wait another interval). At most one of each per account is queued or running;
 * two at once write safely (MailStore takes the account's lock per batch, as for a stalled job's twin).
 */
export const syncDeduplicationKey = (payload: SyncPayload): string =>
  payload.mailboxes === undefined ? payload.accountId : `${payload.accountId}:targeted`

/**
 * Mirrors one IMAP account into PostgreSQL. One whole-account and one targeted sync per account at a
 * time (a second request of either gets the queued or running one: `syncDeduplicationKey`). Resumable: every stored batch moves the mailbox's checkpoint, so a retry (or a
 * worker taking over a stalled job) continues where the last attempt stopped. At the soft time limit it stops at a batch
 * boundary by itself (code `soft_time_limit`, retried from the checkpoint).
 */
export const MailSyncJob = defineJobKind({
  name: "mail.sync",
  description: "Synchronise one IMAP account (mailboxes, new mail, flags, expunges)",
  payload: SyncPayload,
  result: SyncResult,
  concurrency: 4,
  timeout: "2 hours",
  // at the soft limit the sync stores the batches in flight and stops cleanly (logged out, mailbox
  // left unfinished); five minutes before the hard limit leave room for the few batches in flight
  softTimeLimit: "115 minutes",
  // the checkpoint makes a timed-out (or soft-stopped) attempt worth continuing
  retryOnTimeout: true,
  retry: { attempts: 5, initialDelay: "15 seconds", maxDelay: "10 minutes", jitter: 0.3 },
  deduplicationKey: syncDeduplicationKey,
  covers: (queued, asked) =>
    queued.mailboxes === undefined ||
    (asked.mailboxes !== undefined && asked.mailboxes.every((path) => queued.mailboxes?.includes(path) === true)),
  userVisible: true
})
