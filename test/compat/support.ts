/**
 * The IMAP compatibility matrix (issue 12): for one server, each mailbox shape gets its own IMAP
 * user and mail-helper account; the product's real sync path (POST /accounts/:id/sync -> the
 * mail.sync job on the in-process worker) runs after each operation, and what it stored is
 * compared with what the server itself reports through a second, independent IMAP session
 * (imapflow directly): selectable mailboxes, UIDVALIDITY, UIDs, flags, Message-IDs and, for 8-bit
 * headers, the Subject. Every cell's outcome and the strategy the product uses on that server are
 * written to .tmp/compat-matrix/<server>.json; `npm run compat:doc` turns those files into
 * docs/compatibility.md.
 *
 * A cell that fails because of a known product defect is listed in the server's `knownDefects`:
 * the test then asserts that it still fails with that defect's message (a documented, tested
 * degradation) and fails itself once the defect is fixed, so the expectation gets updated.
 */
import { NodeHttpServer } from "@effect/platform-node"
import { assert, layer } from "@effect/vitest"
import { Context, Effect, Layer, Redacted, Schema } from "effect"
import { HttpRouter } from "effect/http"
import { ImapFlow } from "imapflow"
import * as fs from "node:fs"
import { execFile } from "node:child_process"
import * as net from "node:net"
import * as path from "node:path"
import { promisify } from "node:util"
import { JobsLive, PlatformLive } from "../../src/main/layers.ts"
import { WorkerLive } from "../../src/main/workerLayers.ts"
import { Imap } from "../../src/imap/Imap.ts"
import { SyncLive } from "../../src/sync/SyncLive.ts"
import { publicMailbox, startDovecot, type StartDovecotOptions } from "../harness/dovecot.ts"
import {
  CYRUS_ADMIN,
  startCourier,
  startCyrus,
  type TestImapServer,
  type TestImapUser
} from "../harness/imapServers.ts"
import { configLayer, makeTestEnv } from "../harness/TestEnv.ts"
import { CompatHttpLive, ruleActionsCheck, ruleActionsUser } from "./ruleActions.ts"
import { api, baseUrl, Env, field, OwnerDb, ownerDbLayer, ownerQuery, terminal, waitForJob } from "../sync/support.ts"

// ---------------------------------------------------------------------------------------------
// servers

export interface CompatServer extends TestImapServer {
  /** Raises the next UID of a mailbox (for "a large first UID"); absent where the server has no way. */
  readonly setMinNextUid?: (user: string, mailbox: string, uid: number) => Promise<void>
  /** Human-readable server name and version, for the doc. */
  readonly product: string
  /**
   * Creates (if missing) a folder another account owns and shares with `reader` for reading only
   * (lookup + read); absent where the server has no shared folders in this configuration.
   */
  readonly shareReadOnly?: (reader: string, name: string) => Promise<ReadOnlyShare>
}

export interface ReadOnlyShare {
  /** The folder's path as the reader lists it. */
  readonly readerPath: string
  /** The folder's path as its owner names it. */
  readonly ownerPath: string
  /** Runs `run` in a session of the folder's owner. */
  readonly asOwner: <A>(run: (client: ImapFlow) => Promise<A>) => Promise<A>
  /** Renames the folder (its ACL goes with it) to `<name>-renamed`, as its owner or an administrator can. */
  readonly renameAway: () => Promise<void>
}

export interface CompatTarget {
  /** File name of the matrix JSON, e.g. "dovecot-minimal". */
  readonly id: string
  readonly label: string
  readonly start: (users: ReadonlyArray<TestImapUser>) => Promise<CompatServer>
  /** shape -> the defect that makes its cells fail today (see the file's header). */
  readonly knownDefects?: KnownDefects
}

export interface KnownDefect {
  /** Text the failing cell's detail must contain (so another failure is not taken for this one). */
  readonly match: string
  /** The product defect, for the doc and the report. */
  readonly reason: string
}
export type KnownDefects = Partial<Record<ShapeId, KnownDefect>>

const dovecotTarget =
  (id: string, label: string, options: StartDovecotOptions) =>
  (knownDefects?: KnownDefects): CompatTarget => ({
    id,
    label,
    ...(knownDefects === undefined ? {} : { knownDefects }),
    start: async (users) => {
      const owner = { user: "compatowner", pass: "Compat-owner-pw1" }
      const server = await startDovecot({
        ...options,
        users: options.publicNamespace === true ? [...users, owner] : users
      })
      const separator = options.namespace?.separator ?? "/"
      return {
        kind: "dovecot",
        product: "Dovecot 2.3 (Debian dovecot-imapd)",
        host: server.host,
        port: server.port,
        root: server.root,
        stop: server.stop,
        setMinNextUid: async (user, mailbox, uid) => {
          await server.doveadm(["mailbox", "update", "-u", user, "--min-next-uid", String(uid), mailbox])
        },
        ...(options.publicNamespace === true
          ? {
              // a public folder: full rights for its owner, lookup + read for the reader only
              shareReadOnly: async (reader: string, name: string) => {
                publicMailbox(server.root, name, [`user=${owner.user} lrwstipekxa`, `user=${reader} lr`])
                const folder = `Public${separator}${name}`
                return {
                  readerPath: folder,
                  ownerPath: folder,
                  // the public namespace is not the owner's personal one: its path goes out as given
                  asOwner: <A>(run: (client: ImapFlow) => Promise<A>) =>
                    withClient(server, owner, (client) => {
                      foreignAware(client)
                      return run(client)
                    }),
                  // the namespace root has no ACL that allows RENAME: an administrator renames the folder on
                  // disk, and ends the reader's sessions, as a change of the mail store behind Dovecot needs:
                  // a logged-in session does not see it in LIST (the public namespace's list is the session's;
                  // measured: not after 31 s, not after UNSELECT or NOOP), only a new login does. The reader's
                  // session may be one mail-helper keeps between jobs (IMAP_SESSION_IDLE_MS); with none open,
                  // doveadm kick exits non-zero, which is no failure here
                  renameAway: async () => {
                    const dir = path.join(server.root, "public")
                    fs.renameSync(path.join(dir, `.${name}`), path.join(dir, `.${name}-renamed`))
                    await server.doveadm(["kick", reader]).catch(() => "no session to end")
                  }
                }
              }
            }
          : {})
      }
    }
  })

const execFileAsync = promisify(execFile)

/**
 * Cyrus has no "next UID" setting, but `reconstruct` adopts a message file found in the mailbox's
 * spool directory under its own UID: a file `<uid - 1>.` is reconstructed into the index, then
 * expunged, so the next APPEND gets `uid`. The mailbox must be empty (the seed calls this right
 * after CREATE). Cyrus accepts any password in the harness, so the user's session needs none.
 */
