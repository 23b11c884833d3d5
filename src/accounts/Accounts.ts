import { Context, Effect, Layer, Option, Redacted, Schedule } from "effect"
import { Conflict, TooManyRequests } from "../contract/http/ApiErrors.ts"
import { AccountChanged, type AccountChange } from "../contract/events/UserEvent.ts"
import { EventBus } from "../events/EventBus.ts"
import { ImapSlots } from "../imap/ImapSlots.ts"

/** How long a credentials change waits for a free IMAP connection slot of the account. */
const VERIFY_SLOT_WAIT = "5 seconds"
const VERIFY_SLOT_RETRY_SECONDS = 5
import type { JobAccepted, QueueUnavailable, SubmitRateLimited } from "../contract/jobs/Job.ts"
import { Jobs } from "../jobs/Jobs.ts"
import type { DatabaseError } from "../platform/Database.ts"
import type { RedisError } from "../platform/Redis.ts"
import { MailSyncJob } from "../contract/jobs/MailSyncJob.ts"
import type { UserId } from "../contract/users/UserId.ts"
import {
  type AccountExists,
  AccountId,
  AccountNotFound,
  AccountVerificationFailed,
  type AccountView,
  changedCredentialBoundFields,
  type CreateAccountRequest,
  CredentialRequired,
  defaultSyncIntervalMinutes,
  missingCredentialFields,
  type MailboxView,
  type UpdateAccountRequest
} from "../contract/accounts/Account.ts"
import { AccountSchedules, type FirstRun, wantsSchedule } from "./AccountSchedules.ts"
import { type AccountChanges, type AccountRecord, AccountStore, toAccountView } from "./AccountStore.ts"
import { ImapAccess } from "./ImapAccess.ts"
import { VerifyThrottle } from "./VerifyThrottle.ts"

/** Lower case, no trailing dot: one spelling per server, for the duplicate check and the policy. */
export const normaliseHost = (host: string): string => host.trim().toLowerCase().replace(/\.$/, "")

export interface AccountsShape {
  /** Verifies the login (bounded), then stores the account with its password sealed, then schedules it. */
  readonly create: (
    owner: UserId,
    input: CreateAccountRequest
  ) => Effect.Effect<
    AccountView,
    AccountVerificationFailed | AccountExists | TooManyRequests | DatabaseError | RedisError
  >
  readonly list: (owner: UserId) => Effect.Effect<ReadonlyArray<AccountView>, DatabaseError>
  readonly get: (owner: UserId, id: string) => Effect.Effect<AccountView, AccountNotFound | DatabaseError>
  /**
   * Any credential field in the patch is verified first and, on success, clears `auth_failed`. A
   * changed credential-bound field (host, port, security, username) without the password is
   * refused with CredentialRequired before anything is contacted.
   */
  readonly update: (
    owner: UserId,
    id: string,
    patch: UpdateAccountRequest
  ) => Effect.Effect<
    AccountView,
    | AccountNotFound
    | CredentialRequired
    | AccountVerificationFailed
    | AccountExists
    | TooManyRequests
    | DatabaseError
    | RedisError
  >
  /** Cancels a running sync, removes the scheduler, deletes the account and all its mail data. */
  readonly remove: (owner: UserId, id: string) => Effect.Effect<void, AccountNotFound | DatabaseError>
  readonly mailboxes: (
    owner: UserId,
    id: string
  ) => Effect.Effect<ReadonlyArray<MailboxView>, AccountNotFound | DatabaseError>
  /** Queues a sync, or returns the one already queued or running for the account. */
  readonly requestSync: (
    owner: UserId,
    id: string
  ) => Effect.Effect<JobAccepted, AccountNotFound | Conflict | SubmitRateLimited | QueueUnavailable | DatabaseError>
}

