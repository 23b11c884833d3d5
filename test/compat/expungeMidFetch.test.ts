/**
 * Issue 12, "a message expunged by another client in the middle of a fetch": the product's sync
 * talks to Dovecot through a loopback proxy that holds the server's answer at the first message
 * body of the first UID FETCH; while it is held, a second, independent imapflow session expunges
 * messages of the batch being fetched (one already on the wire, some later in the same batch, some
 * in the next batch, the last one) and only then is the rest of the answer let through. Dovecot
 * has by then written part of the batch to the socket and finds the rest gone on disk.
 *
 * The sync must end without error and the stored mailbox must equal the server's own view
 * (doveadm), either at once or after the next sync; the test pins down which.
 */
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import { ImapFlow } from "imapflow"
import * as net from "node:net"
import { Dovecot, type DovecotServer } from "../harness/dovecot.ts"
import {
  api,
  assertMatchesServer,
  baseUrl,
  createAccount,
  expectSucceeded,
  field,
  storedEmails,
  syncNow,
  syncTestLayer,
  terminal,
  waitForJob
} from "../sync/support.ts"

const OWNER = "a1111111-1111-4111-8111-111111111111"
const PASSWORD = "Expunge-mid-fetch-pw1"
const USER = "midfetch"
const FOLDER = "Big"
const COUNT = 400
/** ~24 KB each: a 250-message batch is ~6 MB, far more than the socket buffers hold while paused. */
const padding = "x".repeat(76)

const raw = (index: number) =>
  [
    `Message-ID: <midfetch.${index}@compat.test>`,
    "From: Sender <sender@compat.test>",
    "To: user@compat.test",
    `Subject: mid-fetch ${index}`,
    `Date: ${new Date(Date.UTC(2026, 0, 1, 0, 0, index)).toUTCString()}`,
    "",
    ...Array.from({ length: 310 }, () => padding),
    ""
  ].join("\r\n")

interface PausingProxy {
  readonly port: number
  /** Whether the hook ran (the first message body of a FETCH was seen). */
  readonly fired: () => boolean
  readonly close: () => Promise<void>
}

/**
 * Forwards 127.0.0.1:<port> to the server; when the server's stream first shows a FETCH response
 * carrying a message body, it stops reading from the server, runs `hook`, then forwards the rest.
 */
const pausingProxy = (target: { host: string; port: number }, hook: () => Promise<void>): Promise<PausingProxy> =>
  new Promise((resolve, reject) => {
    let fired = false
    const sockets = new Set<net.Socket>()
    const server = net.createServer((client) => {
      const upstream = net.connect(target.port, target.host)
      sockets.add(client)
      sockets.add(upstream)
      client.on("error", () => upstream.destroy())
      upstream.on("error", () => client.destroy())
      client.on("close", () => upstream.destroy())
      upstream.on("close", () => client.destroy())
      client.pipe(upstream)
      let tail = ""
      upstream.on("data", (chunk: Buffer) => {
        if (!fired) {
          const text = tail + chunk.toString("latin1")
          tail = text.slice(-200)
          if (/\* \d+ FETCH \([^\r\n]*BODY\[\]/.test(text)) {
            fired = true
            upstream.pause()
            hook().then(
              () => {
                client.write(chunk)
                upstream.resume()
              },
              (error: unknown) => {
                console.error("proxy hook failed", error)
                client.destroy()
              }
            )
            return
          }
        }
        if (!client.write(chunk)) {
          upstream.pause()
          client.once("drain", () => upstream.resume())
        }
      })
    })
    server.on("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      if (typeof address !== "object" || address === null) return reject(new Error("proxy has no port"))
      resolve({
        port: address.port,
        fired: () => fired,
        close: () =>
          new Promise<void>((done) => {
            for (const socket of sockets) socket.destroy()
            server.close(() => done())
          })
      })
    })
  })

/** Expunges the given sequence positions of FOLDER through an independent session; returns their UIDs. */
const expungeFromOtherClient = async (server: DovecotServer, positions: ReadonlyArray<number>) => {
  const client = new ImapFlow({
    host: server.host,
    port: server.port,
    secure: false,
    auth: { user: USER, pass: PASSWORD },
    logger: false,
    disableAutoIdle: true
  })
  await client.connect()
  try {
    await client.mailboxOpen(FOLDER)
    const uids = (await client.search({ all: true }, { uid: true })) || []
    const gone = positions.map((position) => uids[position - 1]).filter((uid): uid is number => uid !== undefined)
    await client.messageDelete(gone.join(","), { uid: true })
    await client.mailboxClose()
    return gone
  } finally {
    await client.logout().catch(() => client.close())
  }
}

const TestLayer = syncTestLayer({ worker: true, dovecot: { users: [{ user: USER, pass: PASSWORD }] } })

layer(TestLayer, { excludeTestServices: true, timeout: "120 seconds" })("expunge in the middle of a fetch", (it) => {
  it.effect(
    "messages expunged by another client while a batch is being fetched: the sync ends matching the server",
    () =>
      Effect.gen(function* () {
        const server = yield* Dovecot
        const base = yield* baseUrl
        yield* Effect.promise(async () => {
          await server.createMailbox(USER, FOLDER)
          await server.seedMaildir(
            USER,
            FOLDER,
            Array.from({ length: COUNT }, (_, index) => ({ raw: raw(index + 1) }))
          )
        })
        let expunged: ReadonlyArray<number> = []
        const proxy = yield* Effect.acquireRelease(
          Effect.promise(() =>
            pausingProxy(server, async () => {
              // 1: on the wire already; 2, 120, 249: later in the first 250-message batch; 300: next batch; 400: last
              expunged = await expungeFromOtherClient(server, [1, 2, 120, 249, 300, COUNT])
            })
          ),
          (started) => Effect.promise(() => started.close())
        )
        const accountId = yield* createAccount(base, OWNER, server, {
          username: USER,
          password: PASSWORD,
          port: proxy.port,
          host: "127.0.0.1"
        })
        // the first attempt is the outcome: a retry of the job would hide a failed fetch
        const started = yield* api(base, OWNER, "POST", `/api/v1/accounts/${accountId}/sync`)
        assert.strictEqual(started.status, 202, started.text)
        const first = yield* waitForJob(
          base,
          OWNER,
          String(field(started.body, "jobId")),
          (job) => terminal(field(job, "state")) || field(job, "state") === "retrying" || field(job, "error") !== null
        )
        assert.isTrue(proxy.fired(), "the proxy never saw a message body in a FETCH response")
        assert.lengthOf(expunged, 6)
        expectSucceeded(first)
        const afterFirst = yield* storedEmails(accountId, FOLDER)
        const storedExpunged = afterFirst.filter((email) => expunged.includes(email.uid)).map((email) => email.uid)
        const storedUids = new Set(afterFirst.map((email) => email.uid))
        const kept = Array.from({ length: COUNT }, (_, index) => index + 1).filter((uid) => !expunged.includes(uid))
        assert.deepStrictEqual(
          kept.filter((uid) => !storedUids.has(uid)),
          [],
          "every message still on the server is stored after the first sync"
        )
        // a message the server could no longer read (BODY[] NIL, or not reported) is not stored; one
        // whose body was on the wire before the expunge is stored now and removed by the next sync
        assert.isBelow(storedExpunged.length, expunged.length, "no expunged message reached the sync as gone")
        const second = yield* syncNow(base, OWNER, accountId)
        expectSucceeded(second)
        yield* assertMatchesServer(server, USER, accountId, FOLDER)
      })
  )
})
