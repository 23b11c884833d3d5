/**
 * A throw-away Dovecot for tests and benchmarks (see /work/shared/dovecot-harness.md):
 * one temp folder, one free loopback port, passwd-file users, Maildir storage.
 * Several instances can run side by side.
 */
import { execFile, spawn } from "node:child_process"
import { once } from "node:events"
import { randomBytes } from "node:crypto"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { promisify } from "node:util"
import { Context, Effect, Layer, type Scope } from "effect"
import { ImapFlow } from "imapflow"
import { freePort } from "./freePort.ts"

const execFileAsync = promisify(execFile)

/** Dovecot refuses uid 0 for mail processes; when we run as root the mail belongs to nobody. */
const MAIL_UID = 65534
const MAIL_GID = 65534

export interface SeedMessage {
  readonly raw: string | Uint8Array
  /** System flags (`\Seen`, `\Answered`, `\Flagged`, `\Deleted`, `\Draft`) and keywords. */
  readonly flags?: ReadonlyArray<string>
  /** Becomes the INTERNALDATE (file mtime). */
  readonly internalDate?: Date
}

export interface DoveadmMessage {
  readonly uid: number
  readonly flags: ReadonlyArray<string>
  /** The Message-ID header as stored, angle brackets included; null when absent. */
  readonly messageId: string | null
}

export interface DovecotServer {
  readonly host: string
  readonly port: number
  readonly root: string
  /** Adds a passwd-file user and waits until Dovecot will see it (it re-reads the file at most once a second). */
  addUser(user: string, pass: string): Promise<void>
  /** Writes Maildir files directly (fast path: thousands of messages a second); UIDs follow array order. */
  seedMaildir(user: string, mailbox: string, messages: ReadonlyArray<SeedMessage>): Promise<void>
  /** APPENDs through IMAP (exercises the server's own path); returns the new UID. */
  append(
    user: string,
    pass: string,
    mailbox: string,
    raw: string | Uint8Array,
    flags?: ReadonlyArray<string>
  ): Promise<number>
  /** The server's own view of a mailbox, independent of any IMAP client. */
  doveadmFetch(user: string, mailbox: string): Promise<ReadonlyArray<DoveadmMessage>>
  /** Runs `doveadm -c <conf> <args...>` and returns stdout. */
  doveadm(args: ReadonlyArray<string>): Promise<string>
  createMailbox(user: string, mailbox: string): Promise<void>
  /** Sets a new UIDVALIDITY (doveadm mailbox update); returns it. */
  setUidValidity(user: string, mailbox: string, uidValidity?: number): Promise<number>
  mailboxStatus(
    user: string,
    mailbox: string
  ): Promise<{ uidValidity: number; uidNext: number; messages: number; highestModseq: string }>
  /** Number of IMAP sessions the server holds for the user (doveadm who). */
  sessionCount(user: string): Promise<number>
  stop(): Promise<void>
}

export interface StartDovecotOptions {
  /** Users written before the server starts, so they can log in at once. */
  readonly users?: ReadonlyArray<{ readonly user: string; readonly pass: string }>
  /** Enable TLS on an implicit-TLS port and STARTTLS with a fresh self-signed certificate. */
  readonly tls?: boolean
  /**
   * Replaces the capabilities announced after login (`imap_capability`), e.g. `["IMAP4rev1"]` for a
   * minimal server without CONDSTORE, QRESYNC, MOVE, UIDPLUS, SPECIAL-USE, ESEARCH, LIST-STATUS...
   * Clients that only use what is announced then behave as against such a server.
   */
  readonly capabilities?: ReadonlyArray<string>
  /**
   * The personal namespace: `{ prefix: "INBOX.", separator: "." }` gives the Courier / hosting-provider
   * layout (`INBOX.Sent`, `INBOX.a.b`). Default: no prefix, "/".
   */
  readonly namespace?: { readonly prefix: string; readonly separator: string }
  /** Announce special-use attributes on Sent, Drafts, Trash, Junk, Archive (default true). */
  readonly specialUse?: boolean
  /**
   * A Gmail-like layout with Dovecot's `virtual` plugin: a `[Gmail]/` namespace whose `All Mail`
   * (special-use \All) shows every message of the account's other folders except Trash and Junk,
   * so a message is in its folder and in `[Gmail]/All Mail` at once.
   */
  readonly gmailLike?: boolean
  /**
   * A public namespace `Public<separator>` (Maildir under ROOT/public) with the `acl` plugin (vfile:
   * a `dovecot-acl` file in each mailbox's folder). Its mailboxes are made with `publicMailbox`.
   */
  readonly publicNamespace?: boolean
  /**
   * Also accept OAuth2 logins (XOAUTH2, OAUTHBEARER) with Dovecot's `oauth2` passdb, which checks
   * each token at the provider's RFC 7662 introspection endpoint (POST, client credentials in the
   * URL). The passwd-file users still log in with their passwords (PLAIN, LOGIN).
   */
  readonly oauth2?: {
    /** `http://client:secret@host:port/token/introspection` */
    readonly introspectionUrl: string
    /** The introspection response field that must equal the login name (e.g. `sub`). */
    readonly usernameAttribute: string
  }
  /**
   * Dovecot settings appended after the harness's own (a later setting overrides, a repeated
   * `service x { }` block is merged into the first), e.g. the process and client limits a
   * benchmark with a thousand IDLE sessions needs (bench/realtime.ts).
   */
  readonly extraConfig?: string
}

