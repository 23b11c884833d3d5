/**
 * The destination policy for every IMAP connection the product opens (account create, verify and
 * update in the API; sync and rule actions in the worker): `Imap.connect` asks `resolve` first and
 * connects to the address it returns, nothing else.
 *
 * An account names an arbitrary host and port and the server connects to it, so without a policy a
 * user reaches internal services (loopback, the cloud metadata address 169.254.169.254, the LAN)
 * and learns from the answers which ports are open. With `public-only` (the production default):
 *
 * - the host is resolved ONCE (an IP literal in any spelling ipaddr.js knows — `2130706433`,
 *   `0177.0.0.1`, `0x7f000001`, `::ffff:127.0.0.1` — is parsed, not looked up);
 * - EVERY resolved address must be public unicast (ipaddr.js `range() === "unicast"` after
 *   unwrapping IPv4-mapped forms; IPv4-compatible `::a.b.c.d` is refused too) or inside
 *   IMAP_ALLOWED_NETWORKS; otherwise the connection is refused before any socket is opened, so a
 *   refused destination answers the same whether a port is open or closed;
 * - the connection goes to the checked address, with the TLS server name (SNI) and the
 *   certificate check still against the host name, so a DNS answer that changes between check and
 *   connect (rebinding) cannot slip through.
 *
 * `any` (the default outside production) connects to the host as given: the tests and the demo use
 * a Dovecot on 127.0.0.1.
 */
import { Config, ConfigProvider, Context, Effect, Layer } from "effect"
import * as dns from "node:dns"
import * as net from "node:net"
import ipaddr from "ipaddr.js"
import { ImapConnectionError } from "./ImapErrors.ts"

export type ImapDestinationPolicy = "public-only" | "any"

/** IMAP_ALLOWED_NETWORKS: CIDRs (and single addresses) and host names admitted under `public-only`. */
export interface AllowList {
  readonly networks: ReadonlyArray<readonly [ipaddr.IPv4 | ipaddr.IPv6, number]>
  /** Lower case, without a trailing dot. */
  readonly hosts: ReadonlySet<string>
}

export interface ImapDestinationsConfig {
  readonly policy: ImapDestinationPolicy
  readonly allowed: AllowList
}

/** Where to open the socket: the checked address, and the name TLS must verify (none for an IP literal). */
export interface ImapDestination {
  readonly address: string
  readonly servername: string | undefined
}

/** Resolves a host name to all its addresses (the test seam for DNS rebinding). */
export type Lookup = (host: string) => Effect.Effect<ReadonlyArray<string>, ImapConnectionError>

const normaliseName = (host: string): string => host.trim().toLowerCase().replace(/\.$/, "")

/** Parses an IP literal in any spelling ipaddr.js accepts; IPv4-mapped IPv6 becomes IPv4. */
const parseAddress = (text: string): ipaddr.IPv4 | ipaddr.IPv6 | null => {
  const bare = text.startsWith("[") && text.endsWith("]") ? text.slice(1, -1) : text
  return ipaddr.isValid(bare) ? ipaddr.process(bare) : null
}

/**
 * Why `address` is not a public unicast address (ipaddr.js's range name, e.g. `loopback`,
 * `private`, `linkLocal`, `uniqueLocal`, `carrierGradeNat`, `ipv4Mapped`...), or null when it is.
 */
export const nonPublicRange = (address: ipaddr.IPv4 | ipaddr.IPv6): string | null => {
  // IPv4-compatible ::a.b.c.d (deprecated, RFC 4291): ipaddr.js calls it unicast
  if (address instanceof ipaddr.IPv6 && address.parts.slice(0, 6).every((part) => part === 0)) {
    return "ipv4Compatible"
  }
  const range = address.range()
  return range === "unicast" ? null : range
}

const allowedByNetwork = (address: ipaddr.IPv4 | ipaddr.IPv6, allowed: AllowList): boolean =>
  allowed.networks.some(([network, prefix]) => network.kind() === address.kind() && address.match(network, prefix))