/** RFC 3501 modified UTF-7, as a client without UTF8=ACCEPT sends a mailbox name. */
export const toModifiedUtf7 = (name: string): string =>
  name.replace(/&|[^\x20-\x7e]+/g, (run) => {
    if (run === "&") return "&-"
    const utf16 = Buffer.from(run, "utf16le").swap16()
    return `&${utf16.toString("base64").replace(/=+$/, "").replaceAll("/", ",")}-`
  })

/** Logs in and runs each command on a plain socket; throws unless every one is answered OK. */
const rawImap = (
  server: { readonly host: string; readonly port: number },
  user: TestImapUser,
  commands: ReadonlyArray<string>
): Promise<ReadonlyArray<string>> =>
  new Promise((resolve, reject) => {
    const socket = net.connect(server.port, server.host)
    const lines = [`LOGIN ${user.user} "${user.pass}"`, ...commands, "LOGOUT"]
    const untagged: Array<string> = []
    let buffer = ""
    let sent = -1
    const next = () => {
      sent++
      const line = lines[sent]
      if (line !== undefined) socket.write(`t${sent} ${line}\r\n`)
    }
    socket.setTimeout(10_000, () => socket.destroy(new Error(`raw IMAP timed out after ${lines[sent]}`)))
    socket.on("error", reject)
    socket.on("close", () =>
      sent >= lines.length - 1 ? resolve(untagged) : reject(new Error("raw IMAP: connection closed"))
    )
    socket.on("data", (chunk) => {
      buffer += chunk.toString("utf8")
      for (;;) {
        const end = buffer.indexOf("\r\n")
        if (end < 0) break
        const line = buffer.slice(0, end)
        buffer = buffer.slice(end + 2)
        if (sent === -1 && line.startsWith("* OK")) next()
        else if (line.startsWith("* ")) untagged.push(line)
        if (sent === -1) continue
        if (line.startsWith(`t${sent} `)) {
          if (!line.startsWith(`t${sent} OK`) && sent < lines.length - 1) {
            socket.destroy()
            reject(new Error(`${lines[sent]?.split(" ")[0]}: ${line}`))
            return
          }
          next()
        }
      }
    })
  })

/** A shared folder (Cyrus "Shared Folders/<name>") owned by the admin, ACL `lr` for the reader. */
const cyrusShareReadOnly = (server: TestImapServer) => async (reader: string, name: string) => {
  const asOwner = <A>(run: (client: ImapFlow) => Promise<A>) =>
    withClient(server, { user: CYRUS_ADMIN, pass: "any" }, run)
  await asOwner(async (client) => {
    const exists = (await client.list()).some((entry) => entry.path === name)
    if (!exists) await client.mailboxCreate(name)
  })
  // imapflow has no SETACL: a raw admin session (Cyrus accepts any password in the harness)
  await rawImap(server, { user: CYRUS_ADMIN, pass: "any" }, [
    `SETACL "${name}" ${CYRUS_ADMIN} lrswipkxtea`,
    `SETACL "${name}" ${reader} lr`
  ])
  return {
    readerPath: `Shared Folders/${name}`,
    ownerPath: name,
    asOwner,
    renameAway: () => asOwner((client) => client.mailboxRename(name, `${name}-renamed`)).then(() => undefined)
  }
}

const cyrusMinNextUid = (server: TestImapServer) => async (user: string, mailbox: string, uid: number) => {
  const conf = path.join(server.root, "imapd.conf")
  const { stdout } = await execFileAsync("/usr/lib/cyrus/bin/mbpath", ["-C", conf, `user/${user}/${mailbox}`])
  const dir = stdout.trim()
  const file = path.join(dir, `${uid - 1}.`)
  fs.writeFileSync(file, `Message-ID: <placeholder.${uid - 1}@compat.test>\r\nSubject: placeholder\r\n\r\nx\r\n`)
  const owner = fs.statSync(dir)
  fs.chownSync(file, owner.uid, owner.gid)
  await execFileAsync("su", [
    "-s",
    "/bin/sh",
    "cyrus",
    "-c",
    `/usr/lib/cyrus/bin/reconstruct -C '${conf}' 'user/${user}/${mailbox}'`
  ])
  await withClient(server, { user, pass: "any" }, async (client) => {
    await client.mailboxOpen(mailbox)
    const uids = (await client.search({ all: true }, { uid: true })) || []
    if (uids.join(",") !== String(uid - 1))
      throw new Error(`cyrus reconstruct left UIDs ${uids.join(",")} in ${mailbox}`)
    await client.messageDelete(String(uid - 1), { uid: true })
    await client.mailboxClose()
  })
}

/**
 * Courier keeps a folder's UIDVALIDITY and next UID in the first line of its `courierimapuiddb`
 * (`1 <uidvalidity> <nextuid>`), read at each SELECT: rewritten before the folder is first opened,
 * the next APPEND gets `uid`.
 */
const courierMinNextUid = (server: TestImapServer) => async (user: string, mailbox: string, uid: number) => {
  const folder = mailbox.replace(/^INBOX\./, "")
  const file = path.join(server.root, "mail", user, "Maildir", `.${folder}`, "courierimapuiddb")
  const [first = "", ...rest] = fs.readFileSync(file, "utf8").split("\n")
  const [version, uidValidity] = first.split(" ")
  if (version !== "1" || uidValidity === undefined || rest.some((line) => line.trim() !== "")) {
    throw new Error(`unexpected courierimapuiddb in ${mailbox}: ${JSON.stringify(first)}`)
  }
  fs.writeFileSync(file, `1 ${uidValidity} ${uid}\n`)
}

const COURIER_OWNER: TestImapUser = { user: "compatowner", pass: "Compat-owner-pw1" }

/**
 * A Courier virtual shared folder: the owner's INBOX.<name> with ACL `lr` for the reader (IMAP_ACL=1
 * in the harness), the owner's maildir listed in the shared index (ETC/shared/index, read at each
 * login), so the reader finds it as #shared.<owner>.<name>.
 */
