/**
 * A TCP proxy in front of the bench's Dovecot that timestamps each IMAP command a client sends and
 * the server's tagged answer to it (bench/sync.ts --first-page: where the first page's time goes on
 * the wire). Clear text only; a line of a message body that happens to start with a pending tag
 * would end that command early (the bench's generated mail has none).
 */
import { tcpProxy } from "../../test/harness/tcpProxy.ts"

export interface TimedCommand {
  readonly connection: number
  /** performance.now() when the command's line reached the proxy, and when its tagged answer did. */
  readonly sent: number
  readonly answered: number | null
  /** The command without its tag, cut at 80 characters. */
  readonly command: string
  /** Bytes the server sent between the command and its tagged answer. */
  readonly bytes: number
}

export interface ConnectionTimes {
  readonly connection: number
  readonly opened: number
  greeted: number | null
}

export interface ImapTimeline {
  readonly port: number
  readonly commands: () => ReadonlyArray<TimedCommand>
  readonly connections: () => ReadonlyArray<ConnectionTimes>
  readonly close: () => void
}

export const imapTimeline = async (target: number): Promise<ImapTimeline> => {
  const commands: Array<{ -readonly [K in keyof TimedCommand]: TimedCommand[K] } & { tag: string }> = []
  const connections: Array<ConnectionTimes> = []
  const proxy = await tcpProxy(target, (connection) => {
    const times: ConnectionTimes = { connection, opened: performance.now(), greeted: null }
    connections.push(times)
    let fromClient = ""
    let fromServer = ""
    return {
      fromClient: (chunk) => {
        const now = performance.now()
        fromClient += chunk.toString("latin1")
        const lines = fromClient.split("\r\n")
        fromClient = lines.pop() ?? ""
        for (const line of lines) {
          const match = /^([A-Za-z0-9.]+) ([A-Z].*)$/.exec(line)
          if (match?.[1] === undefined || match[2] === undefined) continue
          commands.push({
            connection,
            tag: match[1],
            sent: now,
            answered: null,
            command: match[2].slice(0, 80),
            bytes: 0
          })
        }
      },
      fromServer: (chunk) => {
        const now = performance.now()
        times.greeted ??= now
        const pending = commands.filter((c) => c.connection === connection && c.answered === null)
        for (const c of pending) c.bytes += chunk.length
        fromServer = (fromServer + chunk.toString("latin1")).slice(-64 * 1024)
        const lines = fromServer.split("\r\n")
        fromServer = lines.pop() ?? ""
        for (const line of lines) {
          const tag = /^([A-Za-z0-9.]+) (OK|NO|BAD)\b/.exec(line)?.[1]
          const open = tag === undefined ? undefined : pending.find((c) => c.tag === tag && c.answered === null)
          if (open !== undefined) open.answered = now
        }
      }
    }
  })
  return {
    port: proxy.port,
    commands: () => commands.map(({ tag: _tag, ...rest }) => rest),
    connections: () => connections,
    close: proxy.close
  }
}
