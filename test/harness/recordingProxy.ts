/**
 * A TCP proxy in front of a test server that records what the client sends, in clear text (no TLS
 * in these tests): tests read an IMAP client's commands in order without timing anything.
 */
import * as net from "node:net"
import { Effect } from "effect"

export interface RecordingProxy {
  readonly port: number
  /** Everything clients sent through the proxy since it started (or since `reset`). */
  readonly sent: () => string
  readonly reset: () => void
}

/** A proxy to `127.0.0.1:target`, closed (with its connections) when the scope closes. */
export const recordingProxy = (target: number) =>
  Effect.acquireRelease(
    Effect.promise(
      () =>
        new Promise<RecordingProxy & { readonly close: () => void }>((resolve) => {
          let sent = ""
          const sockets = new Set<net.Socket>()
          const server = net.createServer((client) => {
            const upstream = net.connect({ host: "127.0.0.1", port: target })
            sockets.add(client).add(upstream)
            client.on("data", (chunk) => {
              sent += chunk.toString("latin1")
              upstream.write(chunk)
            })
            upstream.pipe(client)
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
              sent: () => sent,
              reset: () => {
                sent = ""
              },
              close: () => {
                for (const socket of sockets) socket.destroy()
                server.close()
              }
            })
          })
        })
    ),
    (proxy) => Effect.sync(() => proxy.close())
  )

/** The IMAP commands in what a client sent, tag stripped, e.g. `EXAMINE Projects (QRESYNC ...)`. */
export const imapCommands = (text: string): Array<string> =>
  text
    .split("\r\n")
    .map((line) => /^[A-Za-z0-9.]+ ([A-Z]+.*)$/.exec(line)?.[1] ?? "")
    .filter((line) => line !== "")