const oauth2Text = (root: string, options: StartDovecotOptions): string =>
  options.oauth2 === undefined
    ? ""
    : `passdb {
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = ${root}/dovecot-oauth2.conf.ext
}
`

const writeOAuth2 = (root: string, oauth2: NonNullable<StartDovecotOptions["oauth2"]>) => {
  const file = path.join(root, "dovecot-oauth2.conf.ext")
  fs.writeFileSync(
    file,
    `introspection_mode = post
introspection_url = ${oauth2.introspectionUrl}
username_attribute = ${oauth2.usernameAttribute}
active_attribute = active
active_value = true
force_introspection = yes
`
  )
  fs.chmodSync(file, 0o644)
}

/** Creates (if missing) a public mailbox and writes its ACL file: `identifier rights` lines. */
export const publicMailbox = (root: string, name: string, acl: ReadonlyArray<string>): void => {
  const folder = path.join(root, "public", `.${name}`)
  for (const dir of [folder, ...["cur", "new", "tmp"].map((d) => path.join(folder, d))]) {
    fs.mkdirSync(dir, { recursive: true })
    if (isRoot) fs.chownSync(dir, MAIL_UID, MAIL_GID)
  }
  const file = path.join(folder, "dovecot-acl")
  fs.writeFileSync(file, acl.map((line) => `${line}\n`).join(""))
  if (isRoot) fs.chownSync(file, MAIL_UID, MAIL_GID)
}

const publicText = (root: string, options: StartDovecotOptions): string =>
  options.publicNamespace === true
    ? `mail_plugins = $mail_plugins acl
plugin {
  acl = vfile
}
namespace public {
  type = public
  separator = ${options.namespace?.separator ?? "/"}
  prefix = Public${options.namespace?.separator ?? "/"}
  location = maildir:${root}/public:INDEX=~/public-index
  subscriptions = no
  list = children
}
`
    : ""

const isRoot = process.getuid?.() === 0

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

const specialUseMailboxes = ["Sent", "Drafts", "Trash", "Junk", "Archive"]

const namespaceText = (options: StartDovecotOptions): string => {
  const prefix = options.namespace?.prefix ?? ""
  const separator = options.namespace?.separator ?? "/"
  const mailboxes = specialUseMailboxes
    .map(
      (name) => `  mailbox ${name} {
${options.specialUse === false ? "" : `    special_use = \\${name}\n`}    auto = subscribe
  }`
    )
    .join("\n")
  return `namespace inbox {
  inbox = yes
  separator = ${separator}
${prefix === "" ? "" : `  prefix = ${prefix}\n`}${mailboxes}
}
${options.capabilities === undefined ? "" : `imap_capability = ${options.capabilities.join(" ")}\n`}`
}

const gmailText = (root: string, options: StartDovecotOptions): string =>
  options.gmailLike === true
    ? `mail_plugins = $mail_plugins virtual
namespace gmail {
  prefix = [Gmail]${options.namespace?.separator ?? "/"}
  separator = ${options.namespace?.separator ?? "/"}
  location = virtual:${root}/virtual:INDEX=~/virtual-index
  list = yes
  mailbox "All Mail" {
    special_use = \\All
    auto = subscribe
  }
}
`
    : ""

