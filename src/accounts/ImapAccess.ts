/**
 * The one way the application reaches a user's IMAP server: connect options with the configured
 * timeouts and CA, and the login check used when an account is created or its credentials change.
 *
 * The destination policy (SSRF: loopback, private, link-local... refused in production, checked on
 * the resolved addresses at connect time) is not here but in `Imap.connect` itself
 * (src/imap/ImapDestinations.ts), so no caller can open a connection around it.
 */
import { Context, Duration, Effect, Exit, Fiber, Layer, Option, Redacted, Scope } from "effect"
import {
  Imap,
  type ImapAuthenticationError,
  type ImapConnectionError,
  type ImapConnectOptions,
  type ImapCredential,
  type ImapProtocolError,
  type ImapSession
} from "../imap/Imap.ts"
import type { DatabaseError } from "../platform/Database.ts"
import type { SecretDecryptionFailed } from "../platform/Crypto.ts"
import { type AccountRecord, AccountStore } from "./AccountStore.ts"
import { type OAuthReauthRequired, type OAuthTokenUnavailable, OAuthTokens } from "./OAuthTokens.ts"
import { AccountVerificationFailed, type Security, type VerificationFailure } from "../contract/accounts/Account.ts"
import { AccountsConfig } from "./AccountsConfig.ts"
import { ImapSlots, type ImapSlotUnavailable } from "../imap/ImapSlots.ts"

export interface ImapTarget {
  readonly host: string
  readonly port: number
  readonly security: Security
  readonly username: string
}

/** Why no login can be attempted: the stored secret does not open, or the OAuth2 grant gives no token. */
export type LoginUnavailable = SecretDecryptionFailed | OAuthReauthRequired | OAuthTokenUnavailable | DatabaseError

export interface ImapAccessShape {
  /** Connect options for `target`, after the host policy. */
  readonly connectOptions: (
    target: ImapTarget,
    credential: Redacted.Redacted<string> | ImapCredential,
    purpose: "verify" | "sync"
  ) => Effect.Effect<ImapConnectOptions>
  /**
   * The stored account's connect options: its password, or an OAuth2 access token (cached, or
   * refreshed once for all workers). Every login of a stored account goes through here.
   */
  readonly loginOptions: (
    account: AccountRecord,
    purpose: "verify" | "sync"
  ) => Effect.Effect<ImapConnectOptions, LoginUnavailable>
  /** The server refused the account's login: an OAuth2 account's cached token is dropped (the next login refreshes). */
  readonly loginRefused: (account: AccountRecord) => Effect.Effect<void, DatabaseError>
  /**
   * Connects and logs in as the stored account. An OAuth2 account whose token the server refuses
   * is tried once more with a refreshed token (a token revoked before its expiry). Holds one of the
   * account's connection slots (ImapSlots) while the scope is open; none free within
   * IMAP_SLOT_WAIT_MS: ImapSlotUnavailable. With IMAP_SESSION_IDLE_MS > 0 the session of a scope
   * that ended well is kept (logged in, slot held) for the account's next `connect` in this process
   * for that long, and reused after a NOOP check (docs/accounts-and-sync.md).
   */
  readonly connect: (
    account: AccountRecord,
    purpose: "verify" | "sync"
  ) => Effect.Effect<ImapSession, ConnectFailure | LoginUnavailable | ImapSlotUnavailable, Scope.Scope>
  /** Logs in and out within the verification timeout; the failure carries the server's reason. */
  readonly verify: (
    target: ImapTarget,
    credential: Redacted.Redacted<string> | ImapCredential
  ) => Effect.Effect<void, AccountVerificationFailed>
}

/** A kept session's NOOP before reuse (and its UNSELECT before it is kept): no answer within this long, a fresh login instead. */
const KEPT_CHECK_MILLIS = 5_000

/**
 * A session is kept for another job only within this long after its login, however busy the account:
 * a server's per-session view (Dovecot's list of a public namespace changed on disk) and the slot it
 * holds are renewed at least this often (docs/accounts-and-sync.md).
 */
const KEPT_MAX_AGE_MILLIS = 60_000

type ConnectFailure = ImapConnectionError | ImapAuthenticationError | ImapProtocolError

