import { Context, type Effect } from "effect"
import type { AccountId } from "../contract/accounts/Account.ts"
import type { EmailId } from "../contract/emails/EmailId.ts"
import type { UserId } from "../contract/users/UserId.ts"

/**
 * The mail pipeline's seams: each stage announces what it did, and the wiring in `src/main`
 * (main/mailFollowUps.ts) decides what runs next (stored -> search index, imported corrections,
 * analysis and embeddings; analysed -> rules). No stage imports the next one.
 *
 * Announcing never fails the stage: the follow-up work is queued as jobs, and a job that could not be
 * queued is logged and picked up again later (the next sync finds the mail still pending).
 */

/** A sync run (complete, or stopped at its soft time limit) stored mail of one account. */
export interface MailStored {
  readonly owner: UserId
  readonly accountId: AccountId
  /** Messages this run stored (0 when it only updated flags or found nothing new). */
  readonly newMessages: number
  /**
   * Messages this run stored or still plans to store: a backlog (an initial sync, also a run resumed
   * after a yield or its soft time limit, whose first stored batch is small) makes the follow-ups bulk.
   */
  readonly backlog: number
  /**
   * Whether stored mail of the owner still lacks its full-text vectors: this run's new mail, or mail
   * an earlier run stored but could not queue for indexing. Only asked for when
   * `searchIndexDeferred(Infinity)`; a read in the owner's scope, which the follow-ups run in the one
   * transaction of their other reads (never fails: a read that fails answers false, logged).
   */
  readonly awaitingSearchIndex: Effect.Effect<boolean>
}

/**
 * The first stored batch of a mailbox without stored mail (a new account's INBOX first): its newest
 * messages, the first screen the user looks at (MailSync.FIRST_PAGE).
 */
export interface FirstPageStored {
  readonly owner: UserId
  readonly accountId: AccountId
  readonly emailIds: ReadonlyArray<EmailId>
}

/** What was queued for a first page: whether its analysis is still queued or running. */
/**
 * Where the first page's analysis job is: `waiting` for a worker, `running` (also between attempts),
 * or `ended` (done, failed, cancelled, not found, or none was queued).
 */
export type FirstPagePhase = "waiting" | "running" | "ended"

export interface FirstPageFollowUp {
  readonly phase: Effect.Effect<FirstPagePhase>
}

/** An analysis batch saved its results (analysed or failed for good; deferred messages are not listed). */
export interface MailAnalysed {
  readonly owner: UserId
  readonly emailIds: ReadonlyArray<string>
}

export interface MailFollowUpsShape {
  /**
   * Whether a sync run that stores or plans to store `backlog` new messages (as `MailStored.backlog`)
   * stores them without their search vectors, for a later `search.index` job (cheaper per batch), and
   * reports `awaitingSearchIndex`. A backlog (bulk follow-ups) defers them; a small run (fresh mail)
   * stores them with their vectors: its mail is found by full-text search once stored, and no job is
   * queued for it. `Infinity` asks whether mail is ever indexed by a job (false: every run stores the
   * vectors, and nothing is awaited).
   */
  readonly searchIndexDeferred: (backlog: number) => boolean
  readonly mailStored: (event: MailStored) => Effect.Effect<void>
  /**
   * The first page of a new mailbox was stored: its analysis is queued at once as interactive work of
   * its own, ahead of the rest. The sync announces the rest (`mailStored`: search index, embeddings,
   * the other messages' analysis, as bulk) once `analysing` is false, so nothing of the sync's own
   * follow-up work competes with the first screen's analysis.
   */
  readonly firstPageStored: (event: FirstPageStored) => Effect.Effect<FirstPageFollowUp>
  readonly mailAnalysed: (event: MailAnalysed) => Effect.Effect<void>
}

export class MailFollowUps extends Context.Service<MailFollowUps, MailFollowUpsShape>()("mail-helper/MailFollowUps") {}
