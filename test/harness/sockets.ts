import { Effect } from "effect"
import * as net from "node:net"
import { freePort } from "./workerProcess.ts"

/** A loopback port on which nothing listens (bound, then released). */
export const closedPort = Effect.promise(freePort)

/**
 * Accepts TCP connections on a loopback port and never says a word: a server that hangs before
 * its greeting. Closed, with every connection it accepted, when the scope ends.
 */
export const silentServer = Effect.acquireRelease(
  Effect.promise(
    () =>
      new Promise<{ server: net.Server; port: number; sockets: Set<net.Socket> }>((resolve) => {
        const sockets = new Set<net.Socket>()
        const server = net.createServer((socket) => {
          sockets.add(socket)
          socket.on("error", () => {})
        })
        server.listen(0, "127.0.0.1", () => {
          const address = server.address()
          resolve({ server, port: typeof address === "object" && address !== null ? address.port : 1, sockets })
        })
      })
  ),
  ({ server, sockets }) =>
    Effect.promise(() => {
      for (const socket of sockets) socket.destroy()
      return new Promise<void>((resolve) => server.close(() => resolve()))
    })
)
