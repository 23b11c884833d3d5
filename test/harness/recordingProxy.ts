/**
 * A TCP proxy in front of a test server that records what the client sends, in clear text (no TLS
 * in these tests): tests read an IMAP client's commands in order without timing anything.
 */
import { Effect } from "effect"
import { tcpProxy } from "./tcpProxy.ts"

export interface RecordingProxy {
  readonly port: number
  /** Everything clients sent through the proxy since it started (or since `reset`). */
  readonly sent: () => string
  readonly reset: () => void
}

/** A proxy to `127.0.0.1:target`, closed (with its connections) when the scope closes. */
export const recordingProxy = (target: number) =>
  Effect.acquireRelease(
    Effect.promise(async () => {
      let sent = ""
      const proxy = await tcpProxy(target, () => ({
        fromClient: (chunk) => {
          sent += chunk.toString("latin1")
        }
      }))
      return {
        port: proxy.port,
        sent: () => sent,
        reset: () => {
          sent = ""
        },
        close: proxy.close
      }
    }),
    (proxy) => Effect.sync(() => proxy.close())
  )

/** The IMAP commands in what a client sent, tag stripped, e.g. `EXAMINE Projects (QRESYNC ...)`. */
export const imapCommands = (text: string): Array<string> =>
  text
    .split("\r\n")
    .map((line) => /^[A-Za-z0-9.]+ ([A-Z]+.*)$/.exec(line)?.[1] ?? "")
    .filter((line) => line !== "")