const courierShareReadOnly = (server: TestImapServer) => async (reader: string, name: string) => {
  const home = path.join(server.root, "mail", COURIER_OWNER.user)
  fs.writeFileSync(
    path.join(server.root, "etc", "shared", "index"),
    `${COURIER_OWNER.user}\t65534\t65534\t${home}\tMaildir\n`
  )
  const ownerPath = `INBOX.${name}`
  const asOwner = <A>(run: (client: ImapFlow) => Promise<A>) => withClient(server, COURIER_OWNER, run)
  await asOwner(async (client) => {
    const exists = (await client.list()).some((entry) => entry.path === ownerPath)
    if (!exists) await client.mailboxCreate(ownerPath)
  })
  // imapflow has no SETACL; Courier takes the bare login name as the identifier
  await rawImap(server, COURIER_OWNER, [`SETACL "${ownerPath}" ${reader} lr`])
  return {
    readerPath: `#shared.${COURIER_OWNER.user}.${name}`,
    ownerPath,
    asOwner,
    renameAway: () => asOwner((client) => client.mailboxRename(ownerPath, `${ownerPath}-renamed`)).then(() => undefined)
  }
}

export const targets = {
  dovecotDefault: dovecotTarget("dovecot-default", "Dovecot, default settings (every extension)", {
    publicNamespace: true
  }),
  dovecotMinimal: dovecotTarget(
    "dovecot-minimal",
    "Dovecot, minimal IMAP4rev1 (imap_capability = IMAP4rev1, no special-use)",
    { capabilities: ["IMAP4rev1"], specialUse: false, publicNamespace: true }
  ),
  dovecotInboxPrefix: dovecotTarget("dovecot-inbox-prefix", 'Dovecot, namespace prefix "INBOX." with "." separator', {
    namespace: { prefix: "INBOX.", separator: "." },
    publicNamespace: true
  }),
  dovecotGmail: dovecotTarget(
    "dovecot-gmail",
    "Dovecot, Gmail-like layout ([Gmail]/All Mail holds every message again, virtual plugin)",
    { gmailLike: true, publicNamespace: true }
  ),
  cyrus: (knownDefects?: KnownDefects): CompatTarget => ({
    id: "cyrus",
    label: "Cyrus IMAP 3.6 (Debian cyrus-imapd)",
    ...(knownDefects === undefined ? {} : { knownDefects }),
    start: async (users) => {
      const server = await startCyrus({ users })
      return {
        ...server,
        product: "Cyrus IMAP 3.6.1 (Debian cyrus-imapd)",
        setMinNextUid: cyrusMinNextUid(server),
        shareReadOnly: cyrusShareReadOnly(server)
      }
    }
  }),
  courier: (knownDefects?: KnownDefects): CompatTarget => ({
    id: "courier",
    label: "Courier IMAP 5.0 (Debian courier-imap)",
    ...(knownDefects === undefined ? {} : { knownDefects }),
    start: async (users) => {
      const server = await startCourier({ users: [...users, COURIER_OWNER] })
      return {
        ...server,
        product: "Courier-IMAP 5.0.13 (Debian courier-imap)",
        setMinNextUid: courierMinNextUid(server),
        shareReadOnly: courierShareReadOnly(server)
      }
    }
  })
}

export class ServerUnderTest extends Context.Service<ServerUnderTest, CompatServer>()("test/compat/ServerUnderTest") {}

/** API + in-process worker over this file's database and Redis prefix, the server under test, an owner connection. */
export const compatLayer = (target: CompatTarget, users: ReadonlyArray<TestImapUser>) =>
  Layer.unwrap(
    Effect.map(makeTestEnv({}), (env) => {
      const http = HttpRouter.serve(CompatHttpLive, { disableLogger: true, disableListenLog: true }).pipe(
        Layer.provideMerge(NodeHttpServer.layerTest)
      )
      const server = Layer.effect(
        ServerUnderTest,
        Effect.acquireRelease(
          Effect.promise(() => target.start(users)),
          (started) => Effect.promise(() => started.stop())
        )
      )
      return Layer.mergeAll(http, Layer.succeed(Env, env), ownerDbLayer(env), server, WorkerLive).pipe(
        Layer.provideMerge(SyncLive),
        Layer.provideMerge(JobsLive),
        Layer.provideMerge(PlatformLive),
        Layer.provide(configLayer(env))
      )
    })
  )

// ---------------------------------------------------------------------------------------------
// the second, independent session

const withClient = async <A>(
  server: { readonly host: string; readonly port: number },
  user: TestImapUser,
  run: (client: ImapFlow) => Promise<A>
) => {
  const client = new ImapFlow({
    host: server.host,
    port: server.port,
    secure: false,
    auth: { user: user.user, pass: user.pass },
    logger: false,
    disableAutoIdle: true
  })
  await client.connect()
  try {
    return await run(client)
  } finally {
    await client.logout().catch(() => client.close())
  }
}

/**
 * imapflow puts its personal namespace prefix (`client.namespace.prefix`, "INBOX." on Courier) in front of
 * every path that lacks it, so a folder in another namespace ("Public.x", "#shared.owner.x") cannot be
 * opened. As src/imap/Imap.ts does, the client gets an empty personal prefix: every path then goes out as
 * given, and callers pass full paths (as listed, or with the returned personal prefix added). Returns the
 * personal prefix the server announced and the other/shared namespace prefixes.
 */
const foreignAware = (client: ImapFlow): { readonly personal: string; readonly foreign: ReadonlyArray<string> } => {
  const personal = client.namespace?.prefix ?? ""
  const prefixes = (kind: "other" | "shared"): ReadonlyArray<string> => {
    const entries = client.namespaces?.[kind]
    return entries === undefined || entries === false
      ? []
      : entries.map((entry) => entry.prefix).filter((prefix) => prefix !== "")
  }
  if (client.namespace !== undefined && personal !== "") client.namespace = { ...client.namespace, prefix: "" }
  return { personal, foreign: [...prefixes("other"), ...prefixes("shared")] }
}

/** `LIST "" "<pattern>"` through imapflow's own LIST command (`client.list()` has no pattern). */
const listPattern = async (client: ImapFlow, pattern: string): Promise<Awaited<ReturnType<ImapFlow["list"]>>> => {
  const run: unknown = Reflect.get(client, "run")
  if (typeof run !== "function") throw new Error("imapflow offers no LIST with a pattern (ImapFlow.run is missing)")
  const entries: unknown = await Reflect.apply(run, client, ["LIST", "", pattern, {}])
  if (!Array.isArray(entries)) throw new Error(`LIST "" "${pattern}" returned no list`)
  return entries.filter(
    (entry): entry is Awaited<ReturnType<ImapFlow["list"]>>[number] =>
      typeof entry === "object" &&
      entry !== null &&
      "path" in entry &&
      typeof entry.path === "string" &&
      "flags" in entry &&
      entry.flags instanceof Set
  )
}

