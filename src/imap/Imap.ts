/**
 * IMAP access for the sync and the rule actions: a thin Effect layer over imapflow with typed
 * errors, bounded connect, interruption (interrupting any call closes the connection) and spans.
 *
 * One session = one connection = one job. Calls on a session are serialised by imapflow's
 * mailbox lock; an interrupted call closes the connection, so every later call on that session
 * fails with `ImapConnectionError` (reason "closed").
 *
 * Incremental sync recipe (what the session offers for it):
 * - `openMailbox` gives UIDVALIDITY / UIDNEXT / HIGHESTMODSEQ. A new UIDVALIDITY means every
 *   stored UID of the mailbox is void: resync it from scratch.
 * - New messages: `fetchMessages(path, { from: lastSeenUid + 1 })`.
 * - Flag changes: `fetchFlags(path, { changedSince: storedHighestModseq })` (CONDSTORE).
 * - Deletions: `vanishedSince(path, storedHighestModseq)` when `supportsQresync`; otherwise (CONDSTORE
 *   only, or neither) compare `searchUids(path)` with the stored UIDs: whatever is stored but no
 *   longer listed was expunged. `changesSince` does flags and deletions in one round trip.
 */
import { type Config, Context, Effect, Layer, Redacted, Result, Schema, type Scope, Stream } from "effect"
import { ImapFlow, type ImapFlowOptions, type ListOptions } from "imapflow"
import {
  type ImapAuthenticationError,
  ImapConnectionError,
  type ImapError,
  ImapLimitExceeded,
  ImapMailboxMissing,
  ImapProtocolError,
  toImapError
} from "./ImapErrors.ts"
import { ImapDestinations, type ImapDestinationsShape } from "./ImapDestinations.ts"
import {
  type FetchReport,
  type MailboxInfo,
  type MailboxState,
  toFetchReport,
  uid32,
  toMailboxInfo,
  toMailboxState
} from "./ImapShapes.ts"
import { type ImapLimits, imapFetchSizesConfig, imapLimitsFor } from "./ImapLimits.ts"

export * from "./ImapErrors.ts"
export type { MailboxInfo, MailboxState, MailboxStatus, SpecialUse } from "./ImapShapes.ts"
export { normaliseSpecialUse } from "./ImapShapes.ts"
export type { ImapLimits } from "./ImapLimits.ts"

export type ImapSecurity = "tls" | "starttls" | "none"

/**
 * How the session logs in: LOGIN / AUTHENTICATE PLAIN with a password, or an OAuth2 access token
 * (imapflow's `accessToken`: AUTHENTICATE OAUTHBEARER or XOAUTH2, whichever the server offers).
 */
export type ImapCredential =
  | { readonly password: Redacted.Redacted<string> }
  | { readonly accessToken: Redacted.Redacted<string> }

/** The secret of a credential (redacted from every error message). */
export const credentialSecret = (credential: ImapCredential): string =>
  "accessToken" in credential ? Redacted.value(credential.accessToken) : Redacted.value(credential.password)

export type ImapConnectOptions = ImapConnectBase & ImapCredential

export interface ImapConnectBase {
  readonly host: string
  readonly port: number
  /** "tls": implicit TLS (993); "starttls": upgrade required, fails if not offered; "none": cleartext. */
  readonly security: ImapSecurity
  readonly username: string
  readonly tls?: {
    /** PEM of a CA (or self-signed certificate) to trust in addition to the system store. */
    readonly ca?: string
    readonly servername?: string
    readonly rejectUnauthorized?: boolean
  }
  /** Bound on TCP + TLS + greeting + login. */
  readonly timeoutMs: number
  /** An established connection silent for this long is dropped. Default 5 minutes. */
  readonly socketTimeoutMs?: number
}

/** Inclusive UID range; `to` omitted means "up to the newest message". */
export interface UidRange {
  readonly from: number
  readonly to?: number
}

export interface FetchedMessage {
  readonly uid: number
  readonly flags: ReadonlyArray<string>
  /** RFC822.SIZE as reported by the server. */
  readonly size: number
  readonly internalDate: Date | null
  readonly source: Buffer
  readonly modseq: string | null
  /** The source was cut at `maxSourceBytes`. */
  readonly truncated: boolean
}

export interface FlagState {
  readonly uid: number
  readonly flags: ReadonlyArray<string>
  readonly modseq: string | null
}

export interface MessageSize {
  readonly uid: number
  /** RFC822.SIZE in bytes; null when the server did not report it. */
  readonly size: number | null
}

export interface MailboxChanges {
  readonly changed: ReadonlyArray<FlagState>
  /** Expunged UIDs (may include UIDs the client never saw); null without QRESYNC. */
  readonly vanished: ReadonlyArray<number> | null
}

export interface MoveResult {
  readonly destinationUidValidity: number | null
  /**
   * Source UID -> UID in the destination: from COPYUID (UIDPLUS), or without UIDPLUS from the
   * message's Message-ID among the destination's new UIDs.
   */
  readonly uidMap: ReadonlyMap<number, number>
  /** Source UIDs that were moved but whose new UID is unknown (no COPYUID, no unique Message-ID). */
  readonly unmapped: ReadonlyArray<number>
}

/**
 * A move without MOVE and UIDPLUS needs a plain EXPUNGE, which removes every message of the folder
 * marked \Deleted: refused while the folder holds another one (the other messages stay untouched).
 */
export class ImapUnsafeExpunge extends Schema.TaggedError<ImapUnsafeExpunge>()("ImapUnsafeExpunge", {
  path: Schema.String,
  /** Other messages of the folder marked \Deleted. */
  others: Schema.Number,
  message: Schema.String
}) {}

export interface CopyResult {
  readonly destinationUidValidity: number | null
  /** Source UID -> UID of the new copy: from COPYUID (UIDPLUS), or without UIDPLUS by Message-ID. */
  readonly uidMap: ReadonlyMap<number, number>
  /** Copied, but the copy's UID is unknown (no COPYUID, Message-ID not unique among the new UIDs). */
  readonly unmapped: ReadonlyArray<number>
  /**
   * Not copied: the destination already holds a message with this Message-ID (source UID -> its UID
   * there), so a rule applied twice makes one copy.
   */
  readonly existing: ReadonlyMap<number, number>
  /** Not copied: no Message-ID, so a re-run could not tell whether it was copied already. */
  readonly withoutMessageId: ReadonlyArray<number>
}

export interface AppendResult {
  readonly uid: number | null
  readonly uidValidity: number | null
}

export interface FetchMessagesOptions {
  /** Messages per emitted batch (and per UID FETCH). */
  readonly batchSize: number
  /** Fetch at most this many bytes of each message (BODY.PEEK[]<0.n>); `truncated` tells. */
  readonly maxSourceBytes?: number
}

