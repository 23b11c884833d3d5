/**
 * A TCP proxy to `127.0.0.1:target` that lets its user see what passes, in clear text: the
 * tests' recording proxy (recordingProxy.ts) and the sync bench's IMAP timeline
 * (bench/support/imapTimeline.ts) are taps on it.
 */
import * as net from "node:net"

/** What one connection's tap is told: each chunk from the client and from the server, as it passes. */
export interface ConnectionTap {
  readonly fromClient?: (chunk: Buffer) => void
  readonly fromServer?: (chunk: Buffer) => void
}

export interface TcpProxy {
  readonly port: number
  /** Closes the proxy and every connection through it. */
  readonly close: () => void
}

/** Listens on a free port of 127.0.0.1; `tap` is called for each client connection, numbered from 1. */
export const tcpProxy = (target: number, tap: (connection: number) => ConnectionTap): Promise<TcpProxy> =>
  new Promise((resolve) => {
    const sockets = new Set<net.Socket>()
    let next = 0
    const server = net.createServer((client) => {
      const taps = tap(++next)
      const upstream = net.connect({ host: "127.0.0.1", port: target })
      sockets.add(client).add(upstream)
      client.on("data", (chunk) => {
        taps.fromClient?.(chunk)
        upstream.write(chunk)
      })
      upstream.on("data", (chunk) => {
        taps.fromServer?.(chunk)
        client.write(chunk)
      })
      const end = () => {
        client.destroy()
        upstream.destroy()
      }
      client.on("error", end).on("close", end)
      upstream.on("error", end).on("close", end)
    })
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      resolve({
        port: typeof address === "object" && address !== null ? address.port : 0,
        close: () => {
          for (const socket of sockets) socket.destroy()
          server.close()
        }
      })
    })
  })
