/**
 * The one way the application reaches a user's IMAP server: connect options with the configured
 * timeouts and CA, and the login check used when an account is created or its credentials change.
 *
 * The destination policy (SSRF: loopback, private, link-local... refused in production, checked on
 * the resolved addresses at connect time) is not here but in `Imap.connect` itself
 * (src/imap/ImapDestinations.ts), so no caller can open a connection around it.
 */
import { Context, Effect, Layer, type Redacted } from "effect"
import {
  Imap,
  type ImapAuthenticationError,
  type ImapConnectionError,
  type ImapConnectOptions,
  type ImapProtocolError
} from "../imap/Imap.ts"
import { AccountVerificationFailed, type Security, type VerificationFailure } from "../contract/accounts/Account.ts"
import { AccountsConfig } from "./AccountsConfig.ts"

export interface ImapTarget {
  readonly host: string
  readonly port: number
  readonly security: Security
  readonly username: string
}

export interface ImapAccessShape {
  /** Connect options for `target`, after the host policy. */
  readonly connectOptions: (
    target: ImapTarget,
    password: Redacted.Redacted<string>,
    purpose: "verify" | "sync"
  ) => Effect.Effect<ImapConnectOptions>
  /** Logs in and out within the verification timeout; the failure carries the server's reason. */
  readonly verify: (
    target: ImapTarget,
    password: Redacted.Redacted<string>
  ) => Effect.Effect<void, AccountVerificationFailed>
}

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

      const connectOptions = (target: ImapTarget, password: Redacted.Redacted<string>, purpose: "verify" | "sync") =>
        Effect.succeed({
          host: target.host,
          port: target.port,
          security: target.security,
          username: target.username,
          password,
          timeoutMs: purpose === "verify" ? config.verifyTimeoutMs : config.connectTimeoutMs,
          socketTimeoutMs: purpose === "verify" ? config.verifyTimeoutMs : config.socketTimeoutMs,
          ...(config.tlsCa === null ? {} : { tls: { ca: config.tlsCa } })
        } satisfies ImapConnectOptions)

      const verify = (target: ImapTarget, password: Redacted.Redacted<string>) =>
        Effect.gen(function* () {
          const options = yield* connectOptions(target, password, "verify")
          yield* Effect.scoped(imap.connect(options))
        }).pipe(
          Effect.mapError(verificationFailure),
          Effect.withSpan("ImapAccess.verify", {
            attributes: { "imap.host": target.host, "imap.port": target.port, "imap.security": target.security }
          })
        )

      return ImapAccess.of({ connectOptions, verify })
    })
  )
}