export interface ImapSession {
  /** Capabilities after login (CONDSTORE, QRESYNC, MOVE... are only announced then). */
  readonly capabilities: ReadonlySet<string>
  /** QRESYNC is enabled on this connection: `vanishedSince` works. */
  readonly supportsQresync: boolean
  /** CONDSTORE is enabled on this connection: modseqs and `changedSince` work. */
  readonly supportsCondstore: boolean
  /** Extensions ENABLEd on this connection (CONDSTORE, QRESYNC, UTF8=ACCEPT, IMAP4REV2). */
  readonly enabled: ReadonlySet<string>
  /** The server's ID answer (name, version); null when it offers no ID. */
  readonly serverId: { readonly name: string | null; readonly version: string | null } | null
  /** The personal namespace (NAMESPACE, or imapflow's LIST fallback); null when unknown. */
  readonly namespace: { readonly prefix: string; readonly delimiter: string | null } | null
  readonly isConnected: Effect.Effect<boolean>
  /**
   * Ends the session at once: closes the socket without LOGOUT, so the command in flight and every
   * later one fail (ImapConnectionError `closed`). For a holder that must stop using the connection
   * (ImapAccess.connect, when its connection slot's lease is lost); the scope's close is the usual end.
   */
  readonly close: Effect.Effect<void>
  /** NOOP: the server still answers on this connection (a kept-open session's check before reuse). */
  readonly noop: Effect.Effect<void, ImapError>
  /**
   * Leaves the selected mailbox without expunging anything: UNSELECT (RFC 3691), and imapflow's own
   * notion of the selected mailbox is reset, so the next `openMailbox` sends SELECT/EXAMINE again.
   * `true` when no mailbox is selected afterwards (also when none was); `false` when the server
   * does not announce UNSELECT (nothing is sent: CLOSE would expunge `\Deleted` messages of a
   * read-write mailbox) or refused it. For a session kept open between jobs (ImapAccess).
   */
  readonly unselect: Effect.Effect<boolean, ImapError>
  listMailboxes(options?: { readonly status?: boolean }): Effect.Effect<ReadonlyArray<MailboxInfo>, ImapError>
  /** SELECT (or EXAMINE with readOnly) and report the mailbox's current state. */
  openMailbox(path: string, options?: { readonly readOnly?: boolean }): Effect.Effect<MailboxState, ImapError>
  /** Full sources in UID order, in batches; UIDs that vanish meanwhile are skipped. */
  fetchMessages(
    path: string,
    range: UidRange | ReadonlyArray<number>,
    options: FetchMessagesOptions
  ): Stream.Stream<ReadonlyArray<FetchedMessage>, ImapError>
  /**
   * UID and RFC822.SIZE of every message whose UID is in `range`, ascending. No bodies: cheap, so a
   * sync can plan its fetch batches by bytes as well as by count.
   */
  fetchSizes(path: string, range: UidRange): Effect.Effect<ReadonlyArray<MessageSize>, ImapError>
  /** Flags of every message, or of those changed after `changedSince` (a modseq, CONDSTORE). */
  fetchFlags(
    path: string,
    options?: { readonly changedSince?: string }
  ): Effect.Effect<ReadonlyArray<FlagState>, ImapError>
  /** UIDs expunged after `modseq` (QRESYNC). Fails with ImapProtocolError when QRESYNC is not available. */
  vanishedSince(path: string, modseq: string): Effect.Effect<ReadonlyArray<number>, ImapError>
  /** Flag changes and (with QRESYNC) expunges after `modseq`, in one UID FETCH. */
  changesSince(path: string, modseq: string): Effect.Effect<MailboxChanges, ImapError>
  /** Every UID in the mailbox, ascending. */
  searchUids(path: string): Effect.Effect<ReadonlyArray<number>, ImapError>
  /**
   * UID MOVE; without MOVE: UID COPY + UID STORE +FLAGS (\Deleted) + UID EXPUNGE (UIDPLUS), or a
   * plain EXPUNGE when the folder holds no other \Deleted message (else `ImapUnsafeExpunge`).
   */
  moveMessages(
    path: string,
    uids: ReadonlyArray<number>,
    destination: string
  ): Effect.Effect<MoveResult, ImapError | ImapUnsafeExpunge>
  /**
   * UID COPY of the messages not yet in `destination` (by Message-ID); the originals stay. Stale UIDs
   * are left out (neither copied nor listed).
   */
  copyMessages(path: string, uids: ReadonlyArray<number>, destination: string): Effect.Effect<CopyResult, ImapError>
  /**
   * Removes exactly these messages: UID STORE +FLAGS (\Deleted) then UID EXPUNGE (UIDPLUS); without
   * UIDPLUS a plain EXPUNGE only when no other message of the folder is \Deleted (else
   * `ImapUnsafeExpunge`, nothing removed). Returns the UIDs that were there and were removed.
   */
  deleteMessages(
    path: string,
    uids: ReadonlyArray<number>
  ): Effect.Effect<ReadonlyArray<number>, ImapError | ImapUnsafeExpunge>
  setFlags(
    path: string,
    uids: ReadonlyArray<number>,
    add: ReadonlyArray<string>,
    remove: ReadonlyArray<string>
  ): Effect.Effect<void, ImapError>
  append(
    path: string,
    source: string | Uint8Array,
    options?: { readonly flags?: ReadonlyArray<string>; readonly internalDate?: Date }
  ): Effect.Effect<AppendResult, ImapError>
}

/**
 * Every connection goes through the destination policy first (ImapDestinations.ts): a refused host
 * fails with ImapConnectionError `not_allowed` before any socket is opened.
 */
export class Imap extends Context.Service<
  Imap,
  {
    /** Connects and logs in; the scope logs out (or closes) the connection. */
    connect(
      options: ImapConnectOptions
    ): Effect.Effect<ImapSession, ImapConnectionError | ImapAuthenticationError | ImapProtocolError, Scope.Scope>
  }
>()("mail-helper/Imap") {
  /**
   * Every connection passes the destination policy (ImapDestinations) and is bounded by the limits
   * derived from the sync's configuration (SYNC_MAX_MESSAGE_BYTES, ...).
   */
  static readonly makeWith = (limits: ImapLimits, destinations: ImapDestinationsShape) =>
    Imap.of({ connect: (options) => connectChecked(options, destinations, limits) })

  /** Needs ImapDestinations (the policy); tests inject one with another resolver. */
  static readonly layerWithDestinations: Layer.Layer<Imap, Config.ConfigError, ImapDestinations> = Layer.effect(
    Imap,
    Effect.gen(function* () {
      const destinations = yield* ImapDestinations
      return Imap.makeWith(imapLimitsFor(yield* imapFetchSizesConfig), destinations)
    })
  )
  /** With the policy from IMAP_DESTINATION_POLICY / IMAP_ALLOWED_NETWORKS and the system resolver. */
  static readonly layer: Layer.Layer<Imap, Config.ConfigError> = Imap.layerWithDestinations.pipe(
    Layer.provide(ImapDestinations.layer)
  )
}

// ---------------------------------------------------------------------------------------------

const parseModseq = (value: string): bigint | null => (/^\d{1,20}$/.test(value) ? BigInt(value) : null)

/** "1:3,5,8:9" from any list of UIDs. */
export const compactUidSet = (uids: ReadonlyArray<number>): string => {
  const sorted = [...new Set(uids)].sort((a, b) => a - b)
  const parts: Array<string> = []
  let start = sorted[0]
  let previous = start
  for (let i = 1; i <= sorted.length; i++) {
    const uid = sorted[i]
    if (uid !== undefined && previous !== undefined && uid === previous + 1) {
      previous = uid
      continue
    }
    if (start !== undefined && previous !== undefined)
      parts.push(start === previous ? `${start}` : `${start}:${previous}`)
    start = uid
    previous = uid
  }
  return parts.join(",")
}

const chunk = <A>(items: ReadonlyArray<A>, size: number): Array<ReadonlyArray<A>> => {
  const out: Array<ReadonlyArray<A>> = []
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size))
  return out
}

