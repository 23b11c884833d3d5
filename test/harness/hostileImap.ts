/**
 * A small scriptable fake IMAP server (plain node:net on 127.0.0.1, ephemeral port) for hostile
 * and broken server behaviour. By default it speaks enough IMAP4rev1 for imapflow to log in, LIST
 * (+LSUB, STATUS), SELECT/EXAMINE, UID FETCH and UID SEARCH one mailbox, INBOX, of a few small
 * messages. A script replaces the answer to any command (or the greeting) with its own, e.g. an
 * endless line, a huge literal, a stall or a BYE in the middle of a FETCH.
 *
 * Every attack helper stops after `maxBytes`, so a test stays bounded in time and memory even
 * when the client under test does not defend itself.
 */
import * as net from "node:net"

export interface FakeMessage {
  readonly uid: number
  readonly raw: string
  readonly flags?: ReadonlyArray<string>
}

export interface MailboxView {
  readonly uidValidity: number | string
  readonly uidNext: number | string
  readonly exists: number | string
  readonly messages: ReadonlyArray<FakeMessage>
}

export interface Command {
  readonly tag: string
  /** Upper case; "UID FETCH", "UID SEARCH" for UID commands. */
  readonly name: string
  /** The rest of the line, as sent. */
  readonly args: string
}

export interface Connection {
  readonly socket: net.Socket
  /** Writes and waits for the socket to drain; resolves false when the socket is gone. */
  write(data: string | Buffer): Promise<boolean>
  ok(command: Command, text?: string): Promise<boolean>
  /** The default answer to `command`. */
  answer(command: Command): Promise<void>
  /** How many times this connection's mailbox was selected before (per server, counted across connections). */
  readonly server: HostileServer
  close(): void
}

export type Handler = (command: Command, connection: Connection) => Promise<void> | void

export interface HostileScript {
  /** Replaces the greeting (the default is an OK with the capabilities). */
  readonly greeting?: (connection: Connection) => Promise<void> | void
  readonly capabilities?: string
  /** The INBOX as seen by the n-th SELECT/EXAMINE/STATUS (0-based, across connections); the last one repeats. */
  readonly mailbox?: (selectCount: number) => MailboxView
  /** Replaces the answer to a command, by name ("LOGIN", "LIST", "SELECT", "UID FETCH", ...). */
  readonly on?: Readonly<Record<string, Handler>>
}

export interface HostileServer {
  readonly host: string
  readonly port: number
  /** Bytes written to clients so far (all connections). */
  readonly bytesSent: () => number
  readonly connections: () => number
  /** SELECT/EXAMINE commands answered so far. */
  readonly selects: () => number
  close(): Promise<void>
}

const defaultMessages: ReadonlyArray<FakeMessage> = [1, 2, 3].map((uid) => ({
  uid,
  raw: `From: Sender ${uid} <sender${uid}@hostile.test>\r\nTo: user@hostile.test\r\nSubject: message ${uid}\r\nMessage-ID: <m${uid}@hostile.test>\r\nDate: Fri, 04 Dec 2026 10:00:00 +0000\r\n\r\nHello ${uid}\r\n`,
  flags: uid === 1 ? ["\\Seen"] : []
}))

export const defaultMailbox: MailboxView = { uidValidity: 42, uidNext: 4, exists: 3, messages: defaultMessages }

/** "1:3,5,7:*" -> the listed UIDs among `uids`. */
const inSet = (set: string, uids: ReadonlyArray<number>): Array<number> => {
  const max = uids.length === 0 ? 0 : Math.max(...uids)
  const wanted = (uid: number) =>
    set.split(",").some((part) => {
      const [a, b] = part.split(":")
      const from = a === "*" ? max : Number(a)
      const to = b === undefined ? from : b === "*" ? max : Number(b)
      return uid >= Math.min(from, to) && uid <= Math.max(from, to)
    })
  return uids.filter(wanted)
}

/** One FETCH response for a message; with `body` the full source as a literal. */
export const fetchResponse = (seq: number, message: FakeMessage, body: boolean): Buffer => {
  const source = Buffer.from(message.raw)
  const head = `* ${seq} FETCH (UID ${message.uid} FLAGS (${(message.flags ?? []).join(" ")}) RFC822.SIZE ${source.length} INTERNALDATE "04-Dec-2026 10:00:00 +0000"`
  return body
    ? Buffer.concat([Buffer.from(`${head} BODY[] {${source.length}}\r\n`), source, Buffer.from(")\r\n")])
    : Buffer.from(`${head})\r\n`)
}

/**
 * Writes `chunk` again and again until `maxBytes` are sent or the client hangs up; respects
 * back-pressure, so the server's own memory stays flat. Resolves with the bytes written.
 */
export const flood = async (connection: Connection, chunk: Buffer, maxBytes: number): Promise<number> => {
  let sent = 0
  while (sent < maxBytes && !connection.socket.destroyed) {
    if (!(await connection.write(chunk))) break
    sent += chunk.length
  }
  return sent
}

