import { Effect } from "effect"
import { createServer, type IncomingHttpHeaders } from "node:http"

export interface Received {
  readonly path: string
  readonly headers: IncomingHttpHeaders
  readonly body: string
}

/** What the receiver does with a request at a path. */
export type Behaviour = "ok" | "fail" | "drop" | "redirect"

/** A local HTTP endpoint that records every request; its behaviour per path can change during a test. */
export const receiver = Effect.acquireRelease(
  Effect.promise(async () => {
    const received: Array<Received> = []
    const behaviours = new Map<string, Behaviour>()
    const server = createServer((request, response) => {
      const chunks: Array<Buffer> = []
      request.on("data", (chunk: Buffer) => chunks.push(chunk))
      request.on("end", () => {
        const path = request.url ?? "/"
        received.push({ path, headers: request.headers, body: Buffer.concat(chunks).toString("utf8") })
        const behaviour = behaviours.get(path) ?? "ok"
        if (behaviour === "drop") request.socket.destroy()
        else if (behaviour === "fail") response.writeHead(500).end("no")
        else if (behaviour === "redirect") response.writeHead(302, { location: `${path}/elsewhere` }).end()
        else response.writeHead(200).end("ok")
      })
    })
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
    const address = server.address()
    const port = typeof address === "object" && address !== null ? address.port : 0
    return { server, received, behaviours, url: (path: string) => `http://127.0.0.1:${port}${path}` }
  }),
  ({ server }) =>
    Effect.promise(
      () =>
        new Promise<void>((resolve) => {
          server.closeAllConnections()
          server.close(() => resolve())
        })
    )
)