/** What differs between a sync session and a watching connection; the rest of the options is shared. */
export interface ClientTuning {
  /** imapflow's expunge reports (EXPUNGE, VANISHED) of the selected mailbox. */
  readonly onExpunge?: ImapFlowOptions["expungeHandler"]
  /** A watching connection: IDLE is restarted after this many milliseconds (RFC 2177: under 29 minutes). */
  readonly maxIdleTimeMs?: number
  /**
   * Never negotiate COMPRESS=DEFLATE (RFC 4978), even where the server offers it. imapflow's DEFLATE
   * pair holds ~300 kB of native zlib state for the connection's whole life (a level-6 deflate with a
   * 32 kB window: 256 kB, the inflate: ~40 kB): worth it for a sync that fetches, not for a watching
   * connection that idles for hours and receives a few short untagged lines.
   */
  readonly disableCompression?: boolean
}

const clientOptions = (options: ImapConnectOptions, limits: ImapLimits, tuning: ClientTuning): ImapFlowOptions => ({
  host: options.host,
  port: options.port,
  secure: options.security === "tls",
  doSTARTTLS: options.security === "starttls",
  ...(options.tls?.servername !== undefined ? { servername: options.tls.servername } : {}),
  tls: {
    ...(options.tls?.ca !== undefined ? { ca: options.tls.ca } : {}),
    ...(options.tls?.servername !== undefined ? { servername: options.tls.servername } : {}),
    rejectUnauthorized: options.tls?.rejectUnauthorized ?? true
  },
  auth:
    "accessToken" in options
      ? { user: options.username, accessToken: Redacted.value(options.accessToken) }
      : { user: options.username, pass: Redacted.value(options.password) },
  logger: false,
  // a sync session issues commands back to back; IDLE in between only costs round trips. A watching
  // connection runs its IDLE itself (ImapWatch.ts), restarted every `maxIdleTimeMs`
  disableAutoIdle: true,
  ...(tuning.maxIdleTimeMs === undefined ? {} : { maxIdleTime: tuning.maxIdleTimeMs }),
  ...(tuning.disableCompression === true ? { disableCompression: true } : {}),
  qresync: true,
  connectionTimeout: options.timeoutMs,
  greetingTimeout: options.timeoutMs,
  socketTimeout: options.socketTimeoutMs ?? 5 * 60_000,
  // imapflow's defaults (1 GiB lines and literals, 2 GiB responses) let a hostile server make one
  // connection buffer a gigabyte; these admit the largest message the sync fetches (SyncConfig.ts)
  maxLineLength: limits.maxLineBytes,
  maxLiteralSize: limits.maxLiteralBytes,
  maxResponseSize: limits.maxResponseBytes,
  maxResponseTokens: limits.maxResponseTokens,
  ...(tuning.onExpunge === undefined ? {} : { expungeHandler: tuning.onExpunge })
})

/** A connected, logged-in imapflow client and the way to call it with typed errors. */
export interface OpenClient {
  readonly client: ImapFlow
  /** Runs one imapflow call; interruption closes the connection (imapflow has no AbortSignal). */
  readonly call: <A>(command: string, f: () => Promise<A>, path?: string) => Effect.Effect<A, ImapError>
  /** The error imapflow reported between commands (the socket broke), if any. */
  readonly lastError: () => ImapError | null
  readonly attributes: Record<string, string | number>
}

/**
 * The connect steps every IMAP connection of the application takes (sync sessions here, watching
 * connections in ImapWatch.ts): the destination policy (the host resolved once under it, then the
 * checked address; TLS SNI and the certificate check still use the host name), the client options
 * with the size limits, the bounded connect + login, and the scope that logs out.
 */
export const openClient = (
  options: ImapConnectOptions,
  destinations: ImapDestinationsShape,
  limits: ImapLimits,
  tuning: ClientTuning = {}
): Effect.Effect<OpenClient, ImapConnectionError | ImapAuthenticationError | ImapProtocolError, Scope.Scope> =>
  Effect.flatMap(destinations.resolve(options.host), (destination) => {
    const servername = destination.servername ?? options.tls?.servername
    return openResolved(
      {
        ...options,
        host: destination.address,
        tls: { ...options.tls, ...(servername === undefined ? {} : { servername }) }
      },
      limits,
      tuning
    )
  })

const openResolved = (options: ImapConnectOptions, limits: ImapLimits, tuning: ClientTuning) =>
  Effect.gen(function* () {
    const secret = credentialSecret(options)
    const client = new ImapFlow(clientOptions(options, limits, tuning))
    // imapflow emits 'error' when the socket breaks between commands; without a listener
    // Node would crash the process. The next command reports the failure instead.
    let lastError: ImapError | null = null
    client.on("error", (error: Error) => {
      lastError = toImapError(error, { command: "connection", secret })
    })

    const attributes = { "imap.host": options.host, "imap.port": options.port, "imap.security": options.security }

    const call = <A>(command: string, f: () => Promise<A>, path?: string): Effect.Effect<A, ImapError> =>
      Effect.tryPromise({
        try: (signal) => {
          const onAbort = () => client.close()
          signal.addEventListener("abort", onAbort, { once: true })
          return f().finally(() => signal.removeEventListener("abort", onAbort))
        },
        catch: (error) => {
          const mapped = toImapError(error, { command, secret, ...(path !== undefined ? { path } : {}) })
          if (mapped._tag !== "ImapConnectionError" || mapped.reason !== "closed" || lastError === null) return mapped
          // the connection broke at a size limit or timed out: that is the error, not the closed socket
          if (lastError._tag === "ImapLimitExceeded") return lastError
          return new ImapConnectionError({
            reason: lastError._tag === "ImapConnectionError" ? lastError.reason : "closed",
            message: `${mapped.message} (${lastError.message})`
          })
        }
      })

    yield* Effect.addFinalizer(() => closeClient(client))

    yield* call("connect", () => client.connect()).pipe(
      Effect.timeoutOrElse({
        duration: options.timeoutMs,
        orElse: () =>
          Effect.fail(
            new ImapConnectionError({
              reason: "timeout",
              message: `no IMAP session with ${options.host}:${options.port} within ${options.timeoutMs} ms`
            })
          )
      }),
      Effect.catchTags({
        ImapMailboxMissing: (error) =>
          Effect.fail(new ImapProtocolError({ command: "connect", message: error.message, serverResponseCode: null })),
        // connect() keeps its error type: the greeting or login broke a size limit
        ImapLimitExceeded: (error) =>
          Effect.fail(
            new ImapProtocolError({ command: "connect", message: error.message, serverResponseCode: error.limit })
          )
      }),
      Effect.withSpan("imap.connect", { attributes })
    )
    return { client, call, lastError: () => lastError, attributes } satisfies OpenClient
  })

