/**
 * A watching IMAP connection: tells which mailboxes of an account changed, as the server pushes it.
 *
 * - With NOTIFY (RFC 5465): one connection for the whole account. `NOTIFY SET (selected ...)
 *   (personal (MessageNew MessageExpunge FlagChange MailboxName))` with INBOX selected read-only;
 *   the server then reports new messages, expunges and flag changes of every personal mailbox as
 *   untagged STATUS (HIGHESTMODSEQ for flag changes, CONDSTORE is enabled), and new or renamed
 *   mailboxes as LIST. imapflow has no NOTIFY API: the command goes through its raw `exec`, and the
 *   STATUS / LIST responses are read through its untagged handlers.
 * - Without NOTIFY: IDLE on each of `folders` (INBOX first), one connection per folder (IDLE
 *   watches only the selected mailbox); the scheduled sync is the safety net for the rest.
 *
 * A flag change in a selected mailbox arrives as an untagged FETCH; with its UID (QRESYNC enabled)
 * it is reported with the message's flags (`WatchChange.flags`), so the caller can tell the echo of
 * its own STORE from another client's change.
 *
 * IDLE is restarted every `maxIdleTimeMs` (RFC 2177: servers may drop an IDLE after 30 minutes).
 * A watching connection never negotiates COMPRESS=DEFLATE: its zlib pair would hold ~300 kB of native
 * memory per watched account for a few short lines an hour (ClientTuning.disableCompression).
 * Connections take the same path as a sync's (`openClient` in Imap.ts: destination policy, limits,
 * bounded login). `watch` runs until a connection breaks, then fails: the caller reconnects.
 */
import { type Config, Context, Effect, Layer, type Scope } from "effect"
import type { ImapFlow } from "imapflow"
import {
  type ImapAuthenticationError,
  ImapConnectionError,
  type ImapConnectOptions,
  type ImapError,
  type ImapProtocolError,
  openClient
} from "./Imap.ts"
import { ImapDestinations, type ImapDestinationsShape } from "./ImapDestinations.ts"
import { type ImapLimits, imapFetchSizesConfig, imapLimitsFor } from "./ImapLimits.ts"

/**
 * The flags the server reported for one message of the selected mailbox (an untagged FETCH with
 * UID, as a server with QRESYNC enabled sends it): all of its flags after the change.
 */
export interface FlagReport {
  readonly uidValidity: number
  readonly uid: number
  readonly flags: ReadonlyArray<string>
}

/** Something changed in `path`, or (path null) the mailbox list changed. */
export interface WatchChange {
  readonly path: string | null
  /** When the connection heard it (for the lag metric: change heard -> stored). */
  readonly heardAt: number
  /**
   * Set when the change is one message's flags and the server named it (UID and UIDVALIDITY known):
   * the caller may compare them with what is stored. Absent for anything else (a new message, an
   * expunge, a STATUS, a FETCH without UID).
   */
  readonly flags?: FlagReport
}

export type WatchMode = "notify" | "idle"

export interface WatchOptions {
  /** Without NOTIFY: the mailboxes to IDLE on (one connection each). INBOX is always watched. */
  readonly folders: ReadonlyArray<string>
  readonly maxIdleTimeMs: number
  /** Called once the connections are set up (after login, NOTIFY/SELECT). */
  readonly onReady: (mode: WatchMode, connections: number) => Effect.Effect<void>
  /** Called from imapflow's callbacks for every change heard; must not block. */
  readonly onChange: (change: WatchChange) => void
  /** Taken before each connection and held while it lives (the per-host cap). */
  readonly permit: Effect.Effect<void, never, Scope.Scope>
}

type WatchError = ImapError

export class ImapWatch extends Context.Service<
  ImapWatch,
  {
    /** Watches until a connection breaks (never succeeds). */
    watch(
      options: ImapConnectOptions,
      watch: WatchOptions
    ): Effect.Effect<never, ImapConnectionError | ImapAuthenticationError | ImapProtocolError | WatchError>
  }
>()("mail-helper/ImapWatch") {
  static readonly makeWith = (limits: ImapLimits, destinations: ImapDestinationsShape) =>
    ImapWatch.of({ watch: (options, watch) => watchAccount(options, watch, destinations, limits) })

  static readonly layerWithDestinations: Layer.Layer<ImapWatch, Config.ConfigError, ImapDestinations> = Layer.effect(
    ImapWatch,
    Effect.gen(function* () {
      const destinations = yield* ImapDestinations
      return ImapWatch.makeWith(imapLimitsFor(yield* imapFetchSizesConfig), destinations)
    })
  )

  static readonly layer: Layer.Layer<ImapWatch, Config.ConfigError> = ImapWatch.layerWithDestinations.pipe(
    Layer.provide(ImapDestinations.layer)
  )
}

// ---------------------------------------------------------------------------------------------

interface Untagged {
  readonly attributes?: ReadonlyArray<unknown>
}

const atom = (value: string) => ({ type: "ATOM", value })

/** The NOTIFY SET arguments: the selected INBOX and every personal mailbox. */
const notifyArguments = [
  atom("SET"),
  [atom("selected"), [atom("MessageNew"), atom("MessageExpunge"), atom("FlagChange")]],
  [atom("personal"), [atom("MessageNew"), atom("MessageExpunge"), atom("FlagChange"), atom("MailboxName")]]
]

/** The string value of an untagged attribute (ATOM, STRING or LITERAL). */
const stringValue = (attribute: unknown): string | null => {
  if (typeof attribute !== "object" || attribute === null) return null
  const value: unknown = Reflect.get(attribute, "value")
  if (typeof value === "string") return value
  if (Buffer.isBuffer(value)) return value.toString("utf8")
  return null
}

