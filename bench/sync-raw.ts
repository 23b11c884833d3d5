/**
 * Raw building blocks of a sync, measured on a throw-away Dovecot:
 *   fetch: imapflow alone vs the Imap service's fetchMessages stream
 *   parse: mailparser simpleParser on one core vs parseMessage (one core) vs the MimeParser pool
 * Usage: npx tsx bench/sync-raw.ts [messages=10000] [threads=availableParallelism]
 */
import * as os from "node:os"
import { Effect, Redacted, Stream } from "effect"
import { simpleParser } from "mailparser"
import { Imap } from "../src/imap/Imap.ts"
import { parseMessage } from "../src/sync/mime.ts"
import { MimeParser } from "../src/sync/ParserPool.ts"
import { startDovecot } from "../test/harness/dovecot.ts"
import { rate } from "./support/environment.ts"
import { fetchAllRaw, messageRateLine, openRawInbox, seedInbox } from "./support/mailbox.ts"

const count = Number(process.argv[2] ?? 10_000)
const threads = Number(process.argv[3] ?? os.availableParallelism())
const USER = "bench"
const PASS = "bench-password"

const line = messageRateLine(44)

const main = async () => {
  console.log(
    `sync-raw: ${count} messages, ${os.availableParallelism()} cores, pool of ${threads} threads, node ${process.version}`
  )
  const server = await startDovecot({ users: [{ user: USER, pass: PASS }] })
  try {
    line("seed Maildir files", count, await seedInbox(server, USER, count))

    const inbox = await openRawInbox(server, USER, PASS)

    const fetchRaw = async () => {
      const start = performance.now()
      const sources: Array<Buffer> = []
      for await (const message of fetchAllRaw(inbox.client)) {
        if (message.source !== undefined) sources.push(message.source)
      }
      return { sources, ms: performance.now() - start }
    }
    // the first FETCH also makes Dovecot read and cache every file: reported apart
    const cold = await fetchRaw()
    line("fetch: imapflow, cold (Dovecot builds its cache)", cold.sources.length, cold.ms)
    const raw = await fetchRaw()
    await inbox.close()
    const fetchedBytes = raw.sources.reduce((sum, s) => sum + s.length, 0)
    line(
      "fetch: imapflow alone (1 connection)",
      raw.sources.length,
      raw.ms,
      `  ${(fetchedBytes / 1e6 / (raw.ms / 1000)).toFixed(0)} MB/s`
    )

    const serviceFetch = Effect.gen(function* () {
      const imap = yield* Imap
      const session = yield* imap.connect({
        host: server.host,
        port: server.port,
        security: "none",
        username: USER,
        password: Redacted.make(PASS),
        timeoutMs: 10_000
      })
      const start = performance.now()
      const fetched = yield* Stream.runFold(
        session.fetchMessages("INBOX", { from: 1 }, { batchSize: 500 }),
        () => 0,
        (n, batch) => n + batch.length
      )
      return { fetched, ms: performance.now() - start }
    }).pipe(Effect.scoped, Effect.provide(Imap.layer))
    const service = await Effect.runPromise(serviceFetch)
    line(
      "fetch: Imap.fetchMessages, batches of 500",
      service.fetched,
      service.ms,
      `  ratio ${(rate(service.fetched, service.ms) / rate(raw.sources.length, raw.ms)).toFixed(2)} of imapflow`
    )

    const sources = raw.sources
    // warm-up so the JIT does not favour the later runs
    for (const source of sources.slice(0, 300)) await simpleParser(source)
    let t = performance.now()
    for (const source of sources) await simpleParser(source)
    const simpleMs = performance.now() - t
    line("parse: mailparser simpleParser, 1 core", sources.length, simpleMs)

    for (const source of sources.slice(0, 300)) await parseMessage(source)
    t = performance.now()
    let warned = 0
    for (const source of sources) if ((await parseMessage(source)).warnings.length > 0) warned++
    const ownMs = performance.now() - t
    line(
      "parse: parseMessage (+ sanitize), 1 core",
      sources.length,
      ownMs,
      `  ratio ${(simpleMs / ownMs).toFixed(2)} of simpleParser, ${warned} with warnings`
    )

    const pooled = Effect.gen(function* () {
      const parser = yield* MimeParser
      yield* parser.parseBatch(sources.slice(0, 500))
      const start = performance.now()
      let parsed = 0
      for (let i = 0; i < sources.length; i += 500)
        parsed += (yield* parser.parseBatch(sources.slice(i, i + 500))).length
      return { parsed, ms: performance.now() - start }
    }).pipe(Effect.scoped, Effect.provide(MimeParser.layerPool({ threads })))
    const pool = await Effect.runPromise(pooled)
    line(
      `parse: MimeParser pool, ${threads} threads`,
      pool.parsed,
      pool.ms,
      `  ratio ${(simpleMs / pool.ms).toFixed(2)} of simpleParser on 1 core`
    )
  } finally {
    await server.stop()
  }
}

main().catch((error: unknown) => {
  console.error(error)
  process.exitCode = 1
})