export interface ServerMessage {
  readonly uid: number
  readonly flags: ReadonlyArray<string>
  readonly messageId: string | null
  /** The Subject header's bytes as the server returns them, read as UTF-8 and unfolded. */
  readonly rawSubject: string | null
}

export interface ServerView {
  readonly capabilities: ReadonlyArray<string>
  readonly enabled: ReadonlyArray<string>
  readonly namespace: { readonly prefix: string; readonly delimiter: string }
  readonly listed: ReadonlyArray<{ path: string; flags: ReadonlyArray<string>; subscribed: boolean | undefined }>
  readonly mailboxes: ReadonlyMap<string, { uidValidity: number; messages: ReadonlyArray<ServerMessage> }>
}

const headerValue = (headers: Buffer | undefined, name: string): string | null => {
  if (headers === undefined) return null
  const text = headers.toString("utf8").replace(/\r?\n[ \t]+/g, " ")
  const match = new RegExp(`^${name}:[ \\t]*(.*)$`, "im").exec(text)
  return match?.[1] === undefined ? null : match[1].trim()
}

const isSelectable = (flags: ReadonlyArray<string>) =>
  !flags.some((flag) => ["\\noselect", "\\nonexistent"].includes(flag.toLowerCase()))

export const serverView = (server: CompatServer, user: TestImapUser): Promise<ServerView> =>
  withClient(server, user, async (client) => {
    const namespace = { prefix: client.namespace?.prefix ?? "", delimiter: client.namespace?.delimiter ?? "/" }
    // the personal namespace as imapflow lists it, then each other/shared namespace under its own prefix
    // (Courier leaves "#shared." out of LIST "" "*"); listed paths are full, so they are opened as listed
    const listed = [...(await client.list())]
    const { foreign } = foreignAware(client)
    for (const prefix of foreign) {
      for (const entry of await listPattern(client, `${prefix}*`)) {
        if (!listed.some((known) => known.path === entry.path)) listed.push(entry)
      }
    }
    const mailboxes = new Map<string, { uidValidity: number; messages: Array<ServerMessage> }>()
    for (const entry of listed) {
      if (!isSelectable([...entry.flags])) continue
      const opened = await client.mailboxOpen(entry.path, { readOnly: true })
      const messages: Array<ServerMessage> = []
      if (opened.exists > 0) {
        for await (const message of client.fetch(
          "1:*",
          { uid: true, flags: true, headers: ["message-id", "subject"] },
          { uid: false }
        )) {
          if (messages.some((known) => known.uid === message.uid)) continue
          messages.push({
            uid: message.uid,
            flags: [...(message.flags ?? [])].filter((flag) => flag !== "\\Recent").sort(),
            messageId: headerValue(message.headers, "message-id"),
            rawSubject: headerValue(message.headers, "subject")
          })
        }
      }
      mailboxes.set(entry.path, {
        uidValidity: Number(opened.uidValidity),
        messages: messages.sort((a, b) => a.uid - b.uid)
      })
    }
    return {
      capabilities: [...client.capabilities.keys()].sort(),
      enabled: [...client.enabled].sort(),
      namespace,
      listed: listed.map((entry) => ({ path: entry.path, flags: [...entry.flags], subscribed: entry.subscribed })),
      mailboxes
    }
  })

// ---------------------------------------------------------------------------------------------
// what the product stored

const StoredMailbox = Schema.Struct({
  path: Schema.String,
  selectable: Schema.Boolean,
  uid_validity: Schema.NullOr(Schema.Number)
})
const StoredMessage = Schema.Struct({
  path: Schema.String,
  uid: Schema.Number,
  flags: Schema.Array(Schema.String),
  message_id: Schema.NullOr(Schema.String),
  subject: Schema.NullOr(Schema.String)
})

const storedView = (accountId: string) =>
  Effect.gen(function* () {
    const mailboxes = yield* ownerQuery(
      StoredMailbox,
      (sql) =>
        sql`SELECT path, selectable, uid_validity::float8 AS uid_validity FROM mailboxes WHERE account_id = ${accountId}`
    )
    const messages = yield* ownerQuery(
      StoredMessage,
      (sql) => sql`
        SELECT m.path, e.uid::float8 AS uid, e.flags, e.message_id, e.subject
        FROM emails e JOIN mailboxes m ON m.id = e.mailbox_id
        WHERE e.account_id = ${accountId} ORDER BY m.path, e.uid`
    )
    return { mailboxes, messages }
  })

/** Differences between the server's view and what was stored; empty when they agree. */
const compare = (
  server: ServerView,
  stored: Effect.Success<ReturnType<typeof storedView>>,
  options: { readonly subjects: boolean }
): { problems: Array<string>; notes: Array<string> } => {
  const problems: Array<string> = []
  const notes: Array<string> = []
  const storedSelectable = new Set(stored.mailboxes.filter((m) => m.selectable).map((m) => m.path))
  const serverSelectable = new Set(server.mailboxes.keys())
  for (const path of serverSelectable) if (!storedSelectable.has(path)) problems.push(`mailbox ${path} not stored`)
  for (const path of storedSelectable) if (!serverSelectable.has(path)) problems.push(`mailbox ${path} stored but gone`)
  for (const [path, mailbox] of server.mailboxes) {
    const row = stored.mailboxes.find((m) => m.path === path)
    const mine = stored.messages.filter((m) => m.path === path)
    if (row !== undefined && row.uid_validity !== mailbox.uidValidity) {
      // an empty mailbox has no UIDs to invalidate: the next sync adopts the new value (Courier gives a
      // never-written empty INBOX a new UIDVALIDITY in each session)
      if (mine.length === 0 && mailbox.messages.length === 0) {
        notes.push(`${path}: the server gave the empty mailbox a new UIDVALIDITY after the sync (harmless: no UIDs)`)
      } else {
        problems.push(`${path}: UIDVALIDITY stored ${row.uid_validity}, server ${mailbox.uidValidity}`)
      }
    }
    const byUid = new Map(mine.map((m) => [m.uid, m]))
    if (mine.length !== mailbox.messages.length) {
      problems.push(`${path}: ${mine.length} stored, ${mailbox.messages.length} on the server`)
    }
    for (const message of mailbox.messages) {
      const email = byUid.get(message.uid)
      if (email === undefined) {
        problems.push(`${path}: UID ${message.uid} not stored`)
        continue
      }
      const flags = [...email.flags].sort()
      if (flags.join(" ") !== message.flags.join(" ")) {
        problems.push(
          `${path} UID ${message.uid}: flags stored [${flags.join(" ")}], server [${message.flags.join(" ")}]`
        )
      }
      if (email.message_id !== message.messageId) {
        problems.push(`${path} UID ${message.uid}: Message-ID stored ${email.message_id}, server ${message.messageId}`)
      }
      if (options.subjects && email.subject !== message.rawSubject) {
        problems.push(
          `${path} UID ${message.uid}: Subject stored ${JSON.stringify(email.subject)}, server ${JSON.stringify(message.rawSubject)}`
        )
      }
    }
    const serverUids = new Set(mailbox.messages.map((m) => m.uid))
    for (const email of mine)
      if (!serverUids.has(email.uid)) problems.push(`${path}: UID ${email.uid} stored but expunged`)
  }
  return { problems, notes }
}