/** Parses IMAP_ALLOWED_NETWORKS (comma or space separated); a malformed entry is named in the error. */
export const parseAllowList = (text: string): AllowList | string => {
  const networks: Array<readonly [ipaddr.IPv4 | ipaddr.IPv6, number]> = []
  const hosts = new Set<string>()
  for (const entry of text.split(/[\s,]+/).filter((item) => item !== "")) {
    if (entry.includes("/")) {
      try {
        const [network, prefix] = ipaddr.parseCIDR(entry)
        // ::ffff:10.0.0.0/104 is 10.0.0.0/8: addresses are compared after unwrapping the mapping
        networks.push(
          network instanceof ipaddr.IPv6 && network.isIPv4MappedAddress() && prefix >= 96
            ? [network.toIPv4Address(), prefix - 96]
            : [network, prefix]
        )
      } catch {
        return `IMAP_ALLOWED_NETWORKS: ${entry} is not a CIDR`
      }
      continue
    }
    const address = parseAddress(entry)
    if (address !== null) {
      networks.push([address, address.kind() === "ipv4" ? 32 : 128])
      continue
    }
    if (!/^[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?\.?$/i.test(entry)) {
      return `IMAP_ALLOWED_NETWORKS: ${entry} is neither a CIDR, an address nor a host name`
    }
    hosts.add(normaliseName(entry))
  }
  return { networks, hosts }
}

export const imapDestinationsConfig = Effect.gen(function* () {
  const environment = yield* Config.String("NODE_ENV").pipe(Config.withDefault("development"))
  const policy = yield* Config.Literals(["public-only", "any"], "IMAP_DESTINATION_POLICY").pipe(
    Config.withDefault(environment === "production" ? ("public-only" as const) : ("any" as const))
  )
  const allowed = yield* Config.String("IMAP_ALLOWED_NETWORKS").pipe(
    Config.withDefault(""),
    Config.mapEffect((text) => {
      const parsed = parseAllowList(text)
      return typeof parsed === "string"
        ? Effect.fail(new Config.ConfigError(new ConfigProvider.SourceError({ message: parsed })))
        : Effect.succeed(parsed)
    })
  )
  return { policy, allowed } satisfies ImapDestinationsConfig
})

/** getaddrinfo, every address, bounded. */
export const systemLookup: Lookup = (host) =>
  Effect.tryPromise({
    try: () => dns.promises.lookup(host, { all: true, verbatim: true }),
    catch: () => new ImapConnectionError({ reason: "dns", message: `the host name ${host} does not resolve` })
  }).pipe(
    Effect.map((entries) => entries.map((entry) => entry.address)),
    Effect.timeoutOrElse({
      duration: "10 seconds",
      orElse: () => Effect.fail(new ImapConnectionError({ reason: "dns", message: `resolving ${host} timed out` }))
    })
  )

const refused = (host: string, why: string) =>
  new ImapConnectionError({
    reason: "not_allowed",
    message: `${host} is not an allowed IMAP destination: ${why} (IMAP_DESTINATION_POLICY=public-only; a mail server on the local network can be admitted with IMAP_ALLOWED_NETWORKS)`
  })

export interface ImapDestinationsShape {
  readonly policy: ImapDestinationPolicy
  /** The address to connect to for `host`, after the policy; fails before any socket is opened. */
  readonly resolve: (host: string) => Effect.Effect<ImapDestination, ImapConnectionError>
}

export const makeImapDestinations = (config: ImapDestinationsConfig, lookup: Lookup = systemLookup) => {
  const resolve = (host: string): Effect.Effect<ImapDestination, ImapConnectionError> =>
    Effect.gen(function* () {
      if (config.policy === "any") return { address: host, servername: undefined }
      const name = normaliseName(host)
      const literal = parseAddress(name)
      const addresses =
        literal !== null
          ? [literal]
          : (yield* lookup(name)).map((text) => {
              const parsed = parseAddress(text)
              return parsed ?? text
            })
      const first = addresses[0]
      if (first === undefined) {
        return yield* new ImapConnectionError({ reason: "dns", message: `the host name ${name} does not resolve` })
      }
      // an admin named this host: its addresses are trusted as resolved now
      if (literal === null && config.allowed.hosts.has(name)) {
        return { address: first.toString(), servername: name }
      }
      for (const address of addresses) {
        if (typeof address === "string") return yield* refused(name, "it resolves to something that is not an address")
        const range = nonPublicRange(address)
        if (range !== null && !allowedByNetwork(address, config.allowed)) {
          return yield* refused(name, `it ${literal === null ? "resolves to" : "is"} a ${range} address`)
        }
      }
      const address = first.toString()
      return { address, servername: literal === null && net.isIP(name) === 0 ? name : undefined }
    }).pipe(Effect.withSpan("ImapDestinations.resolve", { attributes: { "imap.host": host } }))
  return { policy: config.policy, resolve } satisfies ImapDestinationsShape
}

export class ImapDestinations extends Context.Service<ImapDestinations, ImapDestinationsShape>()(
  "mail-helper/ImapDestinations"
) {
  /** From IMAP_DESTINATION_POLICY and IMAP_ALLOWED_NETWORKS, resolving with the system resolver. */
  static readonly layer = Layer.effect(
    ImapDestinations,
    Effect.map(imapDestinationsConfig, (config) => ImapDestinations.of(makeImapDestinations(config)))
  )
}
