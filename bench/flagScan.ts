/**
 * Bytes on the wire of the full flag scan a server without CONDSTORE gets on every sync
 * (src/sync/SyncStrategy.ts): `UID FETCH 1:* (UID FLAGS)` over a raw socket against Dovecot announcing
 * only IMAP4rev1, with a mailbox of mixed flags.
 *
 *   npx tsx bench/flagScan.ts [messages=50000]
 */
import * as net from "node:net"
import { startDovecot } from "../test/harness/dovecot.ts"

const N = Number(process.argv[2] ?? 50_000)
const server = await startDovecot({
  capabilities: ["IMAP4rev1"],
  specialUse: false,
  users: [{ user: "m", pass: "Measure-pw1" }]
})
try {
  const flagsets: ReadonlyArray<ReadonlyArray<string>> = [
    [],
    ["\\Seen"],
    ["\\Seen", "\\Answered"],
    ["\\Seen", "\\Flagged"],
    ["$Label1"]
  ]
  const messages = Array.from({ length: N }, (_, i) => ({
    raw: `From: a@example.com\r\nTo: b@example.com\r\nSubject: m ${i}\r\nMessage-ID: <m${i}@example.com>\r\n\r\nbody ${i}\r\n`,
    flags: flagsets[i % flagsets.length] ?? []
  }))
  await server.seedMaildir("m", "INBOX", messages)
  const socket = net.connect(server.port, server.host)
  let buffer = ""
  let bytes = 0
  let counting = false
  const waitFor = (tag: string) =>
    new Promise<void>((resolve) => {
      const check = () => {
        if (buffer.includes(`\r\n${tag} OK`) || buffer.startsWith(`${tag} OK`)) {
          socket.off("data", onData)
          resolve()
        }
      }
      const onData = (chunk: Buffer) => {
        if (counting) bytes += chunk.length
        buffer += chunk.toString("latin1")
        if (buffer.length > 1_000_000) buffer = buffer.slice(-1000)
        check()
      }
      socket.on("data", onData)
    })
  await new Promise((r) => socket.once("data", r))
  socket.write("a LOGIN m Measure-pw1\r\n")
  await waitFor("a")
  buffer = ""
  socket.write("b SELECT INBOX\r\n")
  await waitFor("b")
  buffer = ""
  counting = true
  socket.write("c UID FETCH 1:* (UID FLAGS)\r\n")
  await waitFor("c")
  console.log(JSON.stringify({ messages: N, bytes, bytesPerMessage: +(bytes / N).toFixed(1) }))
  socket.end()
} finally {
  await server.stop()
}