// ---------------------------------------------------------------------------------------------
// shapes and operations

export type ShapeId = "plain" | "unsubscribed" | "noselect" | "nonascii" | "empty" | "uidgaps" | "eightbit" | "readonly"
export type OperationId = "initial" | "append" | "flags" | "expunge" | "rename"

export const operations: ReadonlyArray<{ id: OperationId; label: string }> = [
  { id: "initial", label: "initial sync" },
  { id: "append", label: "APPEND" },
  { id: "flags", label: "flag change" },
  { id: "expunge", label: "expunge" },
  { id: "rename", label: "rename + re-create (new UIDVALIDITY)" }
]

let messageCounter = 0
const message = (shape: string, options: { readonly subject?: string; readonly fromName?: string } = {}): string => {
  messageCounter++
  const id = `<${shape}.${messageCounter}.${process.pid}@compat.test>`
  return [
    `Message-ID: ${id}`,
    `From: ${options.fromName ?? "Compat Sender"} <sender@compat.test>`,
    "To: user@compat.test",
    `Subject: ${options.subject ?? `${shape} message ${messageCounter}`}`,
    `Date: ${new Date(Date.UTC(2026, 0, 1, 12, 0, messageCounter)).toUTCString()}`,
    "MIME-Version: 1.0",
    "Content-Type: text/plain; charset=utf-8",
    "Content-Transfer-Encoding: 8bit",
    "",
    `Body of ${id}.`,
    ""
  ].join("\r\n")
}

interface ShapeContext {
  readonly client: ImapFlow
  readonly server: CompatServer
  readonly user: TestImapUser
}

export interface Shape {
  readonly id: ShapeId
  readonly label: string
  /** The folder the operations act on, as path segments (the namespace prefix and separator are the server's). */
  readonly folder: ReadonlyArray<string>
  readonly seed: (context: ShapeContext, folder: string) => Promise<string | null>
  /** Compare the Subject too (the shape is about header bytes). */
  readonly subjects?: boolean
  readonly makeMessage?: () => string
  /**
   * A shape that is not in the account's own namespace: returns the folder's path as the account
   * lists it and the operations to use instead of the account's own; null where the server cannot
   * hold the shape (its cells are then "not run", with the reason in the matrix file), or
   * `{ notHeld }` with a reason found out on this server.
   */
  readonly locate?: (
    context: Omit<ShapeContext, "client">
  ) => Promise<LocatedShape | { readonly notHeld: string } | null>
  /** Why a server on which `locate` answers null cannot hold the shape (for the doc). */
  readonly notHeldReason?: string
}

interface LocatedShape {
  readonly folder: string
  readonly operate: (context: ShapeContext, folder: string, operation: OperationId) => Promise<string | null>
}

const appendAll = async (
  client: ImapFlow,
  folder: string,
  raws: ReadonlyArray<string>,
  flags: ReadonlyArray<string> = []
) => {
  for (const raw of raws) await client.append(folder, raw, [...flags])
}

const eightBitMessage = () =>
  message("eightbit", { subject: `Grüße aus Köln – Ärger € ${messageCounter + 1}`, fromName: "Jürgen Müßig" })

