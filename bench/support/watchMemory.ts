/**
 * Memory of one watching connection, measured alone (bench/realtime.ts runs this as a child with
 * --expose-gc): `node --expose-gc --import tsx bench/support/watchMemory.ts <port> <count> <userPrefix> <password>`.
 *
 * Three layers, each measured after a full GC as the growth over the layer below, per connection:
 * 1. raw: a plain TCP socket, logged in by hand (LOGIN, SELECT INBOX, IDLE): the floor of Node's
 *    socket and its buffers;
 * 2. imapflow: an ImapFlow client logged in, INBOX selected, idling (what the library itself holds);
 * 3. ImapWatch: our watcher connection (src/imap/ImapWatch.ts: openClient, NOTIFY, IDLE) as the
 *    workers run it, without the worker's leases, slots and fibers around it.
 * Prints one JSON line: kB per connection of heap, external+arrayBuffers and RSS for each layer.
 */
import * as net from "node:net"
import { Effect, Fiber, Redacted } from "effect"
import { ImapFlow } from "imapflow"
import { ImapWatch } from "../../src/imap/ImapWatch.ts"

const [portText = "", countText = "", userPrefix = "", password = ""] = process.argv.slice(2)
const port = Number(portText)
const count = Number(countText)
const user = (i: number) => `${userPrefix}${i}`
const sleep = (millis: number) => new Promise<void>((resolve) => setTimeout(resolve, millis))

const collect = (): void => {
  const gc: unknown = Reflect.get(globalThis, "gc")
  if (typeof gc !== "function") throw new Error("run with --expose-gc")
  for (let i = 0; i < 3; i++) Reflect.apply(gc, undefined, [])
}

interface Sample {
  readonly heap: number
  readonly external: number
  readonly rss: number
}

const sample = async (): Promise<Sample> => {
  await sleep(500)
  collect()
  const usage = process.memoryUsage()
  return { heap: usage.heapUsed, external: usage.external + usage.arrayBuffers, rss: usage.rss }
}

const perConnection = (before: Sample, after: Sample) => ({
  heapKb: Math.round((after.heap - before.heap) / count / 1024),
  externalKb: Math.round((after.external - before.external) / count / 1024),
  rssKb: Math.round((after.rss - before.rss) / count / 1024)
})

/** A hand-made IMAP session up to IDLE; resolves once the server said "+ idling". */
const rawSession = (i: number): Promise<net.Socket> =>
  new Promise((resolve, reject) => {
    const socket = net.connect({ host: "127.0.0.1", port })
    const steps = [`a LOGIN ${user(i)} ${password}\r\n`, "b SELECT INBOX\r\n", "c IDLE\r\n"]
    let text = ""
    socket.on("error", reject)
    socket.on("data", (chunk: Buffer) => {
      text += chunk.toString("latin1")
      if (text.includes("+ idling")) {
        text = ""
        resolve(socket)
        return
      }
      if (/^\* OK/m.test(text) || /^[ab] OK/m.test(text)) {
        text = ""
        const next = steps.shift()
        if (next !== undefined) socket.write(next)
      }
    })
  })

const main = async () => {
  const start = await sample()
  const sockets = await Promise.all(Array.from({ length: count }, (_, i) => rawSession(i)))
  const raw = await sample()

  const clients: Array<ImapFlow> = []
  for (let i = 0; i < count; i++) {
    const client = new ImapFlow({
      host: "127.0.0.1",
      port,
      secure: false,
      auth: { user: user(i), pass: password },
      logger: false,
      disableAutoIdle: true
    })
    await client.connect()
    await client.mailboxOpen("INBOX", { readOnly: true })
    void client.idle().catch(() => undefined)
    clients.push(client)
  }
  const flow = await sample()

  let ready = 0
  const fibers = await Effect.runPromise(
    Effect.gen(function* () {
      const watch = yield* ImapWatch
      return yield* Effect.forEach(
        Array.from({ length: count }, (_, i) => i),
        (i) =>
          Effect.forkDetach(
            watch.watch(
              {
                host: "127.0.0.1",
                port,
                security: "none",
                username: user(i),
                password: Redacted.make(password),
                timeoutMs: 30_000
              },
              {
                folders: [],
                maxIdleTimeMs: 25 * 60_000,
                permit: Effect.void,
                onChange: () => undefined,
                onReady: () =>
                  Effect.sync(() => {
                    ready++
                  })
              }
            )
          )
      )
    }).pipe(Effect.provide(ImapWatch.layer))
  )
  for (let waited = 0; ready < count && waited < 120_000; waited += 100) await sleep(100)
  const watched = await sample()

  process.stdout.write(
    `${JSON.stringify({
      connections: count,
      watchersReady: ready,
      raw: perConnection(start, raw),
      imapflow: perConnection(raw, flow),
      imapWatch: perConnection(flow, watched)
    })}\n`
  )
  await Effect.runPromise(Effect.forEach(fibers, (fiber) => Fiber.interrupt(fiber), { discard: true }))
  for (const client of clients) client.close()
  for (const socket of sockets) socket.destroy()
  process.exit(0)
}

await main()