/** The 422 answer for a failed login check. */
export const verificationFailure = (error: ConnectFailure): AccountVerificationFailed => {
  const reason: VerificationFailure =
    error._tag === "ImapAuthenticationError"
      ? "authentication"
      : error._tag === "ImapProtocolError"
        ? "protocol"
        : error.reason === "not_allowed"
          ? "host_not_allowed"
          : error.reason === "closed" || error.reason === "other"
            ? "connection"
            : error.reason
  const prefix: Record<VerificationFailure, string> = {
    authentication: "the server refused the login",
    tls: "TLS failed",
    dns: "the host name does not resolve",
    timeout: "the server did not answer in time",
    refused: "the connection was refused",
    connection: "the connection failed",
    protocol: "the server answered unexpectedly",
    host_not_allowed: "this host is not allowed"
  }
  return new AccountVerificationFailed({ reason, message: `${prefix[reason]}: ${error.message}` })
}

export class ImapAccess extends Context.Service<ImapAccess, ImapAccessShape>()("mail-helper/ImapAccess") {
  static readonly layer = Layer.effect(
    ImapAccess,
    Effect.gen(function* () {
      const config = yield* AccountsConfig
      const imap = yield* Imap
      const store = yield* AccountStore
      const tokens = yield* OAuthTokens
      const slots = yield* ImapSlots
      const layerScope = yield* Effect.scope

      const connectOptions = (
        target: ImapTarget,
        credential: Redacted.Redacted<string> | ImapCredential,
        purpose: "verify" | "sync"
      ) =>
        Effect.succeed({
          host: target.host,
          port: target.port,
          security: target.security,
          username: target.username,
          ...("password" in credential || "accessToken" in credential ? credential : { password: credential }),
          timeoutMs: purpose === "verify" ? config.verifyTimeoutMs : config.connectTimeoutMs,
          socketTimeoutMs: purpose === "verify" ? config.verifyTimeoutMs : config.socketTimeoutMs,
          ...(config.tlsCa === null ? {} : { tls: { ca: config.tlsCa } })
        } satisfies ImapConnectOptions)

      const verify = (target: ImapTarget, credential: Redacted.Redacted<string> | ImapCredential) =>
        Effect.gen(function* () {
          const options = yield* connectOptions(target, credential, "verify")
          yield* Effect.scoped(imap.connect(options))
        }).pipe(
          Effect.mapError(verificationFailure),
          Effect.withSpan("ImapAccess.verify", {
            attributes: { "imap.host": target.host, "imap.port": target.port, "imap.security": target.security }
          })
        )

      const loginOptions = (account: AccountRecord, purpose: "verify" | "sync") =>
        Effect.gen(function* () {
          const credential: ImapCredential =
            account.authKind === "oauth"
              ? { accessToken: yield* tokens.accessToken(account) }
              : { password: yield* store.password(account) }
          return yield* connectOptions(account, credential, purpose)
        })

      const loginRefused = (account: AccountRecord) =>
        account.authKind === "oauth" ? tokens.refused(account) : Effect.void

      /** Logs in holding one of the account's slots, both for the scope; a lost lease closes the connection. */
      const open = (account: AccountRecord, purpose: "verify" | "sync") =>
        Effect.gen(function* () {
          // the server's connection limit is per account: one of the account's slots for the whole
          // session, taken first and freed after the logout (the scope's finalizers run in reverse)
          const lease = yield* slots.acquire(account.id)
          // the destination policy is applied by imap.connect (refusal: ImapConnectionError not_allowed)
          // the OAuth2 access token the session logged in with (a kept session is reused only while
          // the token store still hands out the same one)
          const token: { value: Redacted.Redacted<string> | null } = { value: null }
          const connectWith = (options: ImapConnectOptions) =>
            Effect.tap(imap.connect(options), () =>
              Effect.sync(() => {
                token.value = "accessToken" in options ? options.accessToken : null
              })
            )
          const login = Effect.flatMap(loginOptions(account, purpose), (options) =>
            connectWith(options).pipe(
              Effect.catchTag("ImapAuthenticationError", (error) =>
                account.authKind !== "oauth"
                  ? Effect.fail(error)
                  : loginRefused(account).pipe(
                      Effect.andThen(loginOptions(account, purpose)),
                      Effect.flatMap(connectWith)
                    )
              )
            )
          )
          // a lost lease (this holder stalled past its TTL and the slot went to another holder; see
          // ImapSlots) ends the session: during the login the login fails with ImapSlotUnavailable
          // `lost`, after it the connection is closed, so the command in flight and every later one
          // fail instead of going on over the account's cap (what withSlot does for its effect)
          const session = yield* Effect.raceFirst(login, lease.lost)
          const lost = { value: false }
          yield* Effect.forkScoped(
            Effect.catch(lease.lost, () =>
              Effect.andThen(
                Effect.sync(() => {
                  lost.value = true
                }),
                session.close
              )
            )
          )
          return { session, lost, token: token.value }
        })

      // --- sessions kept open between jobs (IMAP_SESSION_IDLE_MS) --------------------------------
      // A job's session is not logged out at its end but kept, still holding its slot, for the
      // account's next job: a watcher's targeted sync of one new message then costs a NOOP instead of
      // a connect + login (docs/accounts-and-sync.md, "Sessions kept open between jobs").
      interface Kept {
        readonly key: string
        readonly session: ImapSession
        /** Holds the slot lease, the connection and the lost-lease watcher; closing it logs out. */
        readonly scope: Scope.Closeable
        readonly lost: { value: boolean }
        /** When the session logged in (epoch ms): kept no longer than KEPT_MAX_AGE_MILLIS after it. */
        readonly openedAt: number
        /** The OAuth2 access token of the login (null for a password): reused only while it is still the current one. */
        readonly token: Redacted.Redacted<string> | null
        /** Closes the session once it stayed unused for IMAP_SESSION_IDLE_MS. */
        expiry: Fiber.Fiber<void> | null
      }
      /** The idle sessions, at most one per account. */
      const idle = new Map<string, Kept>()
      let shuttingDown = false
      // the session is for the same server and login as the account has now
      const keyOf = (account: AccountRecord) =>
        `${account.host}\u0000${account.port}\u0000${account.security}\u0000${account.username}\u0000${account.authKind}`
      yield* Effect.addFinalizer(() =>
        Effect.suspend(() => {
          shuttingDown = true
          const all = [...idle.values()]
          idle.clear()
          return Effect.forEach(all, (kept) => Scope.close(kept.scope, Exit.void), { concurrency: 16, discard: true })
        })
      )

      /** The account's idle session if it still answers (NOOP, bounded), else null (it is closed). */
      const takeIdle = (account: AccountRecord) =>
        Effect.gen(function* () {
          const kept = idle.get(account.id)
          if (kept === undefined) return null
          idle.delete(account.id)
          yield* slots.setReclaimer(account.id, null)
          // out of the map, the session is this caller's: closed unless it is handed over (also when the
          // caller is interrupted during the check, so no slot stays held by a session nobody has)
          return yield* Effect.gen(function* () {
            if (kept.expiry !== null) yield* Fiber.interrupt(kept.expiry)
            kept.expiry = null
            if (kept.key !== keyOf(account) || kept.lost.value || !(yield* kept.session.isConnected)) {
              yield* Scope.close(kept.scope, Exit.void)
              return null
            }
            // an OAuth2 session outlives its access token (the server checked the token at login
            // only): past the token's expiry, or once it was refreshed or dropped, the token store
            // hands out another one (refreshing it when due) and the session is replaced by a login
            // with that token. A token store that has none (reauth_required) fails the job as a
            // login would.
            if (account.authKind === "oauth") {
              const current = yield* tokens
                .accessToken(account)
                .pipe(Effect.onError(() => Scope.close(kept.scope, Exit.void)))
              if (kept.token === null || Redacted.value(current) !== Redacted.value(kept.token)) {
                yield* Scope.close(kept.scope, Exit.void)
                return null
              }
            }
            // a server that closed the connection meanwhile (restart, idle timeout): a fresh login instead
            const alive = yield* kept.session.noop.pipe(
              Effect.timeoutOption(Duration.millis(KEPT_CHECK_MILLIS)),
              Effect.map(Option.isSome),
              Effect.catch(() => Effect.succeed(false))
            )
            if (!alive) {
              yield* Scope.close(kept.scope, Exit.void)
              return null
            }
            return kept
          }).pipe(Effect.onInterrupt(() => Scope.close(kept.scope, Exit.void)))
        })

      const openKept = (account: AccountRecord, purpose: "verify" | "sync") =>
        Effect.gen(function* () {
          const scope = yield* Scope.fork(layerScope)
          const opened = yield* open(account, purpose).pipe(
            Scope.provide(scope),
            Effect.onExit((exit) => (Exit.isSuccess(exit) ? Effect.void : Scope.close(scope, exit)))
          )
          return {
            key: keyOf(account),
            session: opened.session,
            scope,
            lost: opened.lost,
            openedAt: Date.now(),
            token: opened.token,
            expiry: null
          } satisfies Kept
        })

      /** At the end of a job: kept for the next one when it ended well and the session is sound, else logged out. */
      const giveBack = (accountId: string, kept: Kept, exit: Exit.Exit<unknown, unknown>) =>
        Effect.gen(function* () {
          const sound =
            Exit.isSuccess(exit) &&
            !shuttingDown &&
            !kept.lost.value &&
            !idle.has(accountId) &&
            Date.now() - kept.openedAt < KEPT_MAX_AGE_MILLIS &&
            (yield* kept.session.isConnected)
          if (!sound) return yield* Scope.close(kept.scope, Exit.void)
          // the next job must SELECT again: a mailbox left selected is taken by imapflow as open, so
          // a folder renamed away and created again under its name would be read as the old one.
          // UNSELECT, never CLOSE (it expunges \Deleted mail of a rule action's read-write mailbox);
          // a server without UNSELECT (or one that refuses it, or does not answer): logged out instead
          const left = yield* Effect.interruptible(kept.session.unselect).pipe(
            Effect.timeoutOption(Duration.millis(KEPT_CHECK_MILLIS)),
            Effect.map((answer) => Option.getOrElse(answer, () => false)),
            Effect.catch((error) =>
              Effect.as(
                Effect.logInfo("kept IMAP session not kept: UNSELECT failed", {
                  accountId,
                  error: error.message
                }),
                false
              )
            )
          )
          if (!left || idle.has(accountId) || shuttingDown) return yield* Scope.close(kept.scope, Exit.void)
          idle.set(accountId, kept)
          /** Logs the idle session out (its slot freed) if it is still the account's idle one. */
          const drop = Effect.suspend(() => {
            if (idle.get(accountId) !== kept) return Effect.void
            idle.delete(accountId)
            const expiry = kept.expiry
            kept.expiry = null
            return Effect.andThen(
              expiry === null ? Effect.void : Fiber.interrupt(expiry),
              Scope.close(kept.scope, Exit.void)
            )
          })
          // another holder of this process that finds the account's slots full takes this one's
          yield* slots.setReclaimer(accountId, drop)
          kept.expiry = yield* Effect.sleep(Duration.millis(config.sessionIdleMs)).pipe(
            Effect.andThen(
              Effect.suspend(() => {
                if (idle.get(accountId) !== kept) return Effect.void
                idle.delete(accountId)
                kept.expiry = null
                return Effect.andThen(slots.setReclaimer(accountId, null), Scope.close(kept.scope, Exit.void))
              })
            ),
            Effect.forkIn(layerScope)
          )
        })

      const connect = (account: AccountRecord, purpose: "verify" | "sync") =>
        Effect.gen(function* () {
          if (config.sessionIdleMs === 0 || purpose !== "sync") {
            const opened = yield* open(account, purpose)
            return opened.session
          }
          // the kept session is checked or a new one opened interruptibly; the hand-back is registered
          // uninterruptibly once one is held (a fresh one closes its scope itself when interrupted)
          return yield* Effect.uninterruptibleMask((restore) =>
            Effect.gen(function* () {
              const reused = yield* restore(takeIdle(account))
              const kept = reused ?? (yield* restore(openKept(account, purpose)))
              yield* Effect.annotateCurrentSpan("imap.session_reused", reused !== null)
              yield* Effect.addFinalizer((exit) => giveBack(account.id, kept, exit))
              return kept.session
            })
          )
        }).pipe(Effect.withSpan("ImapAccess.connect", { attributes: { "account.id": account.id, purpose } }))

      return ImapAccess.of({ connectOptions, loginOptions, loginRefused, connect, verify })
    })
  )
}