export const shapes: ReadonlyArray<Shape> = [
  {
    id: "plain",
    label: "subscribed folder, ASCII (baseline)",
    folder: ["Work"],
    seed: async ({ client }, folder) => {
      await client.mailboxCreate(folder)
      await client.mailboxSubscribe(folder)
      await appendAll(client, folder, [message("plain"), message("plain")], ["\\Seen"])
      await appendAll(client, "INBOX", [message("plain"), message("plain")])
      return null
    }
  },
  {
    id: "unsubscribed",
    label: "unsubscribed folder",
    folder: ["Unsubscribed"],
    seed: async ({ client }, folder) => {
      await client.mailboxCreate(folder)
      await appendAll(client, folder, [message("unsub"), message("unsub"), message("unsub")])
      await client.mailboxUnsubscribe(folder)
      await appendAll(client, "INBOX", [message("unsub")])
      return null
    }
  },
  {
    id: "noselect",
    label: "\\Noselect parent with children",
    folder: ["Parent", "Child"],
    seed: async ({ client }, folder) => {
      // creating only the child leaves the parent as a placeholder (\Noselect on most servers)
      await client.mailboxCreate(folder)
      await client.mailboxSubscribe(folder)
      await appendAll(client, folder, [message("noselect"), message("noselect")])
      const list = await client.list()
      const parent = list.find(
        (entry) => folder.startsWith(`${entry.path}${entry.delimiter}`) && entry.path !== "INBOX"
      )
      return parent === undefined ? "no parent listed" : `parent listed with [${[...parent.flags].join(" ")}]`
    }
  },
  {
    id: "nonascii",
    label: "non-ASCII folder name (modified UTF-7)",
    folder: ["Ablage ÄÖÜ 日本語 & €"],
    seed: async ({ client, server, user }, folder) => {
      await client.mailboxCreate(folder)
      await client.mailboxSubscribe(folder)
      await appendAll(client, folder, [message("utf7"), message("utf7")])
      // a second folder created by a client that never enables UTF8=ACCEPT: a raw CREATE in modified
      // UTF-7, then read (and appended to) by sessions that may use UTF-8 names
      const other = `${client.namespace?.prefix ?? ""}Entwürfe ✓ Ordner`
      await rawImap(server, user, [`CREATE "${toModifiedUtf7(other)}"`, `SUBSCRIBE "${toModifiedUtf7(other)}"`])
      const listed = (await client.list()).some((entry) => entry.path === other)
      if (!listed) throw new Error(`${other} (created as ${toModifiedUtf7(other)}) is not listed under its UTF-8 name`)
      await appendAll(client, other, [message("utf7raw")])
      return client.enabled.has("UTF8=ACCEPT")
        ? `names sent as UTF-8 (UTF8=ACCEPT enabled); "${other}" created in modified UTF-7 by another client`
        : `names sent as modified UTF-7; "${other}" created in modified UTF-7 by another client`
    }
  },
  {
    id: "empty",
    label: "empty folder (0 messages)",
    folder: ["Empty"],
    seed: async ({ client }, folder) => {
      await client.mailboxCreate(folder)
      await client.mailboxSubscribe(folder)
      return null
    }
  },
  {
    id: "uidgaps",
    label: "UID gaps and a large first UID",
    folder: ["Gaps"],
    seed: async ({ client, server, user }, folder) => {
      await client.mailboxCreate(folder)
      await client.mailboxSubscribe(folder)
      let note = "large first UID: not settable on this server (gaps only)"
      if (server.setMinNextUid !== undefined) {
        await server.setMinNextUid(user.user, folder, 1_000_000)
        note = "first UID 1000000"
      }
      await appendAll(
        client,
        folder,
        Array.from({ length: 8 }, () => message("gaps"))
      )
      await client.mailboxOpen(folder)
      const uids = (await client.search({ all: true }, { uid: true })) || []
      const gone = [uids[1], uids[2], uids[5]].filter((uid): uid is number => uid !== undefined)
      await client.messageDelete(gone.join(","), { uid: true })
      await client.mailboxClose()
      return `${note}; UIDs ${(await uidsOf(client, folder)).join(",")}`
    }
  },
  {
    id: "eightbit",
    label: "8-bit headers without encoded-words",
    folder: ["Eightbit"],
    subjects: true,
    makeMessage: eightBitMessage,
    seed: async ({ client }, folder) => {
      await client.mailboxCreate(folder)
      await client.mailboxSubscribe(folder)
      const raw = eightBitMessage()
      await appendAll(client, folder, [raw, eightBitMessage()])
      const sent = headerValue(Buffer.from(raw), "subject")
      await client.mailboxOpen(folder, { readOnly: true })
      const first = await client.fetchOne("1", { headers: ["subject"] })
      await client.mailboxClose()
      const kept = first === false ? null : headerValue(first.headers, "subject")
      return kept === sent
        ? "the server keeps the 8-bit header bytes"
        : `the server changed the Subject to ${JSON.stringify(kept)}`
    }
  },
  {
    id: "readonly",
    label: "read-only folder shared by another account (ACL lookup + read)",
    folder: ["Announcements"],
    notHeldReason:
      "no shared or public folders in this configuration: the harness sets them up on Dovecot (public namespace, acl plugin) and Cyrus (shared folder, ACL lr)",
    locate: async ({ server, user }) => {
      const share = server.shareReadOnly
      if (share === undefined) return null
      const name = "Announcements"
      const first = await share(user.user, name)
      const unreachable = await unreachableThroughProduct(server, user, first.readerPath)
      if (unreachable !== null) return { notHeld: unreachable }
      await first.asOwner((client) => appendAll(client, first.ownerPath, [message("shared"), message("shared")]))
      return {
        folder: first.readerPath,
        operate: async ({ client }, _folder, operation) => {
          // the account cannot write here: the folder's owner changes it, the account only reads
          const ownerShape: Shape = { id: "readonly", label: "owner side", folder: [], seed: async () => null }
          switch (operation) {
            case "initial":
              return null
            case "append":
              await appendAll(client, "INBOX", [message("shared")])
              await first.asOwner((owner) => appendAll(owner, first.ownerPath, [message("shared"), message("shared")]))
              return "the owner appended"
            case "flags":
            case "expunge":
              return first.asOwner((owner) =>
                applyOperation({ client: owner, server, user }, ownerShape, first.ownerPath, operation)
              )
            case "rename":
              await first.renameAway()
              await share(user.user, name)
              await first.asOwner((owner) => appendAll(owner, first.ownerPath, [message("shared")]))
              return "the owner renamed the folder and shared a new one of the same name"
          }
        }
      }
    },
    seed: async ({ client }, folder) => {
      // the folder is in another namespace: opened as listed, without imapflow's personal prefix
      foreignAware(client)
      const opened = await client.mailboxOpen(folder)
      const note = `listed as "${folder}"; SELECT answers ${opened.readOnly === true ? "READ-ONLY" : "READ-WRITE"} with PERMANENTFLAGS (${[...(opened.permanentFlags ?? [])].join(" ")})`
      await client.mailboxClose()
      return note
    }
  }
]

/**
 * Null when the product's own IMAP session (src/imap/Imap.ts: `listMailboxes` + `openMailbox`, as the
 * sync uses them) lists and opens `readerPath`; otherwise the reason, after a raw session has shown that
 * the server does hold the folder.
 */
const unreachableThroughProduct = async (
  server: CompatServer,
  user: TestImapUser,
  readerPath: string
): Promise<string | null> => {
  const seen = await Effect.runPromise(
    Effect.scoped(
      Effect.gen(function* () {
        const imap = yield* Imap
        const session = yield* imap.connect({
          host: server.host,
          port: server.port,
          security: "none",
          username: user.user,
          password: Redacted.make(user.pass),
          timeoutMs: 10_000
        })
        const paths = (yield* session.listMailboxes()).map((mailbox) => mailbox.path)
        const refused = yield* session.openMailbox(readerPath).pipe(
          Effect.as(null),
          Effect.catch((error) => Effect.succeed(`${error._tag}: ${error.message}`))
        )
        return { paths, refused, prefix: session.namespace?.prefix ?? "" }
      })
    ).pipe(Effect.provide(Imap.layer))
  )
  if (seen.paths.includes(readerPath) && seen.refused === null) return null
  const all = await rawImap(server, user, [`LIST "" "*"`])
  const raw = await rawImap(server, user, [`LIST "" "${readerPath}"`, `EXAMINE "${readerPath}"`])
  const listed = (lines: ReadonlyArray<string>) =>
    lines.some(
      (line) => line.startsWith("* LIST") && (line.endsWith(` "${readerPath}"`) || line.endsWith(` ${readerPath}`))
    )
  const exists = raw.find((line) => /^\* \d+ EXISTS/.test(line)) ?? "no EXISTS"
  return `held by the server (a raw session: LIST "" "*" ${listed(all) ? "includes" : "does not include"} it, LIST "" "${readerPath}" ${listed(raw) ? "lists" : "does not list"} it, EXAMINE answers OK, ${exists.slice(2)}), but unreachable through the product's IMAP session (personal namespace "${seen.prefix}"): its folder list ${seen.paths.includes(readerPath) ? "includes" : "does not include"} it, and opening it ${seen.refused === null ? "answered OK" : `failed (${seen.refused})`}`
}

const uidsOf = async (client: ImapFlow, folder: string): Promise<Array<number>> => {
  await client.mailboxOpen(folder, { readOnly: true })
  const uids = (await client.search({ all: true }, { uid: true })) || []
  await client.mailboxClose()
  return uids
}