const connectChecked = (options: ImapConnectOptions, destinations: ImapDestinationsShape, limits: ImapLimits) =>
  Effect.gen(function* () {
    // vanishedSince() collects VANISHED (EARLIER) UIDs here while its UID FETCH runs
    let vanishedCollector: Set<number> | null = null
    const { client, call, attributes } = yield* openClient(options, destinations, limits, {
      onExpunge: (event) => {
        if (vanishedCollector !== null && event.vanished && event.uid !== undefined) vanishedCollector.add(event.uid)
      }
    })

    /*
     * Namespaces. imapflow's normalizePath puts the personal namespace prefix (`client.namespace.prefix`,
     * e.g. "INBOX." on Courier) in front of every path that lacks it, and lists with that prefix as the
     * LIST reference: folders in the other users' and shared namespaces ("#shared.owner.x", "Public.x")
     * could neither be listed nor opened. So imapflow gets an empty personal prefix (its paths go out as
     * given), and `wire` applies the personal prefix here, as imapflow did, except to INBOX, to paths that
     * already carry it and to paths in another announced namespace; `listMailboxes` lists every namespace.
     */
    const personal = client.namespace === undefined ? null : { ...client.namespace }
    const namespacePrefixes = (kind: "other" | "shared"): ReadonlyArray<string> => {
      const entries = client.namespaces?.[kind]
      return entries === undefined || entries === false
        ? []
        : entries.map((entry) => entry.prefix).filter((prefix) => prefix !== "")
    }
    const foreignPrefixes = [...namespacePrefixes("other"), ...namespacePrefixes("shared")]
    const personalPrefix = personal?.prefix ?? ""
    if (personal !== null && personalPrefix !== "") client.namespace = { ...personal, prefix: "" }
    /** A namespace prefix without its trailing delimiter names the namespace's root ("#shared"). */
    const inNamespace = (path: string, prefix: string): boolean =>
      path.startsWith(prefix) || (prefix.length > 1 && path === prefix.slice(0, -1))
    /** The path as it goes to the server. */
    const wire = (path: string): string => {
      if (path.toUpperCase() === "INBOX") return "INBOX"
      if (personalPrefix === "" || path.startsWith(personalPrefix)) return path
      if (foreignPrefixes.some((prefix) => inNamespace(path, prefix))) return path
      return personalPrefix + path
    }

    /** Holds imapflow's mailbox lock (SELECT/EXAMINE as needed) around `use`. */
    const withMailbox = <A>(
      command: string,
      path: string,
      readOnly: boolean,
      use: () => Promise<A>
    ): Effect.Effect<A, ImapError> =>
      Effect.uninterruptibleMask((restore) =>
        Effect.flatMap(
          restore(call(`${command}.select`, () => client.getMailboxLock(wire(path), { readOnly }), path)),
          (lock) => restore(call(command, use, path)).pipe(Effect.ensuring(Effect.sync(() => lock.release())))
        )
      )

    /** Reads keep the current mode when the mailbox is already selected, to avoid a re-SELECT. */
    const readMode = (path: string): boolean =>
      !(client.mailbox !== false && client.mailbox.path === wire(path) && client.mailbox.readOnly !== true)

    const span =
      (name: string, extra: Record<string, unknown> = {}) =>
      <A, E>(effect: Effect.Effect<A, E>) =>
        Effect.withSpan(effect, `imap.${name}`, { attributes: { ...attributes, ...extra } })

    const currentState = (path: string): MailboxState => {
      const mailbox = client.mailbox
      if (mailbox === false) throw new Error("no mailbox selected inside a mailbox lock")
      return orThrow(toMailboxState(path, mailbox))
    }

    /**
     * `LIST "<reference>" "<pattern>"` through imapflow's own LIST command, the one `client.list()` runs as
     * `LIST "" "*"` (plus its `LIST "" "INBOX"` when the reference is a personal prefix). Servers such as
     * Courier leave other namespaces ("#shared.") out of `LIST "" "*"`, and answer INBOX there as the
     * \Noselect root of "INBOX.", so each namespace is listed under its own prefix.
     */
    const listIn = async (
      reference: string,
      pattern: string,
      listOptions: ListOptions
    ): Promise<ReadonlyArray<unknown>> => {
      const run: unknown = Reflect.get(client, "run")
      if (typeof run !== "function")
        throw new Error("imapflow offers no LIST with a reference (ImapFlow.run is missing)")
      const entries: unknown = await Reflect.apply(run, client, ["LIST", reference, pattern, listOptions])
      if (!Array.isArray(entries))
        throw new Error(`LIST "${reference.slice(0, 200)}" "${pattern.slice(0, 200)}" returned no list`)
      return entries
    }

    const listMailboxes = (listOptions?: { readonly status?: boolean }) => {
      const imapOptions: ListOptions =
        listOptions?.status === true
          ? { statusQuery: { messages: true, unseen: true, uidNext: true, uidValidity: true, highestModseq: true } }
          : {}
      return call("list", async () => {
        // the personal namespace exactly as imapflow lists it: `LIST "INBOX." "*"` and `LIST "" "INBOX"`
        const entries: Array<unknown> = [
          ...(personalPrefix === "" ? await client.list(imapOptions) : await listIn(personalPrefix, "*", imapOptions))
        ]
        for (const prefix of foreignPrefixes) entries.push(...(await listIn("", `${prefix}*`, imapOptions)))
        return entries
      }).pipe(
        Effect.flatMap((entries) => Effect.forEach(entries, (entry) => Effect.fromResult(toMailboxInfo(entry)))),
        // a namespace that `LIST "" "*"` already showed is listed twice: the first answer counts
        Effect.map((infos) => {
          const seen = new Set<string>()
          return infos.filter((info) => {
            if (seen.has(info.path)) return false
            seen.add(info.path)
            return true
          })
        }),
        span("list")
      )
    }

    const openMailbox = (path: string, openOptions?: { readonly readOnly?: boolean }) => {
      const readOnly = openOptions?.readOnly ?? true
      return Effect.suspend(() => {
        // a fast-path lock on an already selected mailbox would report cached UIDNEXT/HIGHESTMODSEQ
        const alreadySelected =
          client.mailbox !== false &&
          client.mailbox.path === wire(path) &&
          (client.mailbox.readOnly === true) === readOnly
        return withMailbox("select", path, readOnly, async () => {
          if (alreadySelected) await client.mailboxOpen(wire(path), { readOnly })
          return currentState(path)
        })
      }).pipe(span("select", { "imap.mailbox": path, "imap.read_only": readOnly }))
    }

    const searchUids = (path: string) =>
      Effect.suspend(() =>
        withMailbox("search", path, readMode(path), async () => {
          const result = await client.search({ all: true }, { uid: true })
          if (result === false || result === undefined) throw new Error("UID SEARCH ALL was refused")
          return [...new Set(result)].sort((a, b) => a - b)
        })
      ).pipe(span("search", { "imap.mailbox": path }))

    const uidsInRange = (path: string, range: UidRange) => {
      const from = Math.max(1, Math.floor(range.from))
      const to = range.to === undefined ? undefined : Math.floor(range.to)
      if (to !== undefined && to < from) return Effect.succeed<ReadonlyArray<number>>([])
      return Effect.suspend(() =>
        withMailbox("search", path, readMode(path), async () => {
          const result = await client.search({ uid: `${from}:${to ?? "*"}` }, { uid: true })
          if (result === false || result === undefined) throw new Error("UID SEARCH was refused")
          // "n:*" always matches the newest message, even when its UID is below n
          const max = to ?? Number.POSITIVE_INFINITY
          return [...new Set(result)].filter((uid) => uid >= from && uid <= max).sort((a, b) => a - b)
        })
      ).pipe(span("search", { "imap.mailbox": path }))
    }

    const fetchSizes = (path: string, range: UidRange) => {
      const from = Math.max(1, Math.floor(range.from))
      const to = range.to === undefined ? undefined : Math.floor(range.to)
      if (to !== undefined && to < from) return Effect.succeed<ReadonlyArray<MessageSize>>([])
      const max = to ?? Number.POSITIVE_INFINITY
      return Effect.suspend(() =>
        withMailbox("fetch", path, readMode(path), async () => {
          const byUid = new Map<number, number | null>()
          if (client.mailbox !== false && client.mailbox.exists === 0) return []
          for await (const raw of client.fetch(`${from}:${to ?? "*"}`, { uid: true, size: true }, { uid: true })) {
            const message = orThrow(toFetchReport(path, raw))
            // "n:*" always matches the newest message, even when its UID is below n
            if (message.uid >= from && message.uid <= max) byUid.set(message.uid, message.size)
          }
          return [...byUid].map(([uid, size]): MessageSize => ({ uid, size })).sort((a, b) => a.uid - b.uid)
        })
      ).pipe(span("fetch_sizes", { "imap.mailbox": path }))
    }

    const fetchBatch = (path: string, uids: ReadonlyArray<number>, maxSourceBytes: number | undefined) =>
      Effect.suspend(() =>
        withMailbox("fetch", path, readMode(path), async () => {
          const byUid = new Map<number, FetchedMessage>()
          const query = {
            uid: true,
            flags: true,
            size: true,
            internalDate: true,
            source: maxSourceBytes === undefined ? true : { maxLength: maxSourceBytes }
          }
          let received = 0
          for await (const raw of client.fetch(compactUidSet(uids), query, { uid: true })) {
            const message = orThrow(toFetchReport(path, raw))
            received += message.source?.length ?? 0
            if (received > limits.maxFetchBytes) {
              // stop reading at once: whatever else the server sends is never buffered
              client.close()
              throw new ImapLimitExceeded({
                limit: "fetch",
                maxBytes: limits.maxFetchBytes,
                message: `the IMAP server sent more than ${limits.maxFetchBytes} bytes of messages for one UID FETCH of ${uids.length} messages in ${path} (more than their sizes announced); the connection was closed`
              })
            }
            mergeFetchedMessage(byUid, message)
          }
          return [...byUid.values()].sort((a, b) => a.uid - b.uid)
        })
      ).pipe(span("fetch", { "imap.mailbox": path, "imap.batch": uids.length }))

    const fetchMessages = (
      path: string,
      range: UidRange | ReadonlyArray<number>,
      fetchOptions: FetchMessagesOptions
    ): Stream.Stream<ReadonlyArray<FetchedMessage>, ImapError> => {
      const batchSize = Math.max(1, Math.floor(fetchOptions.batchSize))
      const uids = isUidList(range)
        ? Effect.succeed([...new Set(range)].filter((uid) => Number.isInteger(uid) && uid > 0).sort((a, b) => a - b))
        : uidsInRange(path, range)
      return Stream.unwrap(
        Effect.map(uids, (list) =>
          Stream.fromIterable(chunk(list, batchSize)).pipe(
            Stream.mapEffect((batch) => fetchBatch(path, batch, fetchOptions.maxSourceBytes)),
            Stream.filter((batch) => batch.length > 0)
          )
        )
      )
    }

    const flagChanges = (path: string, changedSince: bigint | null, collectVanished: boolean) =>
      Effect.suspend(() =>
        withMailbox("fetch", path, readMode(path), async () => {
          const byUid = new Map<number, FlagState>()
          const vanished = new Set<number>()
          vanishedCollector = collectVanished ? vanished : null
          try {
            const fetchOptions = changedSince === null ? { uid: true } : { uid: true, changedSince }
            // `*` is the highest UID still in the mailbox (RFC 3501), so `1:*` leaves out an expunged
            // highest UID and a strict server (Cyrus) then reports no VANISHED for it: name every UID
            const range = collectVanished ? "1:4294967295" : "1:*"
            for await (const raw of client.fetch(range, { uid: true, flags: true }, fetchOptions)) {
              const message = orThrow(toFetchReport(path, raw))
              // a message can be reported twice when its flags change during the fetch: keep the last
              byUid.set(message.uid, { uid: message.uid, flags: message.flags ?? [], modseq: message.modseq })
            }
          } finally {
            vanishedCollector = null
          }
          return {
            changed: [...byUid.values()].sort((a, b) => a.uid - b.uid),
            vanished: [...vanished].sort((a, b) => a - b)
          }
        })
      )

    const requireModseq = (command: string, modseq: string) => {
      const parsed = parseModseq(modseq)
      return parsed === null
        ? Effect.fail(new ImapProtocolError({ command, message: `not a modseq: ${modseq}`, serverResponseCode: null }))
        : Effect.succeed(parsed)
    }

    const condstoreMissing = (command: string) =>
      new ImapProtocolError({ command, message: "the server does not support CONDSTORE", serverResponseCode: null })

    const fetchFlags = (path: string, flagOptions?: { readonly changedSince?: string }) =>
      Effect.gen(function* () {
        const since = flagOptions?.changedSince
        if (since === undefined) return (yield* flagChanges(path, null, false)).changed
        if (!client.enabled.has("CONDSTORE")) return yield* condstoreMissing("fetchFlags")
        const modseq = yield* requireModseq("fetchFlags", since)
        return (yield* flagChanges(path, modseq, false)).changed
      }).pipe(span("fetch_flags", { "imap.mailbox": path }))

    const changesSince = (path: string, modseq: string) =>
      Effect.gen(function* () {
        if (!client.enabled.has("CONDSTORE")) return yield* condstoreMissing("changesSince")
        const since = yield* requireModseq("changesSince", modseq)
        const qresync = client.enabled.has("QRESYNC")
        const result = yield* flagChanges(path, since, qresync)
        return { changed: result.changed, vanished: qresync ? result.vanished : null }
      }).pipe(span("changes_since", { "imap.mailbox": path }))

    const vanishedSince = (path: string, modseq: string) =>
      Effect.gen(function* () {
        if (!client.enabled.has("QRESYNC")) {
          return yield* new ImapProtocolError({
            command: "vanishedSince",
            message: "the server does not support QRESYNC: compare searchUids() with the stored UIDs instead",
            serverResponseCode: null
          })
        }
        const since = yield* requireModseq("vanishedSince", modseq)
        return (yield* flagChanges(path, since, true)).vanished
      }).pipe(span("vanished_since", { "imap.mailbox": path }))

    /**
     * Why the server probably refused a change: it opened the selected folder READ-ONLY although we
     * asked for read-write (a folder shared with this account for reading). Empty when it did not.
     */
    const readOnlyReason = (): string =>
      client.mailbox !== false && client.mailbox.readOnly === true
        ? `: ${client.mailbox.path} is read-only for this account (the server opened it READ-ONLY)`
        : ""

    /** imapflow swallows the NO and its [TRYCREATE]: ask whether the destination exists. */
    const refusedOrMissing = async (command: string, destination: string): Promise<never> => {
      const exists = await client.status(wire(destination), { messages: true }).then(
        (status) => status !== false,
        () => false
      )
      throw exists
        ? new ImapProtocolError({
            command,
            message: `${command.toUpperCase()} to ${destination} was refused${readOnlyReason()}`,
            serverResponseCode: null
          })
        : new ImapMailboxMissing({ path: destination, message: `mailbox ${destination} does not exist` })
    }

    /** COPYUID pairs outside 1..2^32-1 are not UIDs: dropped. */
    const toUidMap = (pairs: Map<number, number> | undefined): ReadonlyMap<number, number> =>
      new Map(
        [...(pairs ?? [])].flatMap(([from, to]) => {
          const source = uid32(from)
          const target = uid32(to)
          return source === null || target === null ? [] : [[source, target] as const]
        })
      )

    /** UID MOVE (RFC 6851). */
    const nativeMove = (path: string, uids: ReadonlyArray<number>, destination: string) =>
      withMailbox("move", path, false, async () => {
        const result = await client.messageMove(compactUidSet(uids), wire(destination), { uid: true })
        if (result === false || result === undefined) return refusedOrMissing("move", destination)
        return {
          destinationUidValidity: uid32(result.uidValidity),
          uidMap: toUidMap(result.uidMap),
          unmapped: []
        } satisfies MoveResult
      })

    /** UIDs of the selected mailbox flagged \Deleted (UID SEARCH DELETED). */
    const deletedUids = async (): Promise<ReadonlyArray<number>> => {
      const found = await client.search({ deleted: true }, { uid: true })
      if (found === false || found === undefined) throw new Error("UID SEARCH DELETED was refused")
      return found
    }

    /** Message-ID of each message of `set` in the selected mailbox (null: none). */
    const selectedMessageIds = async (set: string): Promise<Map<number, string | null>> => {
      const messageIds = new Map<number, string | null>()
      for await (const raw of client.fetch(set, { uid: true, headers: ["message-id"] }, { uid: true })) {
        if (typeof raw.uid === "number") messageIds.set(raw.uid, messageIdOf(raw.headers))
      }
      return messageIds
    }

    /**
     * Without COPYUID: where copies of `sources` went in `destination`, by Message-ID among the
     * destination's UIDs at or above `uidNext` (its UIDNEXT from before the COPY). A source is mapped
     * only when its Message-ID is unique among the sources and among those new UIDs; the rest is
     * `unmapped`. A UID is never guessed.
     */
    const mapByMessageId = (
      destination: string,
      uidNext: number,
      sources: ReadonlyArray<number>,
      messageIds: ReadonlyMap<number, string | null>
    ) =>
      Effect.gen(function* () {
        const found = yield* withMailbox("fetch", destination, true, async () => {
          const byMessageId = new Map<string, Array<number>>()
          if (client.mailbox !== false && client.mailbox.exists === 0) return byMessageId
          for await (const raw of client.fetch(`${uidNext}:*`, { uid: true, headers: ["message-id"] }, { uid: true })) {
            // "n:*" always matches the newest message, even when its UID is below n
            if (typeof raw.uid !== "number" || raw.uid < uidNext) continue
            const id = messageIdOf(raw.headers)
            if (id !== null) byMessageId.set(id, [...(byMessageId.get(id) ?? []), raw.uid])
          }
          return byMessageId
        })
        const sourceIds = [...messageIds.values()]
        const uidMap = new Map<number, number>()
        const unmapped: Array<number> = []
        for (const uid of sources) {
          const id = messageIds.get(uid) ?? null
          const candidates = id === null ? [] : (found.get(id) ?? [])
          // one copy with this Message-ID, and only one of ours carries it: that is the message
          const target = candidates[0]
          if (target !== undefined && candidates.length === 1 && sourceIds.filter((x) => x === id).length === 1)
            uidMap.set(uid, target)
          else unmapped.push(uid)
        }
        return { uidMap, unmapped }
      })

    /**
     * Without MOVE: UID COPY, UID STORE +FLAGS (\Deleted), then UID EXPUNGE of exactly these UIDs
     * (UIDPLUS). Without UIDPLUS a plain EXPUNGE removes every \Deleted message of the folder, so it
     * runs only when UID SEARCH DELETED (same selected session, right before the COPY and again right
     * before the EXPUNGE) finds no other; otherwise nothing is expunged and `ImapUnsafeExpunge` says why.
     * Without UIDPLUS there is no COPYUID either: the destination UIDs are found by Message-ID among the
     * destination's UIDs at or above its UIDNEXT from before the COPY; what cannot be told apart that
     * way is listed in `unmapped` (moved, new UID unknown).
     */
    const copyMove = (path: string, uids: ReadonlyArray<number>, destination: string) =>
      Effect.gen(function* () {
        const uidplus = client.capabilities.has("UIDPLUS")
        const copied = yield* withMailbox("move", path, false, async () => {
          // only UIDs still there: a stale UID is reported missing by the caller, not copied or expunged
          const present = await client.search({ uid: compactUidSet(uids) }, { uid: true })
          if (present === false || present === undefined) throw new Error("UID SEARCH UID was refused")
          const wanted = new Set(uids)
          const moving = [...new Set(present)].filter((uid) => wanted.has(uid)).sort((a, b) => a - b)
          if (moving.length === 0) return { _tag: "none" } as const
          const set = compactUidSet(moving)
          const mine = new Set(moving)
          const others = async () => (await deletedUids()).filter((uid) => !mine.has(uid))
          /** Ours that were \Deleted already (another client's mark): kept if the move is called off. */
          let markedBefore: ReadonlySet<number> = new Set()
          if (!uidplus) {
            const deleted = await deletedUids()
            const before = deleted.filter((uid) => !mine.has(uid))
            if (before.length > 0) return { _tag: "unsafe", others: before.length, copied: false } as const
            markedBefore = new Set(deleted)
          }
          // without COPYUID: where the copies will start, and the Message-IDs that identify them
          const status = uidplus ? null : await client.status(wire(destination), { uidNext: true, uidValidity: true })
          const messageIds = uidplus ? new Map<number, string | null>() : await selectedMessageIds(set)
          const copy = await client.messageCopy(set, wire(destination), { uid: true })
          if (copy === false || copy === undefined) return refusedOrMissing("copy", destination)
          if (!(await client.messageFlagsAdd(set, ["\\Deleted"], { uid: true }))) {
            throw new Error(`UID STORE +FLAGS (\\Deleted) in ${path} was refused after the COPY to ${destination}`)
          }
          if (!uidplus) {
            const after = await others()
            if (after.length > 0) {
              // another client marked a message deleted meanwhile: ours are unmarked again, nothing expunged
              const unmark = moving.filter((uid) => !markedBefore.has(uid))
              if (unmark.length > 0)
                await client.messageFlagsRemove(compactUidSet(unmark), ["\\Deleted"], { uid: true })
              return { _tag: "unsafe", others: after.length, copied: true } as const
            }
          }
          // messageDelete: UID EXPUNGE <set> with UIDPLUS, plain EXPUNGE without (checked just above)
          if (!(await client.messageDelete(set, { uid: true }))) {
            throw new Error(`${uidplus ? "UID EXPUNGE" : "EXPUNGE"} in ${path} was refused after the COPY`)
          }
          return {
            _tag: "copied",
            moving,
            copyUidMap: toUidMap(copy.uidMap),
            copyUidValidity: uid32(copy.uidValidity),
            status: status === false ? null : status,
            messageIds
          } as const
        })
        if (copied._tag === "none") return { destinationUidValidity: null, uidMap: new Map(), unmapped: [] }
        if (copied._tag === "unsafe") {
          return yield* new ImapUnsafeExpunge({
            path,
            others: copied.others,
            message:
              `unsafe_expunge: the folder ${path} holds ${copied.others} other message${copied.others === 1 ? "" : "s"} marked deleted; ` +
              "expunging would remove them too (the server has neither MOVE nor UIDPLUS)" +
              (copied.copied ? `; a copy was already made in ${destination}, the original stays in ${path}` : "")
          })
        }
        if (uidplus) {
          return {
            destinationUidValidity: copied.copyUidValidity,
            uidMap: copied.copyUidMap,
            unmapped: copied.moving.filter((uid) => !copied.copyUidMap.has(uid))
          } satisfies MoveResult
        }
        const { uidMap, unmapped } = yield* mapByMessageId(
          destination,
          uid32(copied.status?.uidNext) ?? 1,
          copied.moving,
          copied.messageIds
        )
        return {
          destinationUidValidity: uid32(copied.status?.uidValidity),
          uidMap,
          unmapped
        } satisfies MoveResult
      })

    const moveMessages = (path: string, uids: ReadonlyArray<number>, destination: string) =>
      (uids.length === 0
        ? Effect.succeed<MoveResult>({ destinationUidValidity: null, uidMap: new Map(), unmapped: [] })
        : client.capabilities.has("MOVE")
          ? nativeMove(path, uids, destination)
          : copyMove(path, uids, destination)
      ).pipe(
        span("move", {
          "imap.mailbox": path,
          "imap.destination": destination,
          "imap.count": uids.length,
          "imap.move_strategy": client.capabilities.has("MOVE")
            ? "MOVE"
            : client.capabilities.has("UIDPLUS")
              ? "COPY+UID EXPUNGE"
              : "COPY+EXPUNGE"
        })
      )

    /**
     * UIDs in `destination` whose Message-ID header is exactly one of `ids` (UID SEARCH HEADER is a
     * substring match, so each hit's Message-ID is fetched and compared).
     */
    const uidsByMessageId = (destination: string, ids: ReadonlySet<string>) =>
      withMailbox("search", destination, true, async () => {
        const byId = new Map<string, number>()
        if (ids.size === 0 || (client.mailbox !== false && client.mailbox.exists === 0)) return byId
        const hits = new Set<number>()
        for (const id of ids) {
          const found = await client.search({ header: { "message-id": id } }, { uid: true })
          if (found === false || found === undefined) throw new Error("UID SEARCH HEADER Message-ID was refused")
          for (const uid of found) hits.add(uid)
        }
        if (hits.size === 0) return byId
        for (const [uid, id] of await selectedMessageIds(compactUidSet([...hits]))) {
          if (id !== null && ids.has(id) && !byId.has(id)) byId.set(id, uid)
        }
        return byId
      })

    /**
     * UID COPY for the copy rule action. Idempotent by Message-ID: a message whose Message-ID is
     * already in the destination is not copied again (`existing`); one without a Message-ID is not
     * copied (`withoutMessageId`), since a second run could not tell. The copy's UID comes from
     * COPYUID with UIDPLUS, else from `mapByMessageId` (the move fallback's helper).
     */
    const copyMessages = (path: string, uids: ReadonlyArray<number>, destination: string) =>
      Effect.gen(function* () {
        const empty: CopyResult = {
          destinationUidValidity: null,
          uidMap: new Map(),
          unmapped: [],
          existing: new Map(),
          withoutMessageId: []
        }
        if (uids.length === 0) return empty
        const uidplus = client.capabilities.has("UIDPLUS")
        const source = yield* withMailbox("copy", path, true, async () => {
          const present = await client.search({ uid: compactUidSet(uids) }, { uid: true })
          if (present === false || present === undefined) throw new Error("UID SEARCH UID was refused")
          const wanted = new Set(uids)
          const here = [...new Set(present)].filter((uid) => wanted.has(uid)).sort((a, b) => a - b)
          return here.length === 0 ? null : { here, messageIds: await selectedMessageIds(compactUidSet(here)) }
        })
        if (source === null) return empty
        const withoutMessageId = source.here.filter((uid) => (source.messageIds.get(uid) ?? null) === null)
        const ids = new Set(source.here.flatMap((uid) => source.messageIds.get(uid) ?? []))
        const there = yield* uidsByMessageId(destination, ids)
        const existing = new Map<number, number>()
        const copying: Array<number> = []
        for (const uid of source.here) {
          const id = source.messageIds.get(uid) ?? null
          if (id === null) continue
          const found = there.get(id)
          if (found === undefined) copying.push(uid)
          else existing.set(uid, found)
        }
        if (copying.length === 0) return { ...empty, existing, withoutMessageId }
        const copied = yield* withMailbox("copy", path, true, async () => {
          const status = uidplus ? null : await client.status(wire(destination), { uidNext: true, uidValidity: true })
          const copy = await client.messageCopy(compactUidSet(copying), wire(destination), { uid: true })
          if (copy === false || copy === undefined) return refusedOrMissing("copy", destination)
          return {
            uidMap: toUidMap(copy.uidMap),
            uidValidity: uid32(copy.uidValidity),
            status: status === false ? null : status
          }
        })
        if (uidplus) {
          return {
            destinationUidValidity: copied.uidValidity,
            uidMap: copied.uidMap,
            unmapped: copying.filter((uid) => !copied.uidMap.has(uid)),
            existing,
            withoutMessageId
          } satisfies CopyResult
        }
        const mapped = yield* mapByMessageId(
          destination,
          uid32(copied.status?.uidNext) ?? 1,
          copying,
          source.messageIds
        )
        return {
          destinationUidValidity: uid32(copied.status?.uidValidity),
          uidMap: mapped.uidMap,
          unmapped: mapped.unmapped,
          existing,
          withoutMessageId
        } satisfies CopyResult
      }).pipe(
        span("copy", {
          "imap.mailbox": path,
          "imap.destination": destination,
          "imap.count": uids.length,
          "imap.copy_uid_strategy": client.capabilities.has("UIDPLUS") ? "COPYUID" : "Message-ID"
        })
      )

    /** UID STORE +FLAGS (\Deleted) and an expunge of exactly these UIDs (see the interface). */
    const deleteMessages = (path: string, uids: ReadonlyArray<number>) =>
      Effect.gen(function* () {
        if (uids.length === 0) return []
        const uidplus = client.capabilities.has("UIDPLUS")
        const result = yield* withMailbox("expunge", path, false, async () => {
          const present = await client.search({ uid: compactUidSet(uids) }, { uid: true })
          if (present === false || present === undefined) throw new Error("UID SEARCH UID was refused")
          const wanted = new Set(uids)
          const removing = [...new Set(present)].filter((uid) => wanted.has(uid)).sort((a, b) => a - b)
          if (removing.length === 0) return { _tag: "done", removed: removing } as const
          const set = compactUidSet(removing)
          const mine = new Set(removing)
          let markedBefore: ReadonlySet<number> = new Set()
          if (!uidplus) {
            const deleted = await deletedUids()
            const before = deleted.filter((uid) => !mine.has(uid))
            if (before.length > 0) return { _tag: "unsafe", others: before.length } as const
            markedBefore = new Set(deleted)
          }
          if (!(await client.messageFlagsAdd(set, ["\\Deleted"], { uid: true }))) {
            throw new Error(`UID STORE +FLAGS (\\Deleted) in ${path} was refused${readOnlyReason()}`)
          }
          if (!uidplus) {
            const after = (await deletedUids()).filter((uid) => !mine.has(uid))
            if (after.length > 0) {
              const unmark = removing.filter((uid) => !markedBefore.has(uid))
              if (unmark.length > 0)
                await client.messageFlagsRemove(compactUidSet(unmark), ["\\Deleted"], { uid: true })
              return { _tag: "unsafe", others: after.length } as const
            }
          }
          if (!(await client.messageDelete(set, { uid: true }))) {
            throw new Error(`${uidplus ? "UID EXPUNGE" : "EXPUNGE"} in ${path} was refused`)
          }
          return { _tag: "done", removed: removing } as const
        })
        if (result._tag === "unsafe") {
          return yield* new ImapUnsafeExpunge({
            path,
            others: result.others,
            message:
              `unsafe_expunge: the folder ${path} holds ${result.others} other message${result.others === 1 ? "" : "s"} marked deleted; ` +
              "expunging would remove them too (the server has no UIDPLUS); nothing was removed"
          })
        }
        return result.removed
      }).pipe(span("expunge", { "imap.mailbox": path, "imap.count": uids.length }))

    const setFlags = (
      path: string,
      uids: ReadonlyArray<number>,
      add: ReadonlyArray<string>,
      remove: ReadonlyArray<string>
    ) =>
      (uids.length === 0 || (add.length === 0 && remove.length === 0)
        ? Effect.void
        : withMailbox("store", path, false, async () => {
            const set = compactUidSet(uids)
            if (add.length > 0 && !(await client.messageFlagsAdd(set, [...add], { uid: true }))) {
              throw new Error(`STORE +FLAGS ${add.join(" ")} was refused${readOnlyReason()}`)
            }
            if (remove.length > 0 && !(await client.messageFlagsRemove(set, [...remove], { uid: true }))) {
              throw new Error(`STORE -FLAGS ${remove.join(" ")} was refused${readOnlyReason()}`)
            }
          })
      ).pipe(span("store", { "imap.mailbox": path, "imap.count": uids.length }))

    const append = (
      path: string,
      source: string | Uint8Array,
      appendOptions?: { readonly flags?: ReadonlyArray<string>; readonly internalDate?: Date }
    ) =>
      call(
        "append",
        async () => {
          const result = await client.append(
            wire(path),
            source,
            [...(appendOptions?.flags ?? [])],
            appendOptions?.internalDate
          )
          if (result === false) throw new Error(`APPEND to ${path} was refused`)
          return { uid: uid32(result.uid), uidValidity: uid32(result.uidValidity) } satisfies AppendResult
        },
        path
      ).pipe(missingOnTryCreate(path), span("append", { "imap.mailbox": path }))

    const session: ImapSession = {
      capabilities: new Set(client.capabilities.keys()),
      supportsQresync: client.enabled.has("QRESYNC"),
      supportsCondstore: client.enabled.has("CONDSTORE"),
      enabled: new Set(client.enabled),
      serverId: idOf(client.serverInfo),
      namespace: personal === null ? null : { prefix: personal.prefix ?? "", delimiter: personal.delimiter ?? null },
      isConnected: Effect.sync(() => client.usable && !client.isClosed),
      close: Effect.sync(() => client.close()),
      noop: call("noop", async () => {
        // imapflow's noop() resolves whatever happened; its NOOP command answers false on a failure
        const run: unknown = Reflect.get(client, "run")
        if (typeof run !== "function") throw new Error("imapflow offers no NOOP command (ImapFlow.run is missing)")
        const answered: unknown = await Reflect.apply(run, client, ["NOOP"])
        if (answered !== true || !client.usable || client.isClosed)
          throw new Error("NOOP failed: the connection is closed")
      }).pipe(span("noop")),
      unselect: call("unselect", async () => {
        const selected = (): boolean => client.mailbox !== false
        if (!selected()) return true
        // imapflow's CLOSE command with `unselect` sends UNSELECT when the server offers it and CLOSE
        // otherwise: it only runs when the server announces UNSELECT itself, so CLOSE is never sent
        if (!client.capabilities.has("UNSELECT")) return false
        const run: unknown = Reflect.get(client, "run")
        if (typeof run !== "function") throw new Error("imapflow offers no UNSELECT (ImapFlow.run is missing)")
        const answered: unknown = await Reflect.apply(run, client, ["CLOSE", { unselect: true }])
        // true: UNSELECT answered OK, and imapflow reset its selected mailbox and state
        return answered === true && !selected() && client.usable && !client.isClosed
      }).pipe(span("unselect")),
      listMailboxes,
      openMailbox,
      fetchMessages,
      fetchSizes,
      fetchFlags,
      vanishedSince,
      changesSince,
      searchUids,
      moveMessages,
      copyMessages,
      deleteMessages,
      setFlags,
      append
    }
    return session
  })