export const startHostileImap = (script: HostileScript = {}): Promise<HostileServer> =>
  new Promise((resolve, reject) => {
    let bytesSent = 0
    let connectionCount = 0
    let selectCount = 0
    const sockets = new Set<net.Socket>()
    const capabilities = script.capabilities ?? "IMAP4rev1 UIDPLUS"
    const view = (): MailboxView => script.mailbox?.(Math.max(0, selectCount - 1)) ?? defaultMailbox

    const server = net.createServer((socket) => {
      connectionCount++
      sockets.add(socket)
      socket.on("close", () => sockets.delete(socket))
      socket.on("error", () => socket.destroy())
      const connection: Connection = {
        socket,
        server: hostile,
        write: (data) =>
          new Promise((done) => {
            if (socket.destroyed || !socket.writable) return done(false)
            bytesSent += data.length
            if (socket.write(data)) return done(true)
            const onDrain = () => {
              socket.off("close", onClose)
              done(true)
            }
            const onClose = () => {
              socket.off("drain", onDrain)
              done(false)
            }
            socket.once("drain", onDrain)
            socket.once("close", onClose)
          }),
        ok: (command, text = "done") => connection.write(`${command.tag} OK ${text}\r\n`),
        answer: (command) => answer(command, connection),
        close: () => socket.destroy()
      }

      let buffer = Buffer.alloc(0)
      let pendingLiteral = 0
      let line = ""
      let busy = Promise.resolve()
      socket.on("data", (data: Buffer) => {
        buffer = Buffer.concat([buffer, data])
        while (buffer.length > 0) {
          if (pendingLiteral > 0) {
            const take = Math.min(pendingLiteral, buffer.length)
            line += buffer.subarray(0, take).toString("latin1")
            buffer = buffer.subarray(take)
            pendingLiteral -= take
            continue
          }
          const end = buffer.indexOf("\r\n")
          if (end < 0) break
          const part = buffer.subarray(0, end).toString("latin1")
          buffer = buffer.subarray(end + 2)
          const literal = /\{(\d+)(\+?)\}$/.exec(part)
          if (literal !== null) {
            line += part.slice(0, literal.index)
            pendingLiteral = Number(literal[1])
            if (literal[2] !== "+") void connection.write("+ go ahead\r\n")
            continue
          }
          const full = line + part
          line = ""
          const command = parse(full)
          if (command !== null) {
            busy = busy
              .then(() => dispatch(command, connection))
              .catch(() => {
                socket.destroy()
              })
          }
        }
      })
      busy = busy.then(async () => {
        if (script.greeting !== undefined) await script.greeting(connection)
        else await connection.write(`* OK [CAPABILITY ${capabilities}] hostile test server ready\r\n`)
      })
    })

    const parse = (text: string): Command | null => {
      const match = /^(\S+) (UID )?(\S+) ?(.*)$/i.exec(text)
      if (match === null) return null
      const [, tag = "*", uid, name = "", args = ""] = match
      return { tag, name: `${uid === undefined ? "" : "UID "}${name.toUpperCase()}`, args }
    }

    const dispatch = async (command: Command, connection: Connection) => {
      if (command.name === "SELECT" || command.name === "EXAMINE") selectCount++
      const handler = script.on?.[command.name]
      if (handler !== undefined) await handler(command, connection)
      else await answer(command, connection)
    }

    const answer = async (command: Command, connection: Connection): Promise<void> => {
      const mailbox = view()
      const uids = mailbox.messages.map((message) => message.uid)
      switch (command.name) {
        case "CAPABILITY":
          await connection.write(`* CAPABILITY ${capabilities}\r\n`)
          await connection.ok(command)
          return
        case "LOGIN":
          await connection.ok(command, `[CAPABILITY ${capabilities}] logged in`)
          return
        case "NAMESPACE":
          await connection.write(`* NAMESPACE (("" "/")) NIL NIL\r\n`)
          await connection.ok(command)
          return
        case "NOOP":
        case "CHECK":
          await connection.ok(command)
          return
        case "LIST":
          await connection.write(`* LIST (\\HasNoChildren) "/" INBOX\r\n`)
          await connection.ok(command)
          return
        case "LSUB":
          await connection.write(`* LSUB () "/" INBOX\r\n`)
          await connection.ok(command)
          return
        case "STATUS":
          await connection.write(
            `* STATUS INBOX (MESSAGES ${mailbox.exists} UIDNEXT ${mailbox.uidNext} UIDVALIDITY ${mailbox.uidValidity} UNSEEN 0)\r\n`
          )
          await connection.ok(command)
          return
        case "SELECT":
        case "EXAMINE":
          await connection.write(
            `* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n* ${mailbox.exists} EXISTS\r\n* 0 RECENT\r\n` +
              `* OK [UIDVALIDITY ${mailbox.uidValidity}] UIDs valid\r\n* OK [UIDNEXT ${mailbox.uidNext}] next UID\r\n`
          )
          await connection.ok(command, command.name === "EXAMINE" ? "[READ-ONLY] selected" : "[READ-WRITE] selected")
          return
        case "UID SEARCH":
          await connection.write(`* SEARCH ${uids.join(" ")}\r\n`)
          await connection.ok(command)
          return
        case "UID FETCH": {
          const [set = ""] = command.args.split(" ")
          const body = /BODY\.PEEK\[\]|BODY\[\]/i.test(command.args)
          for (const uid of inSet(set, uids)) {
            const seq = uids.indexOf(uid) + 1
            const message = mailbox.messages[seq - 1]
            if (message !== undefined && !(await connection.write(fetchResponse(seq, message, body)))) return
          }
          await connection.ok(command)
          return
        }
        case "LOGOUT":
          await connection.write(`* BYE logging out\r\n`)
          await connection.ok(command)
          connection.socket.end()
          return
        default:
          await connection.write(`${command.tag} BAD unknown command\r\n`)
      }
    }

    const hostile: HostileServer = {
      host: "127.0.0.1",
      port: 0,
      bytesSent: () => bytesSent,
      connections: () => connectionCount,
      selects: () => selectCount,
      close: () =>
        new Promise<void>((done) => {
          for (const socket of sockets) socket.destroy()
          server.close(() => done())
        })
    }

    server.on("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      if (typeof address !== "object" || address === null) return reject(new Error("no address"))
      Object.assign(hostile, { port: address.port })
      resolve(hostile)
    })
  })
