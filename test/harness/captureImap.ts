import { Effect } from "effect"
import * as net from "node:net"
import * as tls from "node:tls"

/**
 * A real TCP listener on 127.0.0.1 that records every byte it receives and speaks just enough
 * IMAP for a client to log in: a greeting with CAPABILITY (AUTH=PLAIN, STARTTLS), OK to LOGIN and
 * to AUTHENTICATE PLAIN, OK to whatever else. On STARTTLS it says OK and then only records (the
 * TLS ClientHello); on a TLS connection it records the ClientHello. Used to prove that a secret
 * never reaches a host it must not reach: `received()` holds everything any client ever sent.
 */
export interface CaptureImap {
  readonly port: number
  /** Every byte received so far, over all connections, as latin1 text. */
  readonly received: () => string
  /** Connections accepted so far. */
  readonly connections: () => number
  /** Changes the answer to LOGIN / AUTHENTICATE from now on. */
  readonly setLoginReply: (reply: string) => void
  /** Forgets what was received (and the connection count). */
  readonly reset: () => void
  /**
   * Whether `secret` appears in what was received: verbatim, or inside a base64 token (SASL
   * PLAIN / LOGIN send the password base64-encoded).
   */
  readonly sawSecret: (secret: string) => boolean
}

const capabilities = "IMAP4rev1 AUTH=PLAIN AUTH=LOGIN STARTTLS ID"

export interface CaptureOptions {
  /** Listen address (default 127.0.0.1; any 127.x.y.z works on Linux). */
  readonly host?: string
  /** Listen port (default: any free one). */
  readonly port?: number
  /** What follows the tag in the answer to LOGIN / AUTHENTICATE (default `OK authenticated`). */
  readonly loginReply?: string
  /** Implicit TLS with this key and certificate (PEM); what is recorded is then the decrypted stream. */
  readonly tls?: { readonly key: string; readonly cert: string }
}

export const captureImapWith = (options: CaptureOptions) =>
  Effect.acquireRelease(
    Effect.promise(
      () =>
        new Promise<CaptureImap & { readonly close: () => Promise<void> }>((resolve) => {
          const chunks: Array<Buffer> = []
          let loginReply = options.loginReply ?? "OK authenticated"
          let accepted = 0
          const sockets = new Set<net.Socket>()
          const handle = (socket: net.Socket) => {
            sockets.add(socket)
            socket.on("error", () => {})
            socket.on("close", () => sockets.delete(socket))
            let buffered = ""
            let mode: "imap" | "raw" = "imap"
            let pendingAuth: string | null = null
            const send = (text: string) => {
              if (!socket.destroyed) socket.write(text)
            }
            socket.on("data", (chunk: Buffer) => {
              chunks.push(Buffer.from(chunk))
              if (mode === "raw") return
              buffered += chunk.toString("latin1")
              for (;;) {
                const end = buffered.indexOf("\r\n")
                if (end < 0) break
                const line = buffered.slice(0, end)
                buffered = buffered.slice(end + 2)
                if (pendingAuth !== null) {
                  send(`${pendingAuth} ${loginReply}\r\n`)
                  pendingAuth = null
                  continue
                }
                const [tag = "*", command = ""] = line.split(" ")
                const verb = command.toUpperCase()
                if (verb === "CAPABILITY") send(`* CAPABILITY ${capabilities}\r\n${tag} OK done\r\n`)
                else if (verb === "AUTHENTICATE") {
                  if (line.split(" ").length > 3) send(`${tag} ${loginReply}\r\n`)
                  else {
                    pendingAuth = tag
                    send("+ \r\n")
                  }
                } else if (verb === "LOGIN") {
                  send(`${tag} ${loginReply}\r\n`)
                } else if (verb === "STARTTLS") {
                  send(`${tag} OK begin TLS\r\n`)
                  mode = "raw"
                } else if (verb === "LOGOUT") {
                  send(`* BYE bye\r\n${tag} OK done\r\n`)
                  socket.end()
                } else if (verb === "NAMESPACE") send(`* NAMESPACE (("" "/")) NIL NIL\r\n${tag} OK done\r\n`)
                else send(`${tag} OK done\r\n`)
              }
            })
            send(`* OK [CAPABILITY ${capabilities}] capture ready\r\n`)
          }
          const server =
            options.tls === undefined
              ? net.createServer(handle)
              : tls.createServer({ key: options.tls.key, cert: options.tls.cert }, handle)
          // every TCP connection, TLS handshake or not
          server.on("connection", (socket: net.Socket) => {
            accepted++
            sockets.add(socket)
            socket.on("error", () => {})
          })
          server.on("tlsClientError", () => {})
          server.listen(options.port ?? 0, options.host ?? "127.0.0.1", () => {
            const address = server.address()
            const port = typeof address === "object" && address !== null ? address.port : 0
            const received = () => Buffer.concat(chunks).toString("latin1")
            resolve({
              port,
              received,
              connections: () => accepted,
              setLoginReply: (reply) => {
                loginReply = reply
              },
              reset: () => {
                chunks.length = 0
                accepted = 0
              },
              sawSecret: (secret) => {
                const text = received()
                if (text.includes(secret)) return true
                for (const token of text.match(/[A-Za-z0-9+/]{8,}={0,2}/g) ?? []) {
                  if (Buffer.from(token, "base64").toString("latin1").includes(secret)) return true
                }
                return false
              },
              close: () => {
                for (const socket of sockets) socket.destroy()
                return new Promise<void>((done) => server.close(() => done()))
              }
            })
          })
        })
    ),
    (capture) => Effect.promise(() => capture.close())
  )

export const captureImap = captureImapWith({})