/** imapflow's `serverInfo` (the ID answer): only its string name and version. */
const idOf = (info: ImapFlow["serverInfo"]): ImapSession["serverId"] =>
  info === null || info === undefined
    ? null
    : {
        name: typeof info.name === "string" ? info.name : null,
        version: typeof info.version === "string" ? info.version : null
      }

/** NO [TRYCREATE] means the target mailbox does not exist. */
const missingOnTryCreate =
  (path: string) =>
  <A>(effect: Effect.Effect<A, ImapError>): Effect.Effect<A, ImapError> =>
    Effect.catchTag(effect, "ImapProtocolError", (error) =>
      Effect.fail(
        error.serverResponseCode === "TRYCREATE" ? new ImapMailboxMissing({ path, message: error.message }) : error
      )
    )

/** The Message-ID from a fetched header block (unfolded, trimmed); null when absent. */
const messageIdOf = (headers: Buffer | undefined): string | null => {
  if (headers === undefined) return null
  const match = /^message-id:[ \t]*(.*)$/im.exec(headers.toString("utf8").replace(/\r?\n[ \t]+/g, " "))
  const value = match?.[1]?.trim()
  return value === undefined || value === "" ? null : value
}

const isUidList = (range: UidRange | ReadonlyArray<number>): range is ReadonlyArray<number> => Array.isArray(range)

