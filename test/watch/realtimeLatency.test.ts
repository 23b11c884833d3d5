/**
 * The latency probe of the real-time path (issue 14): APPEND on a real Dovecot -> watcher (NOTIFY)
 * -> coalescer -> `mail.sync` -> stored -> `mail.stored` on the SSE stream -> `mail.analyze` ->
 * `mail.analysed`. It asserts nothing about time (a shared machine's clock says nothing); it only
 * runs with LATENCY_PROBE=1 and prints where the time went, measured at the SSE client:
 *
 *   LATENCY_PROBE=1 npx vitest run test/watch/realtimeLatency.test.ts
 *
 * (LATENCY_PROBE_SINGLES=N single APPENDs, default 15; LATENCY_PROBE_BURST=N messages, default 100.)
 * Every stage is an event the user's stream carries: `job.changed` queued / running / succeeded of
 * the sync and of the analysis, `mail.stored`, `mail.analysed`; the sync's own result adds its run time.
 */
import { assert, layer } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { ImapFlow } from "imapflow"
import { randomUUID } from "node:crypto"
import * as fs from "node:fs"
import * as os from "node:os"
import { Dovecot } from "../harness/dovecot.ts"
import { baseUrl, call, field } from "../harness/http.ts"
import { accountPayload } from "../sync/support.ts"
import { appTestLayer, as } from "../emails/helpers.ts"
import { connected, eventually, openSse, type SseMessage } from "../events/sseClient.ts"

const enabled = process.env["LATENCY_PROBE"] === "1"
const singles = Number(process.env["LATENCY_PROBE_SINGLES"] ?? 15)
const burst = Number(process.env["LATENCY_PROBE_BURST"] ?? 100)
const PASSWORD = "latency-Passw0rd!"
const IMAP_USER = "latency"

const TestLayer = Layer.mergeAll(
  appTestLayer({
    WATCH_ENABLED: "true",
    WATCH_OWNERSHIP: "local",
    WATCH_REFRESH_SECONDS: "1",
    LOG_LEVEL: "Warn"
  }),
  Dovecot.layer({ users: [{ user: IMAP_USER, pass: PASSWORD }] })
)

interface Seen {
  readonly at: number
  readonly type: string
  readonly data: unknown
}

const message = (subject: string) =>
  `From: a@example.com\r\nTo: latency@example.com\r\nSubject: ${subject}\r\nMessage-ID: <${randomUUID()}@example.com>\r\nDate: ${new Date().toUTCString()}\r\n\r\nHello, this is ${subject}.\r\n`

const percentile = (values: ReadonlyArray<number>, p: number) => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted.length === 0
    ? Number.NaN
    : (sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0)
}
const summary = (name: string, values: ReadonlyArray<number>) =>
  `${name.padEnd(34)} p50 ${percentile(values, 50).toFixed(0).padStart(5)} ms  p95 ${percentile(values, 95).toFixed(0).padStart(5)} ms  max ${Math.max(
    ...values
  )
    .toFixed(0)
    .padStart(5)} ms`

const describeProbe = enabled ? layer(TestLayer, { excludeTestServices: true, timeout: "280 seconds" }) : null