/** Applies one operation to the shape's folder through the independent session; returns a note. */
const applyOperation = async (
  context: ShapeContext,
  shape: Shape,
  folder: string,
  operation: OperationId
): Promise<string | null> => {
  const { client } = context
  const make = shape.makeMessage ?? (() => message(shape.id))
  switch (operation) {
    case "initial":
      return null
    case "append":
      await appendAll(client, folder, [make(), make()])
      await appendAll(client, "INBOX", [make()])
      return null
    case "flags": {
      await client.mailboxOpen(folder)
      const uids = (await client.search({ all: true }, { uid: true })) || []
      const [first, second] = uids
      if (first !== undefined) await client.messageFlagsAdd(String(first), ["\\Seen", "\\Flagged"], { uid: true })
      if (second !== undefined) {
        await client.messageFlagsAdd(String(second), ["\\Answered", "$Compat"], { uid: true })
        await client.messageFlagsRemove(String(second), ["\\Seen"], { uid: true })
      }
      await client.mailboxClose()
      return null
    }
    case "expunge": {
      await client.mailboxOpen(folder)
      const uids = (await client.search({ all: true }, { uid: true })) || []
      const last = uids[uids.length - 1]
      if (last !== undefined) await client.messageDelete(String(last), { uid: true })
      await client.mailboxClose()
      return client.capabilities.has("UIDPLUS") ? "UID EXPUNGE" : "EXPUNGE"
    }
    case "rename": {
      const uidValidityOf = async () => {
        const status = await client.status(folder, { uidValidity: true })
        return status === false ? "?" : String(status.uidValidity)
      }
      const before = await uidValidityOf()
      const renamed = `${folder}-renamed`
      await client.mailboxRename(folder, renamed)
      await client.mailboxSubscribe(renamed)
      await client.mailboxCreate(folder)
      await client.mailboxSubscribe(folder)
      await appendAll(client, folder, [make()])
      const after = await uidValidityOf()
      return before === after ? `UIDVALIDITY unchanged (${after}): the server reused it` : "UIDVALIDITY changed"
    }
  }
}

// ---------------------------------------------------------------------------------------------
// the matrix

export type CellStatus = "pass" | "fail" | "known-defect" | "blocked"

export interface Cell {
  readonly shape: ShapeId
  readonly operation: OperationId
  readonly status: CellStatus
  readonly detail: string
  readonly note: string | null
  readonly job: Record<string, unknown> | null
  /** Messages the server held in all selectable mailboxes when the cell was compared. */
  readonly serverMessages: number
  /**
   * Timing-dependent observations that did not fail the cell (e.g. Courier giving a never-written
   * empty INBOX a new UIDVALIDITY per session, which only shows when the second changes): kept in
   * the JSON, left out of docs/compatibility.md so the doc is the same on every run.
   */
  readonly transientNotes: ReadonlyArray<string>
}

export interface MatrixFile {
  readonly server: string
  readonly label: string
  readonly product: string
  readonly capabilities: ReadonlyArray<string>
  readonly enabled: ReadonlyArray<string>
  readonly namespace: { readonly prefix: string; readonly delimiter: string }
  /** As the product reported it on the accounts after their initial sync (empty when no sync succeeded). */
  readonly strategy: Record<string, ReportedChoice>
  readonly shapes: ReadonlyArray<{ id: ShapeId; label: string }>
  readonly operations: ReadonlyArray<{ id: OperationId; label: string }>
  readonly cells: ReadonlyArray<Cell>
  /** Shapes this server cannot hold in this configuration (no cells; the doc shows "not run"). */
  readonly notRun?: ReadonlyArray<{ readonly shape: ShapeId; readonly reason: string }>
  readonly knownDefects: KnownDefects
  readonly generatedAt: string
}

/** One choice as the product reported it on the account (`server.strategy` and `server.explanation`). */
export interface ReportedChoice {
  readonly choice: string
  readonly explanation: string
}

const ReportedServer = Schema.Struct({
  strategy: Schema.Record(Schema.String, Schema.String),
  explanation: Schema.Record(Schema.String, Schema.String)
})

/**
 * The strategy the product chose on this server, as the account shows it after a sync
 * (GET /api/v1/accounts/:id, `server`; src/sync/SyncStrategy.ts): the doc shows what the product
 * did, never a copy of its rules.
 */
const reportedStrategy = (base: string, accountId: string) =>
  Effect.gen(function* () {
    const response = yield* api(base, alice, "GET", `/api/v1/accounts/${accountId}`)
    assert.strictEqual(response.status, 200, response.text)
    const server = Schema.decodeUnknownSync(ReportedServer)(field(response.body, "server"))
    return Object.fromEntries(
      Object.entries(server.strategy).map(([key, choice]): [string, ReportedChoice] => [
        key,
        { choice, explanation: server.explanation[key] ?? "" }
      ])
    )
  })

const matrixDir = path.join(import.meta.dirname, "..", "..", ".tmp", "compat-matrix")

const jobSummary = (job: unknown): Record<string, unknown> | null => {
  const result = field(job, "result")
  if (typeof result !== "object" || result === null) return null
  const keep = ["newMessages", "flagUpdates", "expunged", "uidValidityResets", "mailboxes", "unchangedMailboxes"]
  return Object.fromEntries(Object.entries(result).filter(([key]) => keep.includes(key)))
}

const alice = "a1111111-1111-4111-8111-111111111111"

const runSync = (base: string, accountId: string) =>
  Effect.gen(function* () {
    const response = yield* api(base, alice, "POST", `/api/v1/accounts/${accountId}/sync`)
    if (response.status !== 202)
      return { ok: false, job: null, error: `POST sync: ${response.status} ${response.text}` }
    // a failed first attempt is the outcome: the job's retries (with backoff) would only repeat it
    const job = yield* waitForJob(
      base,
      alice,
      String(field(response.body, "jobId")),
      (j) => terminal(field(j, "state")) || field(j, "state") === "retrying" || field(j, "error") !== null
    )
    const state = String(field(job, "state"))
    return state === "succeeded"
      ? { ok: true, job, error: null }
      : { ok: false, job, error: `sync ${state}: ${JSON.stringify(field(job, "error"))}` }
  })

const usersFor = (target: CompatTarget) => [
  ...shapes.map((shape) => ({ user: `${target.id.replaceAll("-", "")}${shape.id}`, pass: `Compat-${shape.id}-pw1` })),
  ruleActionsUser(target.id)
]