/** The virtual plugin's definition of [Gmail]/All Mail (see gmailText). */
const writeGmailVirtual = (root: string) => {
  const dir = path.join(root, "virtual", "All Mail")
  fs.mkdirSync(dir, { recursive: true })
  fs.writeFileSync(path.join(dir, "dovecot-virtual"), "*\n-Trash\n-Trash/*\n-Junk\n-Junk/*\n  all\n")
  fs.chmodSync(path.join(root, "virtual"), 0o755)
  fs.chmodSync(dir, 0o755)
}

const configText = (root: string, port: number, tls: { port: number } | null, options: StartDovecotOptions): string => `
instance_name = test-${port}
base_dir  = ${root}/run
state_dir = ${root}/state
log_path  = ${root}/log/dovecot.log
info_log_path = ${root}/log/dovecot.log
protocols = imap
listen = 127.0.0.1
${tls === null ? "ssl = no" : `ssl = yes\nssl_cert = <${root}/cert.pem\nssl_key = <${root}/key.pem`}
disable_plaintext_auth = no
auth_mechanisms = plain login${options.oauth2 === undefined ? "" : " xoauth2 oauthbearer"}
auth_failure_delay = 0

passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u ${root}/users
${options.oauth2 === undefined ? "" : "  mechanisms = plain login\n"}}
${oauth2Text(root, options)}
userdb {
  driver = passwd-file
  args = username_format=%u ${root}/users
  default_fields = uid=${MAIL_UID} gid=${MAIL_GID} home=${root}/mail/%u
}
mail_location = maildir:~/Maildir
mail_fsync = never

${namespaceText(options)}${gmailText(root, options)}${publicText(root, options)}protocol imap {
  mail_max_userip_connections = 100
}
service anvil {
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = ${port}
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = ${tls === null ? 0 : tls.port}
  }
}
${options.extraConfig ?? ""}`

/** Reads the first line the server sends; resolves "" when the connection fails. */
const readGreeting = (port: number): Promise<string> =>
  new Promise((resolve) => {
    const socket = net.connect({ host: "127.0.0.1", port })
    let buffer = ""
    const done = (line: string) => {
      socket.destroy()
      resolve(line)
    }
    socket.setTimeout(2_000, () => done(""))
    socket.on("error", () => done(""))
    socket.on("data", (chunk) => {
      buffer += chunk.toString("latin1")
      const end = buffer.indexOf("\n")
      if (end >= 0) done(buffer.slice(0, end))
    })
  })

const SYSTEM_FLAG_LETTERS: Record<string, string> = {
  "\\draft": "D",
  "\\flagged": "F",
  "\\answered": "R",
  "\\seen": "S",
  "\\deleted": "T"
}

/** Maildir++ folder of a mailbox with "/" as the IMAP separator: INBOX is the root, "a/b" is ".a.b". */
const maildirFolder = (home: string, mailbox: string): string =>
  mailbox.toUpperCase() === "INBOX"
    ? path.join(home, "Maildir")
    : path.join(home, "Maildir", `.${mailbox.replaceAll("/", ".")}`)

const parseDoveadmFetch = (output: string): Array<DoveadmMessage> => {
  const messages: Array<DoveadmMessage> = []
  // doveadm's pager formatter separates messages with a form feed line
  for (const block of output.split("\f")) {
    const uidMatch = /^uid: (\d+)$/m.exec(block)
    if (uidMatch?.[1] === undefined) continue
    const flagsMatch = /^flags:(.*)$/m.exec(block)
    const idMatch = /^hdr\.message-id:(.*)$/m.exec(block)
    const flags = (flagsMatch?.[1] ?? "").trim()
    const messageId = (idMatch?.[1] ?? "").trim()
    messages.push({
      uid: Number(uidMatch[1]),
      // \Recent is per-session noise (and gone in IMAP4rev2)
      flags: flags === "" ? [] : flags.split(/\s+/).filter((flag) => flag !== "\\Recent"),
      messageId: messageId === "" ? null : messageId
    })
  }
  return messages
}

