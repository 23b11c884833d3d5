import { createServer } from "node:net"

/**
 * A free TCP port on loopback (bound, read, released). No test-runner imports: the demo, the drills
 * and the benches load the harness's servers outside vitest.
 */
export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createServer()
    server.unref()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      server.close(() => (port > 0 ? resolve(port) : reject(new Error("no free port"))))
    })
  })