export class Accounts extends Context.Service<Accounts, AccountsShape>()("mail-helper/Accounts") {
  static readonly layer = Layer.effect(
    Accounts,
    Effect.gen(function* () {
      const store = yield* AccountStore
      const access = yield* ImapAccess
      const slots = yield* ImapSlots
      const schedules = yield* AccountSchedules
      const jobs = yield* Jobs
      const throttle = yield* VerifyThrottle
      const bus = yield* EventBus

      /** `account.changed` for the owner's clients and webhooks (never fails: EventBus logs a lost one). */
      const announce = (owner: UserId, record: AccountRecord, change: AccountChange) =>
        bus.publish(
          owner,
          new AccountChanged({
            occurredAt: new Date(),
            accountId: record.id,
            status: record.status,
            message: record.statusMessage,
            change
          })
        )

      const existing = (owner: UserId, id: string) =>
        store
          .find(owner, id)
          .pipe(
            Effect.flatMap(
              Option.match({ onNone: () => Effect.fail(AccountNotFound.forId(id)), onSome: Effect.succeed })
            )
          )

      /** The scheduler follows the row; if Redis is down now, the worker's reconciliation fixes it later. */
      const schedule = (record: AccountRecord, options?: { readonly firstRun: FirstRun }) =>
        schedules
          .apply(record, options)
          .pipe(
            Effect.catchTag("QueueUnavailable", (error) =>
              Effect.logWarning("sync schedule not updated; the next reconciliation will", error.message)
            )
          )

      const create = (owner: UserId, input: CreateAccountRequest) =>
        Effect.gen(function* () {
          const password = Redacted.make(input.password)
          const target = {
            host: normaliseHost(input.host),
            port: input.port,
            security: input.security,
            username: input.username
          }
          yield* throttle.attempt(owner)
          yield* access.verify(target, password)
          const account = {
            id: AccountId.make(crypto.randomUUID()),
            label: input.label,
            ...target,
            password,
            syncIntervalMinutes:
              input.syncIntervalMinutes === undefined ? defaultSyncIntervalMinutes : input.syncIntervalMinutes
          }
          const insert = store.insert(owner, account)
          // A scheduled account's first sync is submitted with its row, in one transaction (the
          // first screen of mail should not wait for the scheduler's tick: a BullMQ job, its worker,
          // an account lookup, then the submit); its scheduler then runs one interval later. An
          // account synced only on request (no interval) gets no sync until it is asked for.
          const record = wantsSchedule({ status: "active", syncIntervalMinutes: account.syncIntervalMinutes })
            ? yield* Effect.map(
                jobs.submitWith(MailSyncJob, { accountId: account.id }, { ownerId: owner }, insert),
                ({ written }) => written
              )
            : yield* insert
          yield* schedule(record, { firstRun: "after interval" })
          yield* announce(owner, record, "created")
          return toAccountView(record)
        }).pipe(Effect.withSpan("Accounts.create"))

      const list = (owner: UserId) => Effect.map(store.list(owner), (records) => records.map(toAccountView))

      const get = (owner: UserId, id: string) => Effect.map(existing(owner, id), toAccountView)

      const update = (owner: UserId, id: string, patch: UpdateAccountRequest) =>
        Effect.gen(function* () {
          const current = yield* existing(owner, id)
          const host = patch.host === undefined ? undefined : normaliseHost(patch.host)
          // credential-bound fields: moving the stored secret needs the secret itself (one rule, every field)
          const moved = changedCredentialBoundFields(current, { ...patch, ...(host === undefined ? {} : { host }) })
          const missing = missingCredentialFields(patch)
          if (moved.length > 0 && missing.length > 0) return yield* CredentialRequired.of(moved, missing)
          const credentials =
            host !== undefined ||
            patch.port !== undefined ||
            patch.security !== undefined ||
            patch.username !== undefined ||
            patch.password !== undefined
          const password = patch.password === undefined ? undefined : Redacted.make(patch.password)
          const changes: {
            -readonly [K in keyof AccountChanges]: AccountChanges[K]
          } = {}
          if (patch.label !== undefined) changes.label = patch.label
          if (patch.syncIntervalMinutes !== undefined) changes.syncIntervalMinutes = patch.syncIntervalMinutes
          if (patch.watchFolders !== undefined) changes.watchFolders = [...new Set(patch.watchFolders)]
          if (credentials) {
            const target = {
              host: host ?? current.host,
              port: patch.port ?? current.port,
              security: patch.security ?? current.security,
              username: patch.username ?? current.username
            }
            // without a new password the target is the stored one (checked above): the stored
            // secret only ever goes where it already went
            const secret =
              password ??
              (yield* store.password(current).pipe(
                // the stored secret is unreadable (its key left SECRET_KEYS): the user must send it again
                Effect.mapError(
                  () =>
                    new AccountVerificationFailed({
                      reason: "authentication",
                      message: "the stored password can no longer be decrypted; send the password with this change"
                    })
                )
              ))
            yield* throttle.attempt(owner)
            // the login check of an existing account is one of its IMAP connections: it takes a slot
            // (a request waits a few seconds at most, then gets a 429 to try again)
            yield* Effect.scoped(
              slots.acquire(current.id, { wait: VERIFY_SLOT_WAIT }).pipe(Effect.andThen(access.verify(target, secret)))
            ).pipe(
              Effect.catchTag("ImapSlotUnavailable", (error) =>
                Effect.fail(
                  new TooManyRequests({ message: error.message, retryAfterSeconds: VERIFY_SLOT_RETRY_SECONDS })
                )
              )
            )
            Object.assign(changes, target)
            if (password !== undefined) changes.password = password
            changes.reactivate = true
            // another server or another mailbox owner: the mirrored mail is not this account's any more
            changes.resetMail = target.host !== current.host || target.username !== current.username
          }
          const updated = yield* store.update(owner, current.id, changes)
          if (Option.isNone(updated)) return yield* AccountNotFound.forId(id)
          yield* schedule(updated.value)
          yield* announce(owner, updated.value, "updated")
          return toAccountView(updated.value)
        }).pipe(Effect.withSpan("Accounts.update"))

      /** Interrupts the account's syncs, whole and targeted, queued or running (best effort). */
      const cancelSync = (owner: UserId, accountId: AccountId) =>
        Effect.gen(function* () {
          yield* Effect.ignore(jobs.cancelByKey(owner, MailSyncJob, { accountId }))
          // any `mailboxes` names the targeted sync's key (syncDeduplicationKey)
          yield* Effect.ignore(jobs.cancelByKey(owner, MailSyncJob, { accountId, mailboxes: [] }))
        })

      const remove = (owner: UserId, id: string) =>
        Effect.gen(function* () {
          const current = yield* existing(owner, id)
          yield* cancelSync(owner, current.id)
          yield* schedules
            .remove(current.id)
            .pipe(
              Effect.catchTag("QueueUnavailable", (error) =>
                Effect.logWarning("sync schedule not removed; the next reconciliation will", error.message)
              )
            )
          // a sync being cancelled may still be writing this account's rows: a deadlock or
          // serialization failure between the two passes on a retry
          const removed = yield* store.remove(owner, current.id).pipe(
            Effect.retry({
              schedule: Schedule.exponential("100 millis"),
              times: 4,
              while: (error) => error._tag === "DatabaseError" && error.retryable
            })
          )
          if (!removed) return yield* AccountNotFound.forId(id)
          yield* announce(owner, current, "removed")
        }).pipe(Effect.withSpan("Accounts.remove"))

      const mailboxes = (owner: UserId, id: string) =>
        Effect.flatMap(existing(owner, id), (account) => store.mailboxes(owner, account.id))

      const requestSync = (owner: UserId, id: string) =>
        Effect.gen(function* () {
          const account = yield* existing(owner, id)
          if (account.status === "disabled") {
            return yield* new Conflict({ message: "the account is disabled" })
          }
          if (account.status === "reauth_required") {
            // a sync would fail at once: only a new consent helps (no job, no call to the provider)
            return yield* new Conflict({
              message: `${account.statusMessage ?? "the account's OAuth2 access was refused"}`
            })
          }
          const submitted = yield* jobs.submitForUser(MailSyncJob, { accountId: account.id }, { ownerId: owner })
          return { jobId: submitted.jobId, state: submitted.state }
        }).pipe(Effect.withSpan("Accounts.requestSync"))

      return Accounts.of({ create, list, get, update, remove, mailboxes, requestSync })
    })
  )
}
