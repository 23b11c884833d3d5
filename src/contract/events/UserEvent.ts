import { Schema } from "effect"
import { AccountId, AccountStatus, MailboxId } from "../accounts/Account.ts"
import { EmailId } from "../emails/EmailId.ts"
import { JobId, JobProgress, JobState } from "../jobs/Job.ts"

/**
 * What a user hears about: one schema for the SSE stream (`GET /api/v1/events`) and for webhooks,
 * so a client that reads one reads the other. Every event names its type and when it happened; the
 * stream's id (a Redis stream entry id) is the transport's, not part of the event.
 *
 * Events carry ids and small facts, never message bodies or secrets: a client that wants more asks
 * the API with its own credentials (and row-level security decides what it sees).
 */

const occurredAt = Schema.Date

/** A message was stored (new in a sync, or re-stored after a move). */
export class MailStored extends Schema.TaggedClass<MailStored>()("mail.stored", {
  occurredAt,
  accountId: AccountId,
  mailboxId: MailboxId,
  emailId: EmailId
}) {}

/**
 * A message became analysed: once per message each time it goes from pending to analysed (its first
 * analysis, or again after a reprocess), published by the job that saved the result; a second job
 * that analysed the same message at the same time finds it saved and says nothing. A message
 * stored in several copies (the same message in several folders of an account, e.g. Gmail labels)
 * is analysed once, as its canonical copy: the event names that copy, and the other copies (whose
 * `mail.stored` named them) get no event of their own; they show the canonical copy's analysis
 * (`GET /emails/{id}` lists the copies and which one is canonical). A message whose analysis failed
 * gets no event (its rules still run). A rescore (`analysis.rescore`) re-blends stored analyses and
 * publishes no event per message: its `job.changed` says when it ended.
 */
export class MailAnalysed extends Schema.TaggedClass<MailAnalysed>()("mail.analysed", {
  occurredAt,
  emailId: EmailId
}) {}

/** A rule acted on a message (on the server and in the database). */
export class RuleApplied extends Schema.TaggedClass<RuleApplied>()("rule.applied", {
  occurredAt,
  ruleId: Schema.String,
  emailId: EmailId,
  actions: Schema.Array(Schema.String)
}) {}

/** A job of the user's changed state or reported progress (progress is throttled by the publisher). */
export class JobChanged extends Schema.TaggedClass<JobChanged>()("job.changed", {
  occurredAt,
  jobId: JobId,
  kind: Schema.String,
  state: JobState,
  progress: Schema.NullOr(JobProgress)
}) {}

/**
 * What happened to an account: `created`, `updated` (settings, watched folders, credentials entered
 * again), `removed`, `status` (the sync or a watcher set its status), `watch` (its watching
 * connection came up or went down: see `watching`).
 */
export const AccountChange = Schema.Literals(["created", "updated", "removed", "status", "watch"])
export type AccountChange = typeof AccountChange.Type

/**
 * An account was created, changed, removed, changed status, or its watcher connected or lost its
 * connection (only on a real change, not on every sync). `change` and `watching` are absent in
 * events published before they existed (those were all status changes): old events stay decodable.
 */
export class AccountChanged extends Schema.TaggedClass<AccountChanged>()("account.changed", {
  occurredAt,
  accountId: AccountId,
  status: AccountStatus,
  message: Schema.NullOr(Schema.String),
  change: Schema.optionalKey(AccountChange),
  /** With `change: "watch"`: a worker now holds a watching connection (true) or no longer does (false). */
  watching: Schema.optionalKey(Schema.Boolean)
}) {}

export const UserEvent = Schema.Union([MailStored, MailAnalysed, RuleApplied, JobChanged, AccountChanged])
export type UserEvent = typeof UserEvent.Type

/** The event types, for filters (webhook subscriptions, SSE `types` query). */
export const UserEventType = Schema.Literals([
  "mail.stored",
  "mail.analysed",
  "rule.applied",
  "job.changed",
  "account.changed"
])
export type UserEventType = typeof UserEventType.Type

/**
 * The wire form: JSON of an event, dates as ISO strings both ways (`toCodecJson`: with `UserEvent`
 * alone the encoder wrote ISO strings through JSON.stringify but the decoder wanted Date objects,
 * so a client could not read what the server sent).
 */
export const UserEventJson = Schema.fromJsonString(Schema.toCodecJson(UserEvent))

/**
 * Redis layout shared by the publisher (src/events) and readers in other processes (the webhook
 * dispatcher): every event goes to the user's capped stream (the SSE resume window) and to one
 * global stream read through consumer groups. An entry's fields are `user` (the owner's id) and
 * `event` (UserEventJson). Both keys are under the installation's REDIS_PREFIX (as the job queues
 * are), so installations sharing a Redis database never see each other's events; a consumer group
 * lives on its stream, so it is the installation's too.
 */
export const eventStreams = {
  user: (prefix: string, userId: string): string => `${prefix}:events:user:${userId}`,
  all: (prefix: string): string => `${prefix}:events:all`,
  fieldUser: "user",
  fieldEvent: "event"
} as const
