/**
 * The one way the application reaches a user's IMAP server: the host policy (SSRF), connect
 * options with the configured timeouts and CA, and the login check used when an account is
 * created or its credentials change.
 *
 * SSRF: an account names an arbitrary host and port, and the server connects to it. On a shared
 * installation that lets a user probe the internal network (is port 5432 open on 10.0.0.5?) through
 * the verification answers. With IMAP_BLOCK_PRIVATE_HOSTS=true every address the name resolves to
 * must be public (no loopback, private, link-local, CGNAT, multicast, reserved, unique-local or
 * IPv4-mapped private addresses), and the connection goes to the address that was checked (the
 * TLS name check still uses the host name), so a DNS answer that changes between the check and the
 * connect (rebinding) cannot slip through. Off by default: a single-user install and the tests use
 * 127.0.0.1.
 */
import { Context, Effect, Layer, type Redacted, Schema } from "effect"
import * as dns from "node:dns"
import * as net from "node:net"
import {
  Imap,
  type ImapAuthenticationError,
  type ImapConnectionError,
  type ImapConnectOptions,
  type ImapProtocolError
} from "../sync/Imap.ts"
import { AccountVerificationFailed, type Security, type VerificationFailure } from "./Account.ts"
import { AccountsConfig } from "./AccountsConfig.ts"

/** The host resolves to an address the policy refuses, or does not resolve. */
export class HostNotAllowed extends Schema.TaggedError<HostNotAllowed>()("HostNotAllowed", {
  message: Schema.String,
  reason: Schema.Literals(["private", "dns"])
}) {}

export interface ImapTarget {
  readonly host: string
  readonly port: number
  readonly security: Security
  readonly username: string
}

const blocked = (() => {
  const list = new net.BlockList()
  for (const [network, prefix] of [
    ["0.0.0.0", 8],
    ["10.0.0.0", 8],
    ["100.64.0.0", 10],
    ["127.0.0.0", 8],
    ["169.254.0.0", 16],
    ["172.16.0.0", 12],
    ["192.0.0.0", 24],
    ["192.0.2.0", 24],
    ["192.88.99.0", 24],
    ["192.168.0.0", 16],
    ["198.18.0.0", 15],
    ["198.51.100.0", 24],
    ["203.0.113.0", 24],
    ["224.0.0.0", 4],
    ["240.0.0.0", 4]
  ] as const) {
    list.addSubnet(network, prefix, "ipv4")
  }
  for (const [network, prefix] of [
    ["::", 128],
    ["::1", 128],
    ["64:ff9b::", 96],
    ["64:ff9b:1::", 48],
    ["100::", 64],
    ["2001:db8::", 32],
    ["fc00::", 7],
    ["fe80::", 10],
    ["fec0::", 10],
    ["ff00::", 8]
  ] as const) {
    list.addSubnet(network, prefix, "ipv6")
  }
  return list
})()

/** Whether an IP address is outside the public internet (loopback, private, link-local, ...). */
export const isNonPublicAddress = (address: string): boolean => {
  const family = net.isIP(address)
  if (family === 4) return blocked.check(address, "ipv4")
  if (family !== 6) return true
  // IPv4-mapped (::ffff:a.b.c.d) and IPv4-compatible forms carry an IPv4 address
  const mapped = /^(?:::ffff:|::)(\d+\.\d+\.\d+\.\d+)$/i.exec(address)
  if (mapped?.[1] !== undefined) return blocked.check(mapped[1], "ipv4")
  return blocked.check(address, "ipv6")
}

const lookupAll = (host: string) =>
  Effect.tryPromise({
    try: () => dns.promises.lookup(host, { all: true, verbatim: true }),
    catch: () => new HostNotAllowed({ reason: "dns", message: `the host name ${host} does not resolve` })
  }).pipe(
    Effect.timeoutOrElse({
      duration: "10 seconds",
      orElse: () => Effect.fail(new HostNotAllowed({ reason: "dns", message: `resolving ${host} timed out` }))
    })
  )

export interface ImapAccessShape {
  /** Connect options for `target`, after the host policy. */
  readonly connectOptions: (
    target: ImapTarget,
    password: Redacted.Redacted<string>,
    purpose: "verify" | "sync"
  ) => Effect.Effect<ImapConnectOptions, HostNotAllowed>
  /** Logs in and out within the verification timeout; the failure carries the server's reason. */
  readonly verify: (
    target: ImapTarget,
    password: Redacted.Redacted<string>
  ) => Effect.Effect<void, AccountVerificationFailed>
}

type ConnectFailure = ImapConnectionError | ImapAuthenticationError | ImapProtocolError | HostNotAllowed

/** The 422 answer for a failed login check. */
export const verificationFailure = (error: ConnectFailure): AccountVerificationFailed => {
  const reason: VerificationFailure =
    error._tag === "ImapAuthenticationError"
      ? "authentication"
      : error._tag === "ImapProtocolError"
        ? "protocol"
        : error._tag === "HostNotAllowed"
          ? error.reason === "dns"
            ? "dns"
            : "host_not_allowed"
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
        Effect.gen(function* () {
          const host = target.host
          let address = host
          if (config.blockPrivateHosts) {
            const addresses = net.isIP(host) !== 0 ? [{ address: host }] : yield* lookupAll(host)
            const first = addresses[0]
            if (first === undefined) {
              return yield* new HostNotAllowed({ reason: "dns", message: `the host name ${host} does not resolve` })
            }
            const refused = addresses.find((entry) => isNonPublicAddress(entry.address))
            if (refused !== undefined) {
              return yield* new HostNotAllowed({
                reason: "private",
                message: `${host} resolves to ${refused.address}, which is not a public address (IMAP_BLOCK_PRIVATE_HOSTS)`
              })
            }
            // connect to the address that was checked; TLS still verifies the host name
            address = first.address
          }
          const servername = net.isIP(host) === 0 ? host : undefined
          return {
            host: address,
            port: target.port,
            security: target.security,
            username: target.username,
            password,
            timeoutMs: purpose === "verify" ? config.verifyTimeoutMs : config.connectTimeoutMs,
            socketTimeoutMs: purpose === "verify" ? config.verifyTimeoutMs : config.socketTimeoutMs,
            tls: {
              ...(config.tlsCa === null ? {} : { ca: config.tlsCa }),
              ...(servername === undefined || address === host ? {} : { servername })
            }
          } satisfies ImapConnectOptions
        })

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
