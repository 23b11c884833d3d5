/**
 * The IMAP destination policy at the one place connections are opened (Imap.connect): every
 * spelling of an internal address refused without a socket, the connection going to the address
 * that was checked (DNS rebinding), TLS still checked against the host name, the allow-list, and
 * the configuration defaults.
 */
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Effect, Layer, Redacted } from "effect"
import fc from "fast-check"
import ipaddr from "ipaddr.js"
import { Imap, type ImapConnectOptions } from "../../src/imap/Imap.ts"
import {
  ImapDestinations,
  type ImapDestinationsConfig,
  imapDestinationsConfig,
  type Lookup,
  makeImapDestinations,
  nonPublicRange,
  parseAllowList
} from "../../src/imap/ImapDestinations.ts"
import { captureImap, captureImapWith } from "../harness/captureImap.ts"
import { closedPort } from "../harness/sockets.ts"

const SECRET = "Destination-Secret-5"

const allowList = (text: string) => {
  const parsed = parseAllowList(text)
  if (typeof parsed === "string") throw new Error(parsed)
  return parsed
}

const productionPolicy = (allowed = ""): ImapDestinationsConfig => ({
  policy: "public-only",
  allowed: allowList(allowed)
})

/** An Imap service under `config`, resolving names with `lookup`. */
const imapWith = (config: ImapDestinationsConfig, lookup: Lookup) =>
  Imap.layerWithDestinations.pipe(
    Layer.provide(Layer.succeed(ImapDestinations, ImapDestinations.of(makeImapDestinations(config, lookup))))
  )

const connectOnce = (connectOptions: ImapConnectOptions) =>
  Effect.scoped(
    Effect.gen(function* () {
      const imap = yield* Imap
      yield* imap.connect(connectOptions)
    })
  )

const noLookup: Lookup = (host) => Effect.die(new Error(`unexpected DNS lookup of ${host}`))

const options = (host: string, port: number, extra: Partial<ImapConnectOptions> = {}): ImapConnectOptions => ({
  host,
  port,
  security: "none",
  username: "someone",
  password: Redacted.make(SECRET),
  timeoutMs: 3_000,
  ...extra
})

/** 127.0.0.1 and the other internal addresses in the spellings getaddrinfo and inet_aton accept. */
const internalSpellings = [
  "127.0.0.1",
  "2130706433",
  "0177.0.0.1",
  "0x7f000001",
  "0x7f.0.0.1",
  "127.1",
  "::ffff:127.0.0.1",
  "::ffff:7f00:1",
  "::127.0.0.1",
  "::7f00:1",
  "::1",
  "::",
  "0.0.0.0",
  "169.254.169.254",
  "10.0.0.5",
  "172.16.0.1",
  "192.168.1.1",
  "100.64.0.1",
  "224.0.0.1",
  "255.255.255.255",
  "192.0.2.1",
  "240.0.0.1",
  "fe80::1",
  "fd00::1",
  "fc00::1",
  "ff02::1",
  "64:ff9b::a00:1",
  "2002:7f00:1::1",
  "::ffff:10.0.0.1",
  "::ffff:169.254.169.254"
]

/** Spells an IPv4 address (as octets) the odd ways resolvers accept. */
const spell = (octets: ReadonlyArray<number>, how: number): string => {
  const [a = 0, b = 0, c = 0, d = 0] = octets
  const long = ((a << 24) >>> 0) + (b << 16) + (c << 8) + d
  switch (how) {
    case 0:
      return String(long)
    case 1:
      return `0x${long.toString(16)}`
    case 2:
      return octets.map((octet) => `0${octet.toString(8)}`).join(".")
    case 3:
      return `::ffff:${octets.join(".")}`
    case 4:
      return `::ffff:${((a << 8) + b).toString(16)}:${((c << 8) + d).toString(16)}`
    case 5:
      return `${a}.${(b << 16) + (c << 8) + d}`
    default:
      return octets.join(".")
  }
}

const internalNetworks: ReadonlyArray<readonly [string, number]> = [
  ["127.0.0.0", 8],
  ["10.0.0.0", 8],
  ["172.16.0.0", 12],
  ["192.168.0.0", 16],
  ["169.254.0.0", 16],
  ["100.64.0.0", 10],
  ["0.0.0.0", 8],
  ["224.0.0.0", 4],
  ["240.0.0.0", 4]
]

const internalAddress = fc
  .tuple(fc.constantFrom(...internalNetworks), fc.integer({ min: 0, max: 0xffffffff }))
  .map(([[network, prefix], random]) => {
    const base = ipaddr.IPv4.parse(network).toByteArray()
    const baseLong = (((base[0] ?? 0) << 24) >>> 0) + ((base[1] ?? 0) << 16) + ((base[2] ?? 0) << 8) + (base[3] ?? 0)
    const hostBits = 32 - prefix
    const offset = hostBits === 32 ? random : random % 2 ** hostBits
    const value = (baseLong + offset) >>> 0
    return [value >>> 24, (value >>> 16) & 255, (value >>> 8) & 255, value & 255]
  })

