/**
 * Opens an IMAP session on one of a user's accounts, for the rule actions.
 *
 * A thin adapter over `ImapAccess.connect` (src/accounts: the login of a stored account with its
 * password or OAuth2 access token, and the host policy): the executor only depends on
 * `AccountSessions`.
 */
import { Context, Effect, Layer, Option, Schema, type Scope } from "effect"
import { AccountStore } from "../accounts/AccountStore.ts"
import { ImapAccess } from "../accounts/ImapAccess.ts"
import { type DatabaseError, logDatabaseError } from "../platform/Database.ts"
import type { ImapAuthenticationError, ImapConnectionError, ImapProtocolError, ImapSession } from "../imap/Imap.ts"
import type { UserId } from "../contract/users/UserId.ts"
import { AccountChanged } from "../contract/events/UserEvent.ts"
import { EventBus } from "../events/EventBus.ts"
import type { ImapSlotUnavailable } from "../imap/ImapSlots.ts"

/** The account cannot be used for IMAP work: gone, switched off, refused before, or its secret is unreadable. */
export class AccountUnavailable extends Schema.TaggedError<AccountUnavailable>()("AccountUnavailable", {
  accountId: Schema.String,
  reason: Schema.Literals([
    "missing",
    "disabled",
    "auth_failed",
    "reauth_required",
    "secret",
    "oauth_unavailable",
    "host_not_allowed"
  ]),
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
  /** Needs AccountStore, EventBus and ImapAccess (which holds one of the account's ImapSlots per session). */
  static readonly layer = Layer.effect(
    AccountSessions,
    Effect.gen(function* () {
      const accounts = yield* AccountStore
      const bus = yield* EventBus
      const access = yield* ImapAccess

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
          if (
            account.status === "disabled" ||
            account.status === "auth_failed" ||
            account.status === "reauth_required"
          ) {
            return yield* new AccountUnavailable({
              accountId,
              reason: account.status,
              message:
                account.status === "disabled"
                  ? "the account is disabled"
                  : account.status === "reauth_required"
                    ? "the account's OAuth2 access was refused; connect it again first"
                    : "the server refused the account's credentials; update them first"
            })
          }
          // the password or the OAuth2 access token, and the login: ImapAccess, the one way in
          return yield* access.connect(account, "sync").pipe(
            Effect.catchTags({
              SecretDecryptionFailed: (error) =>
                Effect.fail(new AccountUnavailable({ accountId, reason: "secret", message: error.message })),
              OAuthReauthRequired: (error) =>
                Effect.fail(new AccountUnavailable({ accountId, reason: "reauth_required", message: error.message })),
              OAuthTokenUnavailable: (error) =>
                Effect.fail(new AccountUnavailable({ accountId, reason: "oauth_unavailable", message: error.message }))
            }),
            // the design: an account whose login fails is marked and not retried in a loop
            Effect.tapErrorTag("ImapAuthenticationError", (error) =>
              accounts.setStatus(ownerId, account.id, "auth_failed", error.message).pipe(
                Effect.andThen(
                  account.status === "auth_failed"
                    ? Effect.void
                    : bus.publish(
                        ownerId,
                        new AccountChanged({
                          occurredAt: new Date(),
                          accountId: account.id,
                          status: "auth_failed",
                          message: error.message,
                          change: "status"
                        })
                      )
                ),
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