/** Inside imapflow callbacks: a decoding failure rejects the call (mapped back unchanged by toImapError). */
const orThrow = <A>(result: Result.Result<A, ImapProtocolError>): A => {
  if (Result.isFailure(result)) throw result.failure
  return result.success
}

/**
 * Keeps one entry per UID: the one carrying the source, with the newest flags seen. imapflow can
 * report a UID twice in one FETCH when another session changes its flags meanwhile.
 */
export const mergeFetchedMessage = (byUid: Map<number, FetchedMessage>, message: FetchReport): void => {
  const previous = byUid.get(message.uid)
  const flags = message.flags ?? previous?.flags ?? []
  const modseq = message.modseq ?? previous?.modseq ?? null
  if (message.source === null) {
    if (previous !== undefined) byUid.set(message.uid, { ...previous, flags, modseq })
    return
  }
  const size = message.size ?? previous?.size ?? message.source.length
  byUid.set(message.uid, {
    uid: message.uid,
    flags,
    size,
    internalDate: message.internalDate ?? previous?.internalDate ?? null,
    source: message.source,
    modseq,
    truncated: message.source.length < size
  })
}

/** LOGOUT when the connection still works (bounded), otherwise just close the socket. */
const closeClient = (client: ImapFlow): Effect.Effect<void> =>
  Effect.suspend(() => {
    if (!client.usable || client.isClosed) return Effect.sync(() => client.close())
    return Effect.tryPromise(() => client.logout()).pipe(
      Effect.timeout("2 seconds"),
      Effect.ignore,
      Effect.ensuring(Effect.sync(() => client.close()))
    )
  })
