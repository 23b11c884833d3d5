/**
 * A minimal OTLP/HTTP (JSON) trace receiver for benchmarks: point a process at it with
 * OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:<port> (and OTEL_LOGS_EXPORTER=none) and it appends one
 * line per span of the names asked for to a file: `<end epoch s> <name> <duration ms> <attributes JSON>`.
 *
 *   npx tsx bench/otlpSpans.ts <port> <out file> [span name ...]   (default: ImapAccess.connect imap.unselect)
 *
 * With bench/fairness.ts, whose workers inherit the environment, it gives the IMAP connect spans of
 * each run (`imap.session_reused`: a kept session, or a login); split them by the time each run ended.
 */
import * as fs from "node:fs"
import * as http from "node:http"

const [portText = "4318", out = "spans.log", ...names] = process.argv.slice(2)
const wanted = new Set(names.length > 0 ? names : ["ImapAccess.connect", "imap.unselect"])

interface OtlpValue {
  readonly stringValue?: string
  readonly boolValue?: boolean
  readonly intValue?: string | number
  readonly doubleValue?: number
}
interface OtlpSpan {
  readonly name?: string
  readonly startTimeUnixNano?: string
  readonly endTimeUnixNano?: string
  readonly attributes?: ReadonlyArray<{ readonly key: string; readonly value: OtlpValue }>
}
interface OtlpTraces {
  readonly resourceSpans?: ReadonlyArray<{
    readonly scopeSpans?: ReadonlyArray<{ readonly spans?: ReadonlyArray<OtlpSpan> }>
  }>
}

/** The exporter's own JSON (@opentelemetry/exporter-trace-otlp-http) has a resourceSpans list. */
const isTraces = (value: unknown): value is OtlpTraces =>
  typeof value === "object" && value !== null && "resourceSpans" in value && Array.isArray(value.resourceSpans)

const attributeValue = (value: OtlpValue): unknown =>
  value.stringValue ?? value.boolValue ?? (value.intValue === undefined ? value.doubleValue : Number(value.intValue))

const server = http.createServer((request, response) => {
  const chunks: Array<Buffer> = []
  request.on("data", (chunk: Buffer) => chunks.push(chunk))
  request.on("end", () => {
    if (request.url === "/v1/traces") {
      try {
        const parsed: unknown = JSON.parse(Buffer.concat(chunks).toString("utf8"))
        // the shape of the exporter's own JSON (@opentelemetry/exporter-trace-otlp-http); anything else: nothing
        const body: OtlpTraces = isTraces(parsed) ? parsed : {}
        typeof parsed === "object" && parsed !== null && "resourceSpans" in parsed ? parsed : {}
        const lines: Array<string> = []
        for (const resource of body.resourceSpans ?? [])
          for (const scope of resource.scopeSpans ?? [])
            for (const span of scope.spans ?? []) {
              if (span.name === undefined || !wanted.has(span.name)) continue
              const start = BigInt(span.startTimeUnixNano ?? "0")
              const end = BigInt(span.endTimeUnixNano ?? "0")
              const attributes = Object.fromEntries(
                (span.attributes ?? []).map((a) => [a.key, attributeValue(a.value)])
              )
              lines.push(
                `${(Number(end / 1_000_000n) / 1000).toFixed(3)} ${span.name} ${(Number(end - start) / 1e6).toFixed(1)} ${JSON.stringify(attributes)}`
              )
            }
        if (lines.length > 0) fs.appendFileSync(out, `${lines.join("\n")}\n`)
      } catch (error) {
        console.error(`not OTLP JSON: ${String(error)}`)
      }
    }
    response.writeHead(200, { "content-type": "application/json" })
    response.end("{}")
  })
})
server.listen(Number(portText), "127.0.0.1", () => console.log(`OTLP spans on 127.0.0.1:${portText} -> ${out}`))