const makeCertificate = async (root: string): Promise<void> => {
  await execFileAsync("openssl", [
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-subj",
    "/CN=localhost",
    "-addext",
    "subjectAltName=DNS:localhost,IP:127.0.0.1",
    "-days",
    "3650",
    "-keyout",
    path.join(root, "key.pem"),
    "-out",
    path.join(root, "cert.pem")
  ])
}

export interface DovecotTlsServer extends DovecotServer {
  readonly tlsPort: number
  /** PEM of the self-signed certificate, to pass as `ca`. */
  readonly certificate: string
}

export function startDovecot(options: StartDovecotOptions & { readonly tls: true }): Promise<DovecotTlsServer>
export function startDovecot(options?: StartDovecotOptions): Promise<DovecotServer>
export async function startDovecot(options: StartDovecotOptions = {}): Promise<DovecotServer> {
  let lastError: unknown
  // a port picked as free can be taken by a parallel instance before Dovecot binds it
  for (let attempt = 0; attempt < 4; attempt++) {
    try {
      return await startOnce(options)
    } catch (error) {
      lastError = error
    }
  }
  throw lastError
}

const startOnce = async (options: StartDovecotOptions): Promise<DovecotServer | DovecotTlsServer> => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "dovecot-test-"))
  const port = await freePort()
  const tls = options.tls === true ? { port: await freePort() } : null
  for (const dir of ["run", "state", "log", "mail"]) fs.mkdirSync(path.join(root, dir))
  // the auth and mail processes run as other users and must reach these files
  fs.chmodSync(root, 0o755)
  if (isRoot) fs.chownSync(path.join(root, "mail"), MAIL_UID, MAIL_GID)
  const usersFile = path.join(root, "users")
  fs.writeFileSync(usersFile, (options.users ?? []).map((u) => `${u.user}:{PLAIN}${u.pass}::::::\n`).join(""))
  fs.chmodSync(usersFile, 0o644)
  if (tls !== null) await makeCertificate(root)
  if (options.gmailLike === true) writeGmailVirtual(root)
  if (options.oauth2 !== undefined) writeOAuth2(root, options.oauth2)
  if (options.publicNamespace === true) {
    fs.mkdirSync(path.join(root, "public"))
    if (isRoot) fs.chownSync(path.join(root, "public"), MAIL_UID, MAIL_GID)
  }
  const confPath = path.join(root, "dovecot.conf")
  fs.writeFileSync(confPath, configText(root, port, tls, options))

  // -F keeps the master as our child, so we know when it has exited; its own output goes to a file
  // because an inherited pipe would keep a waiting harness hanging
  const out = fs.openSync(path.join(root, "log", "master.out"), "a")
  const master = spawn("dovecot", ["-F", "-c", confPath], { stdio: ["ignore", out, out] })
  fs.closeSync(out)
  let exited = false
  const exitedPromise = once(master, "exit").then(() => {
    exited = true
  })
  // a test process that dies without stop() must not leave a daemon or a folder behind
  const killOnExit = () => {
    if (!exited) master.kill("SIGKILL")
    fs.rmSync(root, { recursive: true, force: true })
  }
  process.once("exit", killOnExit)

  const stopMaster = async () => {
    process.off("exit", killOnExit)
    if (!exited) {
      master.kill("SIGTERM")
      const timer = setTimeout(() => master.kill("SIGKILL"), 5_000)
      await exitedPromise
      clearTimeout(timer)
    }
    fs.rmSync(root, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 })
  }

  const logTail = () => {
    const read = (file: string) => {
      try {
        return fs.readFileSync(path.join(root, "log", file), "utf8")
      } catch {
        return ""
      }
    }
    return `${read("master.out")}${read("dovecot.log")}`.split("\n").slice(-20).join("\n")
  }

  // wait for the real "ready." greeting, not "Waiting for authentication process to respond.."
  const deadline = Date.now() + 15_000
  for (;;) {
    if (exited) {
      const tail = logTail()
      await stopMaster()
      throw new Error(`dovecot exited during start-up:\n${tail}`)
    }
    const greeting = await readGreeting(port)
    if (greeting.includes("ready.")) break
    if (Date.now() > deadline) {
      const tail = logTail()
      await stopMaster()
      throw new Error(`dovecot did not become ready on port ${port}:\n${tail}`)
    }
    await sleep(50)
  }

  const doveadm = async (args: ReadonlyArray<string>): Promise<string> => {
    const { stdout } = await execFileAsync("doveadm", ["-c", confPath, ...args], { maxBuffer: 256 * 1024 * 1024 })
    return stdout
  }

  let stopped: Promise<void> | undefined
  let lastUserWrite = 0

  const addUser = async (user: string, pass: string) => {
    if (/[:\n]/.test(user) || /[:\n]/.test(pass)) throw new Error("user and password must not contain ':' or newlines")
    fs.appendFileSync(usersFile, `${user}:{PLAIN}${pass}::::::\n`)
    lastUserWrite = Date.now()
    // passwd-file is checked at most once per wall-clock second: wait for the next second
    await sleep(1_000 - (lastUserWrite % 1_000) + 50)
  }

  const ensureMaildir = (user: string, mailbox: string): string => {
    const home = path.join(root, "mail", user)
    const folder = maildirFolder(home, mailbox)
    const created: Array<string> = []
    for (const dir of [home, path.join(home, "Maildir"), folder]) {
      if (!fs.existsSync(dir)) {
        fs.mkdirSync(dir)
        created.push(dir)
      }
    }
    for (const sub of ["cur", "new", "tmp"]) {
      const dir = path.join(folder, sub)
      if (!fs.existsSync(dir)) {
        fs.mkdirSync(dir)
        created.push(dir)
      }
    }
    if (folder !== path.join(home, "Maildir") && !fs.existsSync(path.join(folder, "maildirfolder"))) {
      fs.writeFileSync(path.join(folder, "maildirfolder"), "")
      created.push(path.join(folder, "maildirfolder"))
    }
    if (isRoot) for (const entry of created) fs.chownSync(entry, MAIL_UID, MAIL_GID)
    return folder
  }

  /** Keywords live in dovecot-keywords as "index name" lines; the file name carries letters a..z. */
  const keywordLetters = (folder: string, keywords: ReadonlyArray<string>): Map<string, string> => {
    const file = path.join(folder, "dovecot-keywords")
    const names: Array<string> = []
    if (fs.existsSync(file)) {
      for (const line of fs.readFileSync(file, "utf8").split("\n")) {
        const match = /^(\d+) (.+)$/.exec(line)
        if (match?.[1] !== undefined && match[2] !== undefined) names[Number(match[1])] = match[2]
      }
    }
    let changed = false
    for (const keyword of keywords) {
      if (!names.includes(keyword)) {
        names.push(keyword)
        changed = true
      }
    }
    if (names.length > 26) throw new Error("Maildir supports at most 26 keywords per mailbox")
    if (changed) {
      fs.writeFileSync(file, names.map((name, index) => `${index} ${name}\n`).join(""))
      if (isRoot) fs.chownSync(file, MAIL_UID, MAIL_GID)
    }
    return new Map(names.map((name, index) => [name, String.fromCharCode(97 + index)]))
  }

  const seedMaildir = async (user: string, mailbox: string, messages: ReadonlyArray<SeedMessage>) => {
    const folder = ensureMaildir(user, mailbox)
    const keywords = [...new Set(messages.flatMap((m) => (m.flags ?? []).filter((flag) => !flag.startsWith("\\"))))]
    const letters = keywordLetters(folder, keywords)
    const seconds = Math.floor(Date.now() / 1000)
    const unique = randomBytes(4).toString("hex")
    const cur = path.join(folder, "cur")
    let index = 0
    for (const message of messages) {
      const body = typeof message.raw === "string" ? Buffer.from(message.raw) : message.raw
      const flagLetters = (message.flags ?? [])
        .map((flag) => {
          const letter = flag.startsWith("\\") ? SYSTEM_FLAG_LETTERS[flag.toLowerCase()] : letters.get(flag)
          if (letter === undefined) throw new Error(`unsupported flag ${flag}`)
          return letter
        })
        .sort()
        .join("")
      // Dovecot assigns UIDs to new files sorted by the time fields of their names: one second,
      // increasing microseconds, keeps UIDs in array order; S= saves it a stat per file
      const name = `${seconds}.M${index}P${process.pid}Q${unique}.harness,S=${body.length}:2,${flagLetters}`
      const file = path.join(cur, name)
      fs.writeFileSync(file, body)
      if (isRoot) fs.chownSync(file, MAIL_UID, MAIL_GID)
      if (message.internalDate !== undefined) fs.utimesSync(file, message.internalDate, message.internalDate)
      index++
      // keep the event loop responsive on very large seeds
      if (index % 2_000 === 0) await new Promise<void>((resolve) => setImmediate(resolve))
    }
  }

  const append = async (
    user: string,
    pass: string,
    mailbox: string,
    raw: string | Uint8Array,
    flags: ReadonlyArray<string> = []
  ): Promise<number> => {
    const client = new ImapFlow({ host: "127.0.0.1", port, secure: false, auth: { user, pass }, logger: false })
    await client.connect()
    try {
      const result = await client.append(mailbox, typeof raw === "string" ? raw : Buffer.from(raw), [...flags])
      if (result === false || result.uid === undefined) throw new Error(`APPEND to ${mailbox} returned no UID`)
      return result.uid
    } finally {
      await client.logout().catch(() => client.close())
    }
  }

  const doveadmFetch = async (user: string, mailbox: string) =>
    parseDoveadmFetch(await doveadm(["fetch", "-u", user, "uid flags hdr.message-id", "mailbox", mailbox, "all"]))

  const mailboxStatus = async (user: string, mailbox: string) => {
    const output = await doveadm([
      "-f",
      "flow",
      "mailbox",
      "status",
      "-u",
      user,
      "uidvalidity uidnext messages highestmodseq",
      mailbox
    ])
    const value = (name: string): string => {
      const match = new RegExp(`(?:^|\\s)${name}=(\\S+)`).exec(output)
      if (match?.[1] === undefined) throw new Error(`doveadm mailbox status: no ${name} in ${output}`)
      return match[1]
    }
    return {
      uidValidity: Number(value("uidvalidity")),
      uidNext: Number(value("uidnext")),
      messages: Number(value("messages")),
      highestModseq: value("highestmodseq")
    }
  }

  const setUidValidity = async (user: string, mailbox: string, uidValidity?: number): Promise<number> => {
    const current = await mailboxStatus(user, mailbox)
    const next = uidValidity ?? current.uidValidity + 1
    await doveadm(["mailbox", "update", "-u", user, "--uid-validity", String(next), mailbox])
    return next
  }

  const createMailbox = async (user: string, mailbox: string) => {
    await doveadm(["mailbox", "create", "-u", user, mailbox])
  }

  const sessionCount = async (user: string): Promise<number> => {
    const output = await doveadm(["-f", "tab", "who", "-1", user]).catch(() => "")
    return output
      .split("\n")
      .slice(1)
      .filter((line) => line.trim() !== "").length
  }

  const server: DovecotServer = {
    host: "127.0.0.1",
    port,
    root,
    addUser,
    seedMaildir,
    append,
    doveadmFetch,
    doveadm,
    createMailbox,
    setUidValidity,
    mailboxStatus,
    sessionCount,
    stop: () => {
      stopped ??= stopMaster()
      return stopped
    }
  }
  if (tls === null) return server
  return { ...server, tlsPort: tls.port, certificate: fs.readFileSync(path.join(root, "cert.pem"), "utf8") }
}

/** A Dovecot for one Effect scope: started when acquired, stopped and deleted when the scope closes. */
export const dovecotScoped = (options?: StartDovecotOptions): Effect.Effect<DovecotServer, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.promise(() => startDovecot(options)),
    (server) => Effect.promise(() => server.stop())
  )

/** Like dovecotScoped, with TLS (implicit on `tlsPort`, STARTTLS on `port`) and a self-signed certificate. */
export const dovecotTlsScoped = (
  options: Omit<StartDovecotOptions, "tls"> = {}
): Effect.Effect<DovecotTlsServer, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.promise(() => startDovecot({ ...options, tls: true })),
    (server) => Effect.promise(() => server.stop())
  )

export class Dovecot extends Context.Service<Dovecot, DovecotServer>()("test/Dovecot") {
  static readonly layer = (options?: StartDovecotOptions) => Layer.effect(Dovecot, dovecotScoped(options))
}
