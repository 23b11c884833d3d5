/**
 * `bench/sync.ts --first-page`: the time from adding an account to its first screen (the newest
 * FIRST_PAGE messages of INBOX stored, then analysed), by the real worker process, A/B in one run:
 *
 * - `tick`: the account added as before issue 17's fix: login check, row, then its scheduler, whose
 *   immediate first tick (a BullMQ job) the worker runs: it looks the account up and submits the sync;
 * - `direct`: `Accounts.create` as the API runs it: login check, then the row and the first sync's
 *   record in one transaction, the queue add, the scheduler (first tick one interval later).
 *
 * Per round, each variant gets a fresh worker (started, then left until it is idle: an account is
 * added to a running worker) and a fresh owner and account on the same seeded mailbox; the order
 * alternates per round. Times are from the start of the create (the user's click) and from its answer
 * (the account exists), polled every 10 ms over the bench's pool in the system scope (not psql: a process per poll
 * cost the machine more CPU than the worker). Where the time went comes from the database's clock
 * (the sync's record, its start, the first page's rows, the analysis job) and, with BENCH_TRACE=1,
 * from the worker's own spans (OTLP/HTTP JSON to a sink in this process; they carry their own clock).
 */
import type { ChildProcess } from "node:child_process"
import * as http from "node:http"
import { Effect, Option, Redacted, Schema } from "effect"
import { SqlClient } from "effect/sql"
import { Accounts } from "../../src/accounts/Accounts.ts"
import { AccountSchedules } from "../../src/accounts/AccountSchedules.ts"
import { AccountStore } from "../../src/accounts/AccountStore.ts"
import { ImapAccess } from "../../src/accounts/ImapAccess.ts"
import { AccountId } from "../../src/contract/accounts/Account.ts"
import { UserId } from "../../src/contract/users/UserId.ts"
import { UserScope } from "../../src/users/UserScope.ts"
import { processCpu } from "./cpu.ts"

export type Variant = "tick" | "direct"

export interface FirstPageRun {
  readonly variant: Variant
  /** ms from the create's start */
  readonly created: number
  readonly stored: number
  readonly analysed: number
  /** CPU ms of the worker process from the create's start to the first page stored, then analysed */
  readonly workerCpuStored: number
  readonly workerCpuAnalysed: number
  readonly breakdown: ReadonlyArray<readonly [string, number | null]>
  readonly spans: ReadonlyArray<string>
}

interface Span {
  readonly traceId: string
  readonly spanId: string
  readonly parentSpanId: string
  readonly name: string
  readonly start: number
  readonly end: number
}

const nanos = (value: unknown): number => (typeof value === "string" || typeof value === "number" ? Number(value) : 0)

/** An OTLP/HTTP (JSON) trace sink: the worker's spans, with their own clock (ms since the epoch). */
export const spanSink = () =>
  Effect.acquireRelease(
    Effect.promise(
      () =>
        new Promise<{ readonly url: string; readonly spans: Array<Span>; readonly server: http.Server }>((resolve) => {
          const spans: Array<Span> = []
          const server = http.createServer((request, response) => {
            let body = ""
            request.on("data", (chunk: Buffer) => {
              body += chunk.toString("utf8")
            })
            request.on("end", () => {
              try {
                const decoded: unknown = JSON.parse(body)
                collect(decoded, spans)
              } catch {
                // not JSON (logs are off): ignored
              }
              response.writeHead(200, { "content-type": "application/json" }).end("{}")
            })
          })
          server.listen(0, "127.0.0.1", () => {
            const address = server.address()
            const port = typeof address === "object" && address !== null ? address.port : 0
            resolve({ url: `http://127.0.0.1:${port}`, spans, server })
          })
        })
    ),
    (sink) => Effect.sync(() => sink.server.close())
  )

const OtlpSpan = Schema.Struct({
  traceId: Schema.String,
  spanId: Schema.String,
  parentSpanId: Schema.optional(Schema.String),
  name: Schema.String,
  startTimeUnixNano: Schema.Union([Schema.String, Schema.Number]),
  endTimeUnixNano: Schema.Union([Schema.String, Schema.Number])
})
const OtlpTraces = Schema.Struct({
  resourceSpans: Schema.Array(
    Schema.Struct({ scopeSpans: Schema.Array(Schema.Struct({ spans: Schema.Array(OtlpSpan) })) })
  )
})
const decodeTraces = Schema.decodeUnknownOption(OtlpTraces)

