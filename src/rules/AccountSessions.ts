/**
 * Opens an IMAP session on one of a user's accounts, for the rule actions.
 *
 * Built on src/accounts (the account row, its sealed password and the host policy / connect options
 * of `ImapAccess`). When src/accounts offers its own "connect(owner, account)" this service becomes a
 * thin adapter over it (or is replaced by it): the executor only depends on `AccountSessions`.
 */
import { Context, Effect, Layer, Option, Schema, type Scope } from "effect"
import { AccountStore } from "../accounts/AccountStore.ts"
import { ImapAccess } from "../accounts/ImapAccess.ts"
import { type DatabaseError, logDatabaseError } from "../platform/Database.ts"
import {
  Imap,
  type ImapAuthenticationError,
  type ImapConnectionError,
  type ImapProtocolError,
  type ImapSession
} from "../imap/Imap.ts"
import type { UserId } from "../contract/users/UserId.ts"
import { ImapSlots, type ImapSlotUnavailable } from "../imap/ImapSlots.ts"

/** The account cannot be used for IMAP work: gone, switched off, refused before, or its secret is unreadable. */
export class AccountUnavailable extends Schema.TaggedError<AccountUnavailable>()("AccountUnavailable", {
  accountId: Schema.String,
  reason: Schema.Literals(["missing", "disabled", "auth_failed", "secret", "host_not_allowed"]),
  message: Schema.String
}) {}

export type AccountSessionError =
  | AccountUnavailable
  | ImapConnectionError
  | ImapAuthenticationError
  | ImapProtocolError
  | ImapSlotUnavailable
  | DatabaseError

export interface AccountSessionsShape {
  /**
   * Connects and logs in as the account's owner, holding one of the account's IMAP connection slots
   * (ImapSlots) for as long as the scope is open; the scope logs out, then frees the slot.
   */
  readonly connect: (ownerId: UserId, accountId: string) => Effect.Effect<ImapSession, AccountSessionError, Scope.Scope>
}

export class AccountSessions extends Context.Service<AccountSessions, AccountSessionsShape>()(
  "mail-helper/rules/AccountSessions"
) {
  /** Needs AccountStore, ImapAccess, ImapSlots and Imap (src/accounts). */
  static readonly layer = Layer.effect(
    AccountSessions,
    Effect.gen(function* () {
      const accounts = yield* AccountStore
      const access = yield* ImapAccess
      const imap = yield* Imap
      const slots = yield* ImapSlots

      const connect = (ownerId: UserId, accountId: string) =>
        Effect.gen(function* () {
          const found = yield* accounts.find(ownerId, accountId)
          if (Option.isNone(found)) {
            return yield* new AccountUnavailable({
              accountId,
              reason: "missing",
              message: "the account no longer exists"
            })
          }
          const account = found.value
          if (account.status === "disabled" || account.status === "auth_failed") {
            return yield* new AccountUnavailable({
              accountId,
              reason: account.status,
              message:
                account.status === "disabled"
                  ? "the account is disabled"
                  : "the server refused the account's credentials; update them first"
            })
          }
          const password = yield* accounts
            .password(account)
            .pipe(
              Effect.mapError(
                (error) => new AccountUnavailable({ accountId, reason: "secret", message: error.message })
              )
            )
          // the destination policy is applied by imap.connect (refusal: ImapConnectionError not_allowed)
          const options = yield* access.connectOptions(
            { host: account.host, port: account.port, security: account.security, username: account.username },
            password,
            "sync"
          )
          // the server's connection limit is per account: wait (bounded) for a free slot first
          yield* slots.acquire(account.id)
          return yield* imap.connect(options).pipe(
            // the design: an account whose login fails is marked and not retried in a loop
            Effect.tapErrorTag("ImapAuthenticationError", (error) =>
              accounts
                .setStatus(ownerId, account.id, "auth_failed", error.message)
                .pipe(
                  Effect.catchTag("DatabaseError", (failure) =>
                    logDatabaseError(failure).pipe(
                      Effect.andThen(Effect.logWarning("account status auth_failed not saved", failure.message))
                    )
                  )
                )
            )
          )
        }).pipe(Effect.withSpan("AccountSessions.connect", { attributes: { "account.id": accountId } }))

      return AccountSessions.of({ connect })
    })
  )
}
