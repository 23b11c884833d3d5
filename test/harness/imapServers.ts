/**
 * Throw-away Cyrus and Courier IMAP servers for the compatibility matrix (test/compat), started
 * like the Dovecot of ./dovecot.ts: one temp folder, one free loopback port, plaintext on
 * 127.0.0.1, no systemd, several instances side by side, stopped and deleted by the harness.
 *
 * Debian's `cyrus-imapd` and `courier-imap` conflict with `dovecot-imapd` (all three provide
 * `imap-server`), so .ci/run installs their libraries and support packages (`cyrus-common`,
 * `courier-base`, `courier-authdaemon`, `courier-authlib-userdb`) with apt and unpacks the two
 * server packages themselves into IMAP_COMPAT_ROOT (default /opt/imap-compat) with `dpkg-deb -x`.
 *
 * - Cyrus 3.6: its own imapd.conf / cyrus.conf, configdirectory and partition under the temp
 *   folder; the master switches to the `cyrus` user itself. `sasl_pwcheck_method: alwaystrue`
 *   (any password is accepted: these servers test mailbox shapes, not authentication); the admin
 *   `cyrusadmin` creates `user/<name>` for each user at start.
 * - Courier 5.0: Courier's login (`imaplogin`) asks `authdaemond` over a socket whose path
 *   (/run/courier/authdaemon/socket) and configuration (/etc/courier) are compiled in, so the
 *   instance runs in a private mount namespace (`unshare -m`) where both paths are bind-mounted
 *   from the temp folder: its own authdaemonrc (authuserdb only), its own userdb (MD5-crypt
 *   passwords, mail owned by uid 65534), its own authdaemond; `couriertcpd` in the foreground.
 */
import { execFile, spawn } from "node:child_process"
import { once } from "node:events"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { promisify } from "node:util"
import { ImapFlow } from "imapflow"
import { freePort } from "./freePort.ts"

const execFileAsync = promisify(execFile)

export type ImapServerKind = "dovecot" | "cyrus" | "courier"

/** What the compatibility tests need of any server. */
export interface TestImapServer {
  readonly kind: ImapServerKind
  readonly host: string
  readonly port: number
  readonly root: string
  stop(): Promise<void>
}

export interface TestImapUser {
  readonly user: string
  readonly pass: string
}

const compatRoot = process.env["IMAP_COMPAT_ROOT"] ?? "/opt/imap-compat"

const firstExisting = (what: string, candidates: ReadonlyArray<string>): string => {
  const found = candidates.find((candidate) => fs.existsSync(candidate))
  if (found === undefined) {
    throw new Error(`${what} not found (looked at ${candidates.join(", ")}); run \`bash .ci/run --setup-only\` as root`)
  }
  return found
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** The first line the server sends; "" when the connection fails or closes first. */
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
    socket.on("close", () => done(""))
    socket.on("data", (chunk) => {
      buffer += chunk.toString("latin1")
      const end = buffer.indexOf("\n")
      if (end >= 0) done(buffer.slice(0, end))
    })
  })

interface Daemon {
  readonly exited: () => boolean
  readonly stop: () => Promise<void>
}

/** Spawns a foreground daemon whose output goes to a file; killed (and the folder removed) if the test process exits. */
const spawnDaemon = (
  root: string,
  command: string,
  args: ReadonlyArray<string>,
  extraStop: () => void = () => {}
): Daemon => {
  const out = fs.openSync(path.join(root, "daemon.out"), "a")
  const child = spawn(command, [...args], { stdio: ["ignore", out, out] })
  fs.closeSync(out)
  let exited = false
  const exitedPromise = once(child, "exit").then(() => {
    exited = true
  })
  const killOnExit = () => {
    extraStop()
    if (!exited) child.kill("SIGKILL")
    fs.rmSync(root, { recursive: true, force: true })
  }
  process.once("exit", killOnExit)
  let stopped: Promise<void> | undefined
  const stop = () => {
    stopped ??= (async () => {
      process.off("exit", killOnExit)
      extraStop()
      if (!exited) {
        child.kill("SIGTERM")
        const timer = setTimeout(() => child.kill("SIGKILL"), 5_000)
        await exitedPromise
        clearTimeout(timer)
      }
      fs.rmSync(root, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 })
    })()
    return stopped
  }
  return { exited: () => exited, stop }
}

const waitForGreeting = async (name: string, root: string, port: number, daemon: Daemon, expect: RegExp) => {
  const deadline = Date.now() + 20_000
  for (;;) {
    const tail = () => {
      try {
        return fs.readFileSync(path.join(root, "daemon.out"), "utf8").split("\n").slice(-20).join("\n")
      } catch {
        return ""
      }
    }
    if (daemon.exited()) {
      const text = tail()
      await daemon.stop()
      throw new Error(`${name} exited during start-up:\n${text}`)
    }
    const greeting = await readGreeting(port)
    if (expect.test(greeting)) return
    if (Date.now() > deadline) {
      const text = tail()
      await daemon.stop()
      throw new Error(`${name} did not greet on port ${port} (last: ${JSON.stringify(greeting)}):\n${text}`)
    }
    await sleep(100)
  }
}