const collect = (body: unknown, into: Array<Span>) => {
  const traces = decodeTraces(body)
  if (Option.isNone(traces)) return
  for (const resource of traces.value.resourceSpans)
    for (const scope of resource.scopeSpans)
      for (const span of scope.spans)
        into.push({
          traceId: span.traceId,
          spanId: span.spanId,
          parentSpanId: span.parentSpanId ?? "",
          name: span.name,
          start: nanos(span.startTimeUnixNano) / 1e6,
          end: nanos(span.endTimeUnixNano) / 1e6
        })
}

/**
 * The spans of the trace of the account's first sync (found by its `ImapAccess.connect` after
 * `origin`; the sync's own `job.process` span has not ended yet, so it is not exported), from
 * `origin` to `until` (ms since the epoch), as an indented tree: start and duration in ms after
 * `origin`; spans under 3 ms are left out (SQL statements and Redis calls of a few ms each).
 */
export const spanTree = (spans: ReadonlyArray<Span>, origin: number, until: number): Array<string> => {
  const connect = spans.find((span) => span.name === "ImapAccess.connect" && span.start >= origin)
  if (connect === undefined) return ["(no ImapAccess.connect span of the sync)"]
  const inTrace = spans.filter((span) => span.traceId === connect.traceId && span.start <= until)
  const ids = new Set(inTrace.map((span) => span.spanId))
  const children = new Map<string, Array<Span>>()
  for (const span of inTrace) {
    const parent = ids.has(span.parentSpanId) ? span.parentSpanId : "root"
    const list = children.get(parent) ?? []
    list.push(span)
    children.set(parent, list)
  }
  const lines: Array<string> = []
  const walk = (span: Span, depth: number) => {
    if (lines.length > 80) return
    if (span.end - span.start >= 3 || depth === 0) {
      lines.push(
        `${String(Math.round(span.start - origin)).padStart(6)} +${String(Math.round(span.end - span.start)).padStart(5)} ms ${"  ".repeat(depth)}${span.name}`
      )
    }
    for (const child of (children.get(span.spanId) ?? []).sort((a, b) => a.start - b.start)) walk(child, depth + 1)
  }
  for (const root of (children.get("root") ?? []).sort((a, b) => a.start - b.start)) walk(root, 0)
  return lines
}

const Counts = Schema.Struct({ stored: Schema.Number, analysed: Schema.Number })

/** Waits until the worker's CPU stays under 10 % of a core for 250 ms (at most 10 s). */
export const untilIdle = (pid: number) =>
  Effect.gen(function* () {
    yield* Effect.sleep("1 second")
    for (let i = 0; i < 40; i++) {
      const before = processCpu(pid)
      yield* Effect.sleep("250 millis")
      if (processCpu(pid) - before <= 25) return
    }
  })

/**
 * One account added and watched until its first page is analysed. `count`: the mailbox's size (a
 * fresh Maildir numbers its messages 1..count: the newest are the highest UIDs).
 */
