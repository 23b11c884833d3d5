import { createServer, type Server, type Socket, connect } from "node:net"
import { Effect } from "effect"

export interface RedisProxy {
  readonly url: string
  /** Stops forwarding what clients send (it is kept, in order): Redis seems to hang. */
  readonly hold: () => void
  /** Forwards what was held, then everything again. */
  readonly release: () => void
  /** Cuts every connection and refuses new ones: Redis is down. */
  readonly down: () => void
  /** Accepts connections again. */
  readonly up: () => void
}

/**
 * A TCP proxy in front of the test Redis, so a test can make Redis hang or go down for one process
 * without touching the Redis every other test file shares. The scope closes it.
 */
export const redisProxy = (target: string) =>
  Effect.acquireRelease(
    Effect.promise(async (): Promise<RedisProxy & { readonly server: Server }> => {
      const upstream = new URL(target)
      const pairs = new Set<{ client: Socket; server: Socket }>()
      let holding = false
      let accepting = true
      const held: Array<{ server: Socket; chunk: Buffer }> = []
      const server = createServer((client) => {
        if (!accepting) {
          client.destroy()
          return
        }
        const upstreamSocket = connect(Number(upstream.port || 6379), upstream.hostname)
        const pair = { client, server: upstreamSocket }
        pairs.add(pair)
        client.on("data", (chunk: Buffer) => {
          if (holding) held.push({ server: upstreamSocket, chunk })
          else upstreamSocket.write(chunk)
        })
        upstreamSocket.on("data", (chunk: Buffer) => client.write(chunk))
        const close = () => {
          pairs.delete(pair)
          client.destroy()
          upstreamSocket.destroy()
        }
        client.on("close", close)
        upstreamSocket.on("close", close)
        client.on("error", close)
        upstreamSocket.on("error", close)
      })
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      return {
        server,
        url: `redis://127.0.0.1:${port}${upstream.pathname}`,
        hold: () => {
          holding = true
        },
        release: () => {
          holding = false
          for (const { server: socket, chunk } of held.splice(0)) if (!socket.destroyed) socket.write(chunk)
        },
        down: () => {
          accepting = false
          for (const pair of [...pairs]) {
            pair.client.destroy()
            pair.server.destroy()
          }
        },
        up: () => {
          accepting = true
        }
      }
    }),
    (proxy) =>
      Effect.promise(
        () =>
          new Promise<void>((resolve) => {
            proxy.down()
            proxy.server.close(() => resolve())
          })
      )
  )