const retryStart = async <A>(start: () => Promise<A>): Promise<A> => {
  let lastError: unknown
  // a port picked as free can be taken by a parallel instance before the server binds it
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await start()
    } catch (error) {
      lastError = error
    }
  }
  throw lastError
}

const adminLogin = async (port: number, user: string, pass: string, run: (client: ImapFlow) => Promise<void>) => {
  const client = new ImapFlow({ host: "127.0.0.1", port, secure: false, auth: { user, pass }, logger: false })
  await client.connect()
  try {
    await run(client)
  } finally {
    await client.logout().catch(() => client.close())
  }
}

// ---------------------------------------------------------------------------------------------
// Cyrus

export const CYRUS_ADMIN = "cyrusadmin"

export const startCyrus = (options: {
  readonly users: ReadonlyArray<TestImapUser>
  /** More imapd.conf lines ("option: value"), e.g. "expunge_mode: delayed". */
  readonly imapdConf?: ReadonlyArray<string>
}): Promise<TestImapServer> =>
  retryStart(async () => {
    const master = firstExisting("cyrus master (Debian package cyrus-common)", ["/usr/lib/cyrus/bin/master"])
    const recover = firstExisting("ctl_cyrusdb (cyrus-common)", ["/usr/lib/cyrus/bin/ctl_cyrusdb"])
    const imapd = firstExisting("cyrus imapd (Debian package cyrus-imapd)", [
      path.join(compatRoot, "cyrus-imapd/usr/lib/cyrus/bin/imapd"),
      "/usr/lib/cyrus/bin/imapd"
    ])
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "cyrus-test-"))
    fs.chmodSync(root, 0o755)
    const port = await freePort()
    const dirs = ["conf", "spool", "run", "sieve"]
    for (const dir of dirs) fs.mkdirSync(path.join(root, dir))
    const conf = path.join(root, "imapd.conf")
    fs.writeFileSync(
      conf,
      [
        `configdirectory: ${root}/conf`,
        `partition-default: ${root}/spool`,
        `sievedir: ${root}/sieve`,
        "servername: localhost",
        `admins: ${CYRUS_ADMIN}`,
        "allowplaintext: yes",
        "sasl_pwcheck_method: alwaystrue",
        "sasl_mech_list: PLAIN LOGIN",
        "unixhierarchysep: yes",
        "altnamespace: yes",
        `idlesocket: ${root}/run/idle`,
        `lmtpsocket: ${root}/run/lmtp`,
        `notifysocket: ${root}/run/notify`,
        `master_pid_file: ${root}/run/master.pid`,
        `syslog_prefix: cyrus-test-${port}`,
        ...(options.imapdConf ?? []),
        ""
      ].join("\n")
    )
    const cyrusConf = path.join(root, "cyrus.conf")
    fs.writeFileSync(
      cyrusConf,
      `START {
  recover cmd="${recover} -C ${conf} -r"
}
SERVICES {
  imap cmd="${imapd} -C ${conf}" listen="127.0.0.1:${port}" prefork=0 maxchild=50
}
EVENTS {
}
DAEMON {
}
`
    )
    if (process.getuid?.() === 0) {
      const { stdout } = await execFileAsync("id", ["-u", "cyrus"])
      const { stdout: gid } = await execFileAsync("id", ["-g", "cyrus"])
      for (const dir of dirs) fs.chownSync(path.join(root, dir), Number(stdout.trim()), Number(gid.trim()))
    }
    const daemon = spawnDaemon(root, master, ["-C", conf, "-M", cyrusConf, "-p", path.join(root, "run", "master.pid")])
    await waitForGreeting("cyrus master", root, port, daemon, /^\* OK /)
    try {
      await adminLogin(port, CYRUS_ADMIN, "admin", async (client) => {
        for (const { user } of options.users) await client.mailboxCreate(`user/${user}`)
      })
    } catch (error) {
      await daemon.stop()
      throw error
    }
    return { kind: "cyrus", host: "127.0.0.1", port, root, stop: daemon.stop }
  })

// ---------------------------------------------------------------------------------------------
// Courier

const MAIL_UID = 65534
const MAIL_GID = 65534

const md5Crypt = async (pass: string): Promise<string> => {
  const { stdout } = await execFileAsync("openssl", ["passwd", "-1", pass])
  return stdout.trim()
}