/** Registers one test per shape (plus the matrix file) for a server; call once per test file. */
export const compatMatrix = (target: CompatTarget) => {
  const users = usersFor(target)
  const cells: Array<Cell> = []
  const notRun: Array<{ shape: ShapeId; reason: string }> = []
  let header: Omit<MatrixFile, "cells" | "generatedAt" | "knownDefects" | "strategy" | "notRun"> | null = null
  let strategy: Record<string, ReportedChoice> | null = null
  const writeMatrix = () => {
    if (header === null) return
    fs.mkdirSync(matrixDir, { recursive: true })
    const file: MatrixFile = {
      ...header,
      strategy: strategy ?? {},
      cells,
      notRun,
      knownDefects: target.knownDefects ?? {},
      generatedAt: new Date().toISOString()
    }
    fs.writeFileSync(path.join(matrixDir, `${target.id}.json`), `${JSON.stringify(file, null, 2)}\n`)
  }

  layer(compatLayer(target, users), { excludeTestServices: true, timeout: "180 seconds" })(target.label, (it) => {
    shapes.forEach((shape, index) => {
      const user = users[index]
      if (user === undefined) return
      it.effect(`${shape.label}: initial, APPEND, flags, expunge, rename match the server`, () =>
        Effect.gen(function* () {
          const server = yield* ServerUnderTest
          const base = yield* baseUrl
          const context = (client: ImapFlow): ShapeContext => ({ client, server, user })
          // seed through the independent session; the folder's real path follows the server's namespace
          const locate = shape.locate
          const located = locate === undefined ? undefined : yield* Effect.promise(() => locate({ server, user }))
          if (located === null || (located !== undefined && "notHeld" in located)) {
            // the server cannot hold this shape in this configuration: recorded, not compared
            const reason =
              located === null ? (shape.notHeldReason ?? "this server configuration cannot hold it") : located.notHeld
            notRun.push({ shape: shape.id, reason })
            writeMatrix()
            return
          }
          const seeded = yield* Effect.promise(() =>
            withClient(server, user, async (client) => {
              const delimiter = client.namespace?.delimiter ?? "/"
              const folder = located?.folder ?? `${client.namespace?.prefix ?? ""}${shape.folder.join(delimiter)}`
              const note = await shape.seed(context(client), folder)
              return { folder, note }
            })
          )
          const first = yield* Effect.promise(() => serverView(server, user))
          header ??= {
            server: target.id,
            label: target.label,
            product: server.product,
            capabilities: first.capabilities,
            enabled: first.enabled,
            namespace: first.namespace,
            shapes: shapes.map(({ id, label }) => ({ id, label })),
            operations
          }
          const created = yield* api(base, alice, "POST", "/api/v1/accounts", {
            label: `${target.id} ${shape.id}`,
            host: server.host,
            port: server.port,
            security: "none",
            username: user.user,
            password: user.pass,
            syncIntervalMinutes: null
          })
          assert.strictEqual(created.status, 201, created.text)
          const accountId = String(field(created.body, "id"))

          const known = target.knownDefects?.[shape.id]
          const mine: Array<Cell> = []
          let blockedBy: string | null = null
          for (const operation of operations) {
            if (blockedBy !== null) {
              mine.push({
                shape: shape.id,
                operation: operation.id,
                status: "blocked",
                detail: blockedBy,
                note: null,
                job: null,
                serverMessages: 0,
                transientNotes: []
              })
              continue
            }
            const note = yield* Effect.promise(() =>
              withClient(server, user, (client) =>
                located === undefined
                  ? applyOperation(context(client), shape, seeded.folder, operation.id)
                  : located.operate(context(client), seeded.folder, operation.id)
              )
            )
            const sync = yield* runSync(base, accountId)
            const view = yield* Effect.promise(() => serverView(server, user))
            const stored = yield* storedView(accountId)
            const compared = sync.ok
              ? compare(view, stored, { subjects: shape.subjects === true })
              : { problems: [sync.error ?? "sync failed"], notes: [] }
            const problems = compared.problems
            const notes = [operation.id === "initial" ? seeded.note : null, note].filter((n): n is string => n !== null)
            const passed = problems.length === 0
            mine.push({
              shape: shape.id,
              operation: operation.id,
              status: passed ? "pass" : known !== undefined ? "known-defect" : "fail",
              detail: passed ? "matches the server" : problems.slice(0, 5).join("; "),
              note: notes.length === 0 ? null : notes.join("; "),
              job: sync.job === null ? null : jobSummary(sync.job),
              serverMessages: [...view.mailboxes.values()].reduce((sum, mailbox) => sum + mailbox.messages.length, 0),
              transientNotes: compared.notes
            })
            if (operation.id === "initial" && sync.ok) {
              // every account on the same server must report the same strategy
              const reported = yield* reportedStrategy(base, accountId)
              if (strategy === null) strategy = reported
              else assert.deepStrictEqual(reported, strategy, `${target.id} / ${shape.id}: another strategy reported`)
            }
            // a failed sync leaves nothing to compare for later operations
            if (!sync.ok) blockedBy = `blocked: the sync after "${operation.label}" failed`
          }
          cells.push(...mine)
          writeMatrix()

          // not a vacuous comparison: a compared cell saw messages on the server
          const compared = mine.filter((cell) => cell.status === "pass")
          if (compared.length > 0) {
            assert.isAbove(
              Math.max(...compared.map((cell) => cell.serverMessages)),
              0,
              `${target.id} / ${shape.id}: the server view is empty in every cell`
            )
          }
          const failures = mine.filter((cell) => cell.status === "fail")
          assert.deepStrictEqual(
            failures.map((cell) => `${cell.operation}: ${cell.detail}`),
            [],
            `${target.id} / ${shape.id} cells differ from the server`
          )
          if (known !== undefined) {
            // a documented degradation: it must still be the known defect, and the test says when it is fixed
            const defect = mine.filter((cell) => cell.status === "known-defect")
            assert.isAbove(
              defect.length,
              0,
              `${target.id} / ${shape.id}: the known defect (${known.reason}) is fixed; remove it from knownDefects`
            )
            for (const cell of defect) {
              assert.include(cell.detail, known.match, `${cell.operation}: another failure than the known defect`)
            }
          }
        })
      )
    })
    // rule actions (test/compat/ruleActions.ts), on the plain folder of one more account
    it.effect("rule actions: move, flag, mark read, delete to Trash, undo, another \\Deleted message", () =>
      Effect.gen(function* () {
        yield* ruleActionsCheck(target, yield* ServerUnderTest, yield* baseUrl)
      })
    )
  })
}

export { OwnerDb }