if (describeProbe === null) {
  // vitest wants a test in every file it collects
  layer(Layer.empty)("real-time latency probe", (it) => {
    it.effect("runs only with LATENCY_PROBE=1", () => Effect.void)
  })
} else {
  describeProbe("real-time latency probe", (it) => {
    it.effect(
      "APPEND -> mail.stored / mail.analysed on the SSE stream",
      () =>
        Effect.gen(function* () {
          const server = yield* Dovecot
          const base = yield* baseUrl
          const owner = crypto.randomUUID()
          const created = yield* call(base, "POST", "/api/v1/accounts", {
            json: { ...accountPayload(server, { username: IMAP_USER, password: PASSWORD }), syncIntervalMinutes: null },
            headers: as(owner)
          })
          assert.strictEqual(created.status, 201, created.text)
          const stream = yield* openSse(`${base}/api/v1/events`, as(owner))
          yield* connected(stream)
          const seen: Array<Seen> = []
          let read = 0
          const drain = () => {
            const events: ReadonlyArray<SseMessage> = stream.events()
            for (; read < events.length; read++) {
              const event = events[read]
              if (event === undefined) continue
              seen.push({ at: performance.now(), type: event.event ?? "", data: JSON.parse(event.data ?? "null") })
            }
          }
          const poller = setInterval(drain, 2)
          yield* Effect.addFinalizer(() => Effect.sync(() => clearInterval(poller)))

          /** A plain imapflow client of the probe's user, connected; `autoIdle` lets it IDLE when it has nothing to do. */
          const connectImap = async (autoIdle: boolean) => {
            const c = new ImapFlow({
              host: server.host,
              port: server.port,
              secure: false,
              auth: { user: IMAP_USER, pass: PASSWORD },
              logger: false,
              disableAutoIdle: !autoIdle
            })
            await c.connect()
            return c
          }
          const imap = yield* Effect.acquireRelease(
            Effect.promise(() => connectImap(false)),
            (c) => Effect.promise(() => c.logout().catch(() => undefined))
          )
          // the server's own floor: a plain IDLE client on INBOX hears EXISTS this long after the APPEND
          let existsAt = Number.NaN
          const listener = yield* Effect.acquireRelease(
            Effect.promise(async () => {
              const c = await connectImap(true)
              await c.mailboxOpen("INBOX")
              c.on("exists", () => {
                if (Number.isNaN(existsAt)) existsAt = performance.now()
              })
              // IDLE until the logout (it ends with the connection)
              void c.idle().catch(() => undefined)
              return c
            }),
            (c) => Effect.promise(() => c.logout().catch(() => undefined))
          )
          // what the library alone needs to bring one new message in: connect, login, SELECT, FETCH the newest
          const rawFetch = Effect.promise(async () => {
            const start = performance.now()
            const c = await connectImap(true)
            const loggedIn = performance.now()
            await c.mailboxOpen("INBOX", { readOnly: true })
            await c.fetchOne("*", { uid: true, source: true, flags: true })
            const fetched = performance.now()
            await c.logout()
            return { login: loggedIn - start, total: fetched - start }
          })
          assert.isTrue(listener.usable)
          const append = (subject: string) =>
            Effect.promise(async () => {
              const start = performance.now()
              await imap.append("INBOX", message(subject))
              return { start, done: performance.now() }
            })
          const countOf = (type: string) => seen.filter((event) => event.type === type).length
          const sinceIndex = (from: number, pick: (event: Seen) => boolean) =>
            seen.slice(from).find(pick)?.at ?? Number.NaN
          const jobEvent = (kind: string, state: string) => (event: Seen) =>
            event.type === "job.changed" && field(event.data, "kind") === kind && field(event.data, "state") === state

          // warm up: the first sync and the watcher's catch-up, then one message end to end
          yield* append("warm-up")
          yield* eventually("warm-up stored and analysed", () => countOf("mail.analysed") >= 1)
          yield* Effect.sleep("1500 millis")

          const rows: Record<string, Array<number>> = {}
          const add = (name: string, value: number) => {
            if (!Number.isFinite(value)) return
            const values = rows[name] ?? []
            values.push(value)
            rows[name] = values
          }
          for (let i = 0; i < singles; i++) {
            drain()
            const from = seen.length
            const storedBefore = countOf("mail.stored")
            const analysedBefore = countOf("mail.analysed")
            existsAt = Number.NaN
            const { start, done } = yield* append(`single ${i}`)
            yield* eventually("single stored", () => countOf("mail.stored") > storedBefore)
            yield* eventually("single analysed", () => countOf("mail.analysed") > analysedBefore)
            yield* eventually("analysis job ended", () => seen.slice(from).some(jobEvent("mail.analyze", "succeeded")))
            const stored = sinceIndex(from, (event) => event.type === "mail.stored")
            const analysed = sinceIndex(from, (event) => event.type === "mail.analysed")
            add("APPEND command", done - start)
            add("APPEND -> EXISTS (Dovecot floor)", existsAt - done)
            add("APPEND -> sync queued", sinceIndex(from, jobEvent("mail.sync", "queued")) - done)
            add(
              "sync queued -> running",
              sinceIndex(from, jobEvent("mail.sync", "running")) - sinceIndex(from, jobEvent("mail.sync", "queued"))
            )
            add("sync running -> mail.stored", stored - sinceIndex(from, jobEvent("mail.sync", "running")))
            add("APPEND -> mail.stored", stored - done)
            add("mail.stored -> analyze queued", sinceIndex(from, jobEvent("mail.analyze", "queued")) - stored)
            add(
              "analyze queued -> running",
              sinceIndex(from, jobEvent("mail.analyze", "running")) -
                sinceIndex(from, jobEvent("mail.analyze", "queued"))
            )
            add("APPEND -> mail.analysed", analysed - done)
            const raw = yield* rawFetch
            add("raw imapflow connect+login", raw.login)
            add("raw imapflow login+select+fetch", raw.total)
            // the next APPEND after the path is quiet again
            yield* Effect.sleep("700 millis")
          }

          // a burst in one folder: from the first APPEND's start to the last message stored
          drain()
          const storedBefore = countOf("mail.stored")
          const analysedBefore = countOf("mail.analysed")
          const burstStart = performance.now()
          yield* Effect.promise(() =>
            Promise.all(Array.from({ length: burst }, (_, i) => imap.append("INBOX", message(`burst ${i}`))))
          )
          const burstAppended = performance.now()
          yield* eventually("burst stored", () => countOf("mail.stored") >= storedBefore + burst)
          const burstStored =
            seen.filter((event) => event.type === "mail.stored")[storedBefore + burst - 1]?.at ?? Number.NaN
          yield* eventually("burst analysed", () => countOf("mail.analysed") >= analysedBefore + burst)
          const burstAnalysed =
            seen.filter((event) => event.type === "mail.analysed")[analysedBefore + burst - 1]?.at ?? Number.NaN

          const listed = yield* call(base, "GET", "/api/v1/jobs?kind=mail.sync&limit=100", { headers: as(owner) })
          const items = field(listed.body, "items")
          const syncs = (Array.isArray(items) ? items : [])
            .filter(
              (job) =>
                new Date(String(field(job, "createdAt"))).getTime() >=
                Date.now() - (performance.now() - burstStart) - 100
            )
            .map((job) => {
              const result = field(job, "result")
              return result === null
                ? String(field(job, "state"))
                : `${String(field(result, "newMessages"))} new in ${String(field(result, "durationMillis"))} ms (busy: ${JSON.stringify(field(result, "stageMillis"))})`
            })
          const lines = [
            `real-time latency probe: ${singles} single APPENDs to INBOX (NOTIFY), then a burst of ${burst}; load average ${os
              .loadavg()
              .map((n) => n.toFixed(2))
              .join(" ")}`,
            ...Object.entries(rows).map(([name, values]) => summary(name, values)),
            `burst's syncs (newest first): ${syncs.join("; ")}`,
            `burst: APPENDs took ${(burstAppended - burstStart).toFixed(0)} ms; first APPEND -> all ${burst} stored ${(burstStored - burstStart).toFixed(0)} ms, last APPEND -> all stored ${(burstStored - burstAppended).toFixed(0)} ms, -> all analysed ${(burstAnalysed - burstStart).toFixed(0)} ms`
          ]
          const report = `\n${lines.join("\n")}\n`
          process.stdout.write(report)
          fs.mkdirSync(".tmp", { recursive: true })
          fs.appendFileSync(".tmp/latency-probe.txt", report)
        }).pipe(Effect.scoped),
      280_000
    )
  })
}