export const startCourier = (options: { readonly users: ReadonlyArray<TestImapUser> }): Promise<TestImapServer> =>
  retryStart(async () => {
    const imaplogin = firstExisting("courier imaplogin (Debian package courier-imap)", [
      path.join(compatRoot, "courier-imap/usr/lib/courier/courier/imaplogin"),
      "/usr/lib/courier/courier/imaplogin"
    ])
    const imapd = firstExisting("courier imapd (Debian package courier-imap)", [
      path.join(compatRoot, "courier-imap/usr/bin/imapd"),
      "/usr/bin/imapd"
    ])
    const couriertcpd = firstExisting("couriertcpd (courier-base)", ["/usr/sbin/couriertcpd"])
    const authdaemond = firstExisting("authdaemond (courier-authdaemon)", ["/usr/sbin/authdaemond"])
    firstExisting("makeuserdb (courier-authlib-userdb)", ["/usr/sbin/makeuserdb"])
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "courier-test-"))
    fs.chmodSync(root, 0o755)
    const port = await freePort()
    const etc = path.join(root, "etc")
    const auth = path.join(root, "authdaemon")
    const mail = path.join(root, "mail")
    fs.mkdirSync(etc)
    fs.mkdirSync(auth, { mode: 0o750 })
    fs.mkdirSync(mail)
    fs.writeFileSync(
      path.join(etc, "authdaemonrc"),
      'authmodulelist="authuserdb"\nauthmodulelistorig="authuserdb"\ndaemons=3\nauthdaemonvar=/run/courier/authdaemon\nDEBUG_LOGIN=0\nDEFAULTOPTIONS=""\nLOGGEROPTS=""\n'
    )
    fs.mkdirSync(path.join(etc, "shared"))
    fs.writeFileSync(path.join(etc, "shared", "index"), "")
    const lines: Array<string> = []
    for (const { user, pass } of options.users) {
      if (/[\s|=]/.test(user)) throw new Error(`unsupported Courier user name ${user}`)
      const home = path.join(mail, user)
      for (const dir of [
        home,
        path.join(home, "Maildir"),
        ...["cur", "new", "tmp"].map((d) => path.join(home, "Maildir", d))
      ]) {
        fs.mkdirSync(dir)
        if (process.getuid?.() === 0) fs.chownSync(dir, MAIL_UID, MAIL_GID)
      }
      lines.push(
        `${user}\tuid=${MAIL_UID}|gid=${MAIL_GID}|home=${home}|mail=${home}/Maildir|systempw=${await md5Crypt(pass)}`
      )
    }
    fs.writeFileSync(path.join(etc, "userdb"), `${lines.join("\n")}\n`, { mode: 0o600 })
    const env = {
      PATH: "/usr/bin:/bin:/usr/sbin:/sbin",
      IMAP_CAPABILITY: "IMAP4rev1 UIDPLUS CHILDREN NAMESPACE THREAD=ORDEREDSUBJECT THREAD=REFERENCES SORT QUOTA IDLE",
      IMAP_KEYWORDS: "1",
      IMAP_ACL: "1",
      IMAP_TRASHFOLDERNAME: "Trash",
      IMAP_EMPTYTRASH: "",
      IMAP_USELOCKS: "1",
      IMAP_ENHANCEDIDLE: "0",
      IMAP_IDLE_TIMEOUT: "60",
      IMAP_SHAREDINDEXFILE: path.join(etc, "shared", "index"),
      IMAP_MAILBOX_SANITY_CHECK: "1",
      IMAP_UMASK: "022",
      MAILDIRPATH: "Maildir"
    }
    const quote = (value: string) => `'${value.replaceAll("'", "'\\''")}'`
    const script = path.join(root, "start.sh")
    fs.writeFileSync(
      script,
      `set -e
# mount points (the package creates them; a fresh /run may not have the second)
mkdir -p /etc/courier /run/courier/authdaemon
mount --bind ${quote(etc)} /etc/courier
mount --bind ${quote(auth)} /run/courier/authdaemon
makeuserdb
${quote(authdaemond)} start
i=0
while [ ! -S /run/courier/authdaemon/socket ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
exec env -i ${Object.entries(env)
        .map(([key, value]) => `${key}=${quote(value)}`)
        .join(
          " "
        )} ${quote(couriertcpd)} -address=127.0.0.1 -maxprocs=60 -maxperip=60 -nodnslookup -noidentlookup -stderr=${quote(path.join(root, "courier.log"))} ${port} ${quote(imaplogin)} ${quote(imapd)} Maildir
`
    )
    // the authdaemond started inside the namespace is stopped through its pid file (outside view: auth/pid)
    const stopAuthdaemon = () => {
      try {
        const pid = Number(fs.readFileSync(path.join(auth, "pid"), "utf8").trim())
        if (Number.isInteger(pid) && pid > 1) process.kill(pid, "SIGTERM")
      } catch {
        // not started, or already gone
      }
    }
    // unshare without --fork execs the script in place: the child is couriertcpd itself
    const daemon = spawnDaemon(root, "unshare", ["-m", "--propagation", "private", "sh", script], stopAuthdaemon)
    await waitForGreeting("courier couriertcpd", root, port, daemon, /^\* OK .*Courier-IMAP ready/)
    return { kind: "courier", host: "127.0.0.1", port, root, stop: daemon.stop }
  })