describe("IMAP destination policy", () => {
  it("classifies with ipaddr.js: only public unicast passes", () => {
    for (const address of internalSpellings) {
      assert.isNotNull(nonPublicRange(ipaddr.process(address)), address)
    }
    for (const address of ["93.184.216.34", "8.8.8.8", "2a00:1450:4001:80b::200e", "::ffff:8.8.8.8"]) {
      assert.isNull(nonPublicRange(ipaddr.process(address)), address)
    }
  })

  it.effect("public-only refuses every spelling of an internal address before opening a socket", () =>
    Effect.gen(function* () {
      const internal = yield* captureImap
      const closed = yield* closedPort
      const imap = yield* Imap
      for (const host of internalSpellings) {
        const open = yield* Effect.flip(Effect.scoped(imap.connect(options(host, internal.port))))
        const shut = yield* Effect.flip(Effect.scoped(imap.connect(options(host, closed))))
        assert.strictEqual(open._tag, "ImapConnectionError", host)
        if (open._tag !== "ImapConnectionError") continue
        assert.strictEqual(open.reason, "not_allowed", `${host}: ${open.message}`)
        // an open port and a closed one give the same answer: nothing to scan with
        assert.deepStrictEqual(shut, open, host)
        assert.notInclude(open.message, SECRET)
      }
      assert.strictEqual(internal.connections(), 0)
    }).pipe(Effect.provide(imapWith(productionPolicy(), noLookup)))
  )

  it.effect("generated internal addresses in generated spellings are all refused", () =>
    Effect.gen(function* () {
      const destinations = makeImapDestinations(productionPolicy(), noLookup)
      yield* Effect.promise(() =>
        fc.assert(
          fc.asyncProperty(internalAddress, fc.integer({ min: 0, max: 6 }), async (octets, how) => {
            const host = spell(octets, how)
            const error = await Effect.runPromise(Effect.flip(destinations.resolve(host)))
            assert.strictEqual(error.reason, "not_allowed", `${host} (${octets.join(".")}): ${error.message}`)
          }),
          { numRuns: 300 }
        )
      )
    })
  )

  it.effect("a name resolving to any internal address is refused (every address is checked)", () =>
    Effect.gen(function* () {
      const lookups: Array<string> = []
      const lookup: Lookup = (host) =>
        Effect.sync(() => {
          lookups.push(host)
          return ["93.184.216.34", "10.1.2.3"]
        })
      const destinations = makeImapDestinations(productionPolicy(), lookup)
      const error = yield* Effect.flip(destinations.resolve("Mail.Example.COM."))
      assert.strictEqual(error.reason, "not_allowed")
      assert.deepStrictEqual(lookups, ["mail.example.com"])
      // the real resolver: localhost is loopback
      const real = makeImapDestinations(productionPolicy())
      assert.strictEqual((yield* Effect.flip(real.resolve("localhost"))).reason, "not_allowed")
      // public answers pass, pinned to the first address, TLS name kept
      const ok = makeImapDestinations(productionPolicy(), () => Effect.succeed(["93.184.216.34", "2a00:1450::1"]))
      assert.deepStrictEqual(yield* ok.resolve("mail.example.com"), {
        address: "93.184.216.34",
        servername: "mail.example.com"
      })
      // an IP literal is not looked up, and gets no SNI name
      assert.deepStrictEqual(yield* makeImapDestinations(productionPolicy(), noLookup).resolve("8.8.8.8"), {
        address: "8.8.8.8",
        servername: undefined
      })
    })
  )

  it.effect("DNS rebinding: the connection goes to the address that was checked, resolved once", () =>
    Effect.gen(function* () {
      // the allowed mail server (127.0.0.2, allow-listed) and an internal service on 127.0.0.1, same port
      const allowed = yield* captureImapWith({ host: "127.0.0.2" })
      const internal = yield* captureImapWith({ host: "127.0.0.1", port: allowed.port })
      const answers = [["127.0.0.2"], ["127.0.0.1"]]
      const lookups: Array<string> = []
      const lookup: Lookup = (host) =>
        Effect.sync(() => {
          lookups.push(host)
          return answers[Math.min(lookups.length - 1, answers.length - 1)] ?? []
        })
      const layer = imapWith(productionPolicy("127.0.0.2/32"), lookup)
      yield* Effect.gen(function* () {
        const imap = yield* Imap
        // "localhost" really resolves to 127.0.0.1: connecting by name after the check would reach the internal service
        const session = yield* imap.connect(options("localhost", allowed.port))
        assert.isTrue(session.capabilities.size > 0)
        assert.deepStrictEqual(lookups, ["localhost"])
        assert.isTrue(allowed.sawSecret(SECRET))
        assert.strictEqual(internal.connections(), 0)
      }).pipe(Effect.scoped, Effect.provide(layer))
      // the next resolution answers 127.0.0.1: refused, still no socket to it
      const again = yield* Effect.flip(connectOnce(options("localhost", allowed.port)).pipe(Effect.provide(layer)))
      assert.strictEqual(again._tag === "ImapConnectionError" ? again.reason : again._tag, "not_allowed")
      assert.strictEqual(internal.connections(), 0)
    })
  )

  it.effect("TLS to the checked address still verifies the certificate against the host name", () =>
    Effect.gen(function* () {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mh-sni-"))
      const key = path.join(dir, "key.pem")
      const cert = path.join(dir, "cert.pem")
      execFileSync(
        "openssl",
        [
          "req",
          "-x509",
          "-newkey",
          "rsa:2048",
          "-nodes",
          "-days",
          "1",
          "-subj",
          "/CN=mail.test",
          "-addext",
          "subjectAltName=DNS:mail.test",
          "-keyout",
          key,
          "-out",
          cert
        ],
        { stdio: "ignore" }
      )
      const pem = { key: fs.readFileSync(key, "utf8"), cert: fs.readFileSync(cert, "utf8") }
      fs.rmSync(dir, { recursive: true, force: true })
      const server = yield* captureImapWith({ tls: pem })
      const layer = imapWith(productionPolicy("127.0.0.0/8"), () => Effect.succeed(["127.0.0.1"]))
      const tlsOptions = (host: string) => options(host, server.port, { security: "tls", tls: { ca: pem.cert } })
      yield* Effect.gen(function* () {
        const imap = yield* Imap
        // connected to 127.0.0.1, certificate checked against "mail.test" (it has no IP SAN)
        const session = yield* imap.connect(tlsOptions("mail.test"))
        assert.isTrue(session.capabilities.size > 0)
      }).pipe(Effect.scoped, Effect.provide(layer))
      assert.isTrue(server.sawSecret(SECRET))
      server.reset()
      const wrong = yield* Effect.flip(connectOnce(tlsOptions("other.test")).pipe(Effect.provide(layer)))
      assert.strictEqual(wrong._tag === "ImapConnectionError" ? wrong.reason : wrong._tag, "tls", wrong.message)
      assert.strictEqual(wrong.message, "TLS handshake failed: certificate does not match the host name")
      assert.isFalse(server.sawSecret(SECRET))
    })
  )

  it("the allow-list takes CIDRs, addresses and host names; a bad entry is named", () => {
    const parsed = allowList("192.168.1.0/24, 10.0.0.7 mail.lan. ::ffff:172.16.0.0/108 fd00::/8")
    assert.deepStrictEqual([...parsed.hosts], ["mail.lan"])
    const config: ImapDestinationsConfig = { policy: "public-only", allowed: parsed }
    const destinations = makeImapDestinations(config, () => Effect.succeed(["192.168.7.7"]))
    for (const [host, admitted] of [
      ["192.168.1.20", true],
      ["::ffff:192.168.1.20", true],
      ["10.0.0.7", true],
      ["10.0.0.8", false],
      ["172.16.3.4", true],
      ["172.17.0.1", true],
      ["192.168.2.1", false],
      ["fd00::5", true],
      ["fc00::5", false],
      ["127.0.0.1", false]
    ] as const) {
      const exit = Effect.runSyncExit(destinations.resolve(host))
      assert.strictEqual(exit._tag === "Success", admitted, host)
    }
    // a named host is trusted as resolved (an admin said so); another name resolving there is not
    assert.strictEqual(Effect.runSyncExit(destinations.resolve("MAIL.lan"))._tag, "Success")
    assert.strictEqual(Effect.runSyncExit(destinations.resolve("other.lan"))._tag, "Failure")
    for (const bad of ["10.0.0.0/33", "not a host!", "300.1.2.3/8"]) {
      const result = parseAllowList(bad)
      assert.isString(result, bad)
      assert.include(String(result), "IMAP_ALLOWED_NETWORKS")
    }
  })

  it.effect("defaults: public-only in production, any elsewhere, the variable wins", () =>
    Effect.gen(function* () {
      const policyFor = (env: Record<string, string>) =>
        imapDestinationsConfig.pipe(
          Effect.map((config) => config.policy),
          Effect.provide(ConfigProvider.layer(ConfigProvider.fromUnknown(env)))
        )
      assert.strictEqual(yield* policyFor({ NODE_ENV: "production" }), "public-only")
      assert.strictEqual(yield* policyFor({ NODE_ENV: "test" }), "any")
      assert.strictEqual(yield* policyFor({ NODE_ENV: "development" }), "any")
      assert.strictEqual(yield* policyFor({ NODE_ENV: "production", IMAP_DESTINATION_POLICY: "any" }), "any")
      assert.strictEqual(yield* policyFor({ NODE_ENV: "test", IMAP_DESTINATION_POLICY: "public-only" }), "public-only")
      const bad = yield* Effect.flip(
        imapDestinationsConfig.pipe(
          Effect.provide(ConfigProvider.layer(ConfigProvider.fromUnknown({ IMAP_ALLOWED_NETWORKS: "10.0.0.0/99" })))
        )
      )
      assert.include(bad.message, "10.0.0.0/99")
    })
  )
})