export const firstPageRun = (options: {
  readonly variant: Variant
  readonly worker: ChildProcess
  readonly server: { readonly host: string; readonly port: number }
  readonly user: string
  readonly pass: string
  readonly count: number
  readonly firstPage: number
  readonly psql: (query: string) => string
  readonly spans: ReadonlyArray<Span> | null
}) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    // the pool's role is bound by row-level security: the polls look across users
    const scope = yield* UserScope
    const pid = options.worker.pid ?? 0
    const owner = UserId.make(crypto.randomUUID())
    options.psql(`INSERT INTO users (id, email, password_hash) VALUES ('${owner}', '${owner}@bench.invalid', '!')`)
    const input = {
      label: "bench",
      host: options.server.host,
      port: options.server.port,
      security: "none" as const,
      username: options.user,
      password: options.pass,
      syncIntervalMinutes: 15
    }
    yield* untilIdle(pid)
    const cpuBefore = processCpu(pid)
    const origin = Date.now()
    const started = performance.now()
    const since = () => performance.now() - started
    let accountId: string
    if (options.variant === "direct") {
      accountId = (yield* (yield* Accounts).create(owner, input)).id
    } else {
      // the create before issue 17's fix: the login check, the row, the scheduler (its first tick now)
      const target = { host: input.host, port: input.port, security: input.security, username: input.username }
      yield* (yield* ImapAccess).verify(target, Redacted.make(input.password))
      const record = yield* (yield* AccountStore).insert(owner, {
        id: AccountId.make(crypto.randomUUID()),
        label: input.label,
        ...target,
        password: Redacted.make(input.password),
        syncIntervalMinutes: input.syncIntervalMinutes
      })
      yield* (yield* AccountSchedules).apply(record)
      accountId = record.id
    }
    const created = since()
    let stored: number | null = null
    let analysed: number | null = null
    let workerCpuStored = 0
    for (;;) {
      const [counts] = yield* sql`
        SELECT count(*)::int AS stored, count(*) FILTER (WHERE e.analysis_state <> 'pending')::int AS analysed
        FROM mailboxes m JOIN emails e ON e.mailbox_id = m.id AND e.uid > ${options.count - options.firstPage}
        WHERE m.account_id = ${accountId} AND m.path = 'INBOX'`.pipe(
        Effect.flatMap(Schema.decodeUnknownEffect(Schema.Array(Counts))),
        (query) => scope.system("bench: first page poll", query)
      )
      if (stored === null && counts?.stored === options.firstPage) {
        stored = since()
        workerCpuStored = processCpu(pid) - cpuBefore
      }
      if (stored !== null && counts?.analysed === options.firstPage) {
        analysed = since()
        break
      }
      if (since() > 120_000) {
        const jobs = options.psql(
          `SELECT string_agg(kind || ' ' || state || ' ' || coalesce(error_message, ''), '; ') FROM jobs WHERE user_id = '${owner}'`
        )
        return yield* Effect.die(
          new Error(
            `${options.variant}: no first page after 120 s (stored ${counts?.stored}, analysed ${counts?.analysed}; jobs: ${jobs})`
          )
        )
      }
      yield* Effect.sleep("10 millis")
    }
    const workerCpuAnalysed = processCpu(pid) - cpuBefore
    // the database's clock, ms after the create's start (same machine clock as Date.now())
    const at = (column: string) => `round(extract(epoch FROM ${column}) * 1000 - ${origin})`
    const newest = `e.uid > ${options.count - options.firstPage}`
    const rows = options.psql(`
      SELECT 'account row written', ${at("min(created_at)")} FROM mail_accounts WHERE id = '${accountId}'
      UNION ALL SELECT 'sync record written (submit)', ${at("min(created_at)")} FROM jobs WHERE user_id = '${owner}' AND kind = 'mail.sync'
      UNION ALL SELECT 'sync started (worker claimed it)', ${at("min(started_at)")} FROM jobs WHERE user_id = '${owner}' AND kind = 'mail.sync'
      UNION ALL SELECT 'first page rows written (transaction start)', ${at("max(e.created_at)")} FROM emails e JOIN mailboxes m ON m.id = e.mailbox_id AND m.path = 'INBOX' WHERE e.account_id = '${accountId}' AND ${newest}
      UNION ALL SELECT 'analysis job submitted', ${at("min(created_at)")} FROM jobs WHERE user_id = '${owner}' AND kind = 'mail.analyze'
      UNION ALL SELECT 'analysis job started', ${at("min(started_at)")} FROM jobs WHERE user_id = '${owner}' AND kind = 'mail.analyze'
      UNION ALL SELECT 'first page: last analysis written', ${at("max(a.analysed_at)")} FROM emails e JOIN email_analysis a ON a.email_id = e.id WHERE e.account_id = '${accountId}' AND ${newest}`)
    const breakdown = rows
      .split("\n")
      .filter((line) => line !== "")
      .map((line) => {
        const [what = "", ms = ""] = line.split("|")
        return [what, ms === "" ? null : Number(ms)] as const
      })
    let spans: Array<string> = []
    if (options.spans !== null) {
      // the worker exports every 100 ms (OTEL_BSP_SCHEDULE_DELAY)
      yield* Effect.sleep("1500 millis")
      spans = spanTree(options.spans, origin, origin + stored)
    }
    return {
      variant: options.variant,
      created,
      stored: stored ?? Number.NaN,
      analysed,
      workerCpuStored,
      workerCpuAnalysed,
      breakdown,
      spans
    } satisfies FirstPageRun
  })