/**
 * Decodes modified UTF-7 (RFC 3501 5.1.3) mailbox names, as imapflow does for LIST: `&` starts a
 * base64 run of UTF-16 ("," for "/"), `&-` is "&". Names that are not valid stay as they are.
 */
export const decodeMailboxName = (name: string): string =>
  name.replace(/&([^-]*)-/g, (_match, run: string) => {
    if (run === "") return "&"
    const bytes = Buffer.from(run.replace(/,/g, "/"), "base64")
    if (bytes.length % 2 !== 0) return `&${run}-`
    let out = ""
    for (let i = 0; i < bytes.length; i += 2) out += String.fromCharCode(bytes.readUInt16BE(i))
    return out
  })

/** Installs a connection-wide untagged handler (imapflow consults them when no command claims the response). */
const setUntaggedHandler = (client: ImapFlow, name: string, handler: (untagged: Untagged) => Promise<void>) => {
  const handlers: unknown = Reflect.get(client, "untaggedHandlers")
  if (typeof handlers !== "object" || handlers === null)
    throw new Error("imapflow offers no untagged handlers (ImapFlow.untaggedHandlers is missing)")
  Reflect.set(handlers, name, handler)
}

/** `client.exec(command, attributes)` (imapflow's raw command path), its response released. */
const exec = async (client: ImapFlow, command: string, attributes: ReadonlyArray<unknown>): Promise<void> => {
  const run: unknown = Reflect.get(client, "exec")
  if (typeof run !== "function") throw new Error("imapflow offers no raw command (ImapFlow.exec is missing)")
  const response: unknown = await Reflect.apply(run, client, [command, attributes])
  const next: unknown = typeof response === "object" && response !== null ? Reflect.get(response, "next") : undefined
  if (typeof next === "function") Reflect.apply(next, response, [])
}

/** Waits until the connection ends: IDLE (restarted every maxIdleTime by imapflow) returns only then. */
const idleUntilClosed = (
  client: ImapFlow,
  call: <A>(command: string, f: () => Promise<A>) => Effect.Effect<A, ImapError>
) =>
  Effect.gen(function* () {
    yield* call("idle", () => client.idle())
    // imapflow's idle() ends on close or a refused IDLE: either way this connection watches no more
    return yield* new ImapConnectionError({ reason: "closed", message: "the watching connection ended" })
  })

const watchAccount = (
  options: ImapConnectOptions,
  watch: WatchOptions,
  destinations: ImapDestinationsShape,
  limits: ImapLimits
): Effect.Effect<never, ImapError> =>
  Effect.scoped(
    Effect.gen(function* () {
      const connectOne = Effect.andThen(
        watch.permit,
        openClient(options, destinations, limits, { maxIdleTimeMs: watch.maxIdleTimeMs, disableCompression: true })
      )
      const first = yield* connectOne
      const { client, call } = first
      const heard = (path: string | null) => watch.onChange({ path, heardAt: Date.now() })
      /** SELECT (read-only) `path` on `open`; its EXISTS / EXPUNGE / FETCH FLAGS are changes of `path`. */
      const idleOn = (open: typeof first, path: string) =>
        Effect.gen(function* () {
          open.client.on("exists", () => heard(path))
          open.client.on("flags", (event) => {
            const mailbox = open.client.mailbox
            // the flags of a message the server named: the caller can tell an echo of its own STORE
            if (event.uid !== undefined && mailbox !== false && mailbox.path === path) {
              watch.onChange({
                path,
                heardAt: Date.now(),
                flags: { uidValidity: Number(mailbox.uidValidity), uid: event.uid, flags: [...event.flags] }
              })
            } else heard(path)
          })
          open.client.on("expunge", () => heard(path))
          yield* open.call("select", () => open.client.mailboxOpen(path, { readOnly: true }))
        })

      if (client.capabilities.has("NOTIFY")) {
        setUntaggedHandler(client, "STATUS", async (untagged) => {
          const name = stringValue(untagged.attributes?.[0])
          if (name !== null) heard(decodeMailboxName(name))
        })
        setUntaggedHandler(client, "LIST", async (untagged) => {
          const name = stringValue(untagged.attributes?.[2])
          heard(name === null ? null : decodeMailboxName(name))
        })
        yield* idleOn(first, "INBOX")
        // a server that announces NOTIFY but refuses this set is watched the IDLE way
        const notifying = yield* call("notify", () => exec(client, "NOTIFY", notifyArguments)).pipe(
          Effect.as(true),
          Effect.catchTag("ImapProtocolError", () => Effect.succeed(false))
        )
        if (notifying) {
          yield* watch.onReady("notify", 1)
          return yield* idleUntilClosed(client, call)
        }
      } else {
        yield* idleOn(first, "INBOX")
      }

      // IDLE: the first connection on INBOX, one more per further folder
      const further = [...new Set(watch.folders.filter((folder) => folder.toUpperCase() !== "INBOX"))]
      const others = yield* Effect.forEach(further, (path) =>
        Effect.flatMap(connectOne, (open) => Effect.as(idleOn(open, path), open))
      )
      yield* watch.onReady("idle", 1 + others.length)
      // the first connection to end ends them all (the caller reconnects the account as a whole)
      yield* Effect.all(
        [first, ...others].map((open) => idleUntilClosed(open.client, open.call)),
        { concurrency: "unbounded" }
      )
      return yield* new ImapConnectionError({ reason: "closed", message: "the watching connections ended" })
    })
  )
