import type { AnyValue } from "@opentelemetry/api-logs"
import type { LogRecordExporter, ReadableLogRecord } from "@opentelemetry/sdk-logs"

/**
 * Exports log records over OTLP/HTTP with the JSON encoding (POST <endpoint>/v1/logs,
 * `application/json`), which the OpenTelemetry collector and Loki's native OTLP endpoint accept.
 * @opentelemetry/exporter-logs-otlp-http is not a dependency of this project (the trace
 * exporter is); this is its JSON path in a page: records grouped by resource and scope, trace
 * and span ids as hex (the OTLP/JSON rule), times as nanosecond strings.
 */

type KeyValue = { readonly key: string; readonly value: OtlpAnyValue }
type OtlpAnyValue =
  | { readonly stringValue: string }
  | { readonly boolValue: boolean }
  | { readonly intValue: string }
  | { readonly doubleValue: number }
  | { readonly bytesValue: string }
  | { readonly arrayValue: { readonly values: ReadonlyArray<OtlpAnyValue> } }
  | { readonly kvlistValue: { readonly values: ReadonlyArray<KeyValue> } }
  | Record<string, never>

const anyValue = (value: AnyValue): OtlpAnyValue => {
  if (value === null || value === undefined) return {}
  if (typeof value === "string") return { stringValue: value }
  if (typeof value === "boolean") return { boolValue: value }
  if (typeof value === "number") return Number.isInteger(value) ? { intValue: String(value) } : { doubleValue: value }
  if (value instanceof Uint8Array) return { bytesValue: Buffer.from(value).toString("base64") }
  if (Array.isArray(value)) return { arrayValue: { values: value.map(anyValue) } }
  return { kvlistValue: { values: keyValues(value) } }
}

const keyValues = (attributes: Readonly<Record<string, AnyValue>>): Array<KeyValue> =>
  Object.entries(attributes).map(([key, value]) => ({ key, value: anyValue(value) }))

const nanos = ([seconds, nanoseconds]: readonly [number, number]) =>
  (BigInt(seconds) * 1_000_000_000n + BigInt(nanoseconds)).toString()

const logRecord = (record: ReadableLogRecord) => ({
  timeUnixNano: nanos(record.hrTime),
  observedTimeUnixNano: nanos(record.hrTimeObserved),
  ...(record.severityNumber === undefined ? {} : { severityNumber: record.severityNumber }),
  ...(record.severityText === undefined ? {} : { severityText: record.severityText }),
  ...(record.eventName === undefined ? {} : { eventName: record.eventName }),
  body: anyValue(record.body),
  attributes: keyValues(record.attributes),
  droppedAttributesCount: record.droppedAttributesCount,
  ...(record.spanContext === undefined
    ? {}
    : {
        traceId: record.spanContext.traceId,
        spanId: record.spanContext.spanId,
        flags: record.spanContext.traceFlags
      })
})

/** The OTLP/JSON body of an export request (ExportLogsServiceRequest). */
export const logsRequest = (records: ReadonlyArray<ReadableLogRecord>) => {
  const byResource = new Map<ReadableLogRecord["resource"], Map<string, Array<ReadableLogRecord>>>()
  for (const record of records) {
    const scopes = byResource.get(record.resource) ?? new Map<string, Array<ReadableLogRecord>>()
    byResource.set(record.resource, scopes)
    const scope = record.instrumentationScope
    const key = `${scope.name}\u0000${scope.version ?? ""}`
    const list = scopes.get(key) ?? []
    scopes.set(key, list)
    list.push(record)
  }
  return {
    resourceLogs: [...byResource].map(([resource, scopes]) => ({
      resource: { attributes: keyValues(resource.attributes) },
      scopeLogs: [...scopes.values()].map((list) => {
        const scope = list[0]?.instrumentationScope
        return {
          scope: { name: scope?.name ?? "", ...(scope?.version === undefined ? {} : { version: scope.version }) },
          logRecords: list.map(logRecord)
        }
      })
    }))
  }
}

export class OtlpHttpJsonLogExporter implements LogRecordExporter {
  private readonly pending = new Set<Promise<void>>()
  private stopped = false

  private readonly options: { readonly url: string; readonly timeoutMillis?: number }

  constructor(options: { readonly url: string; readonly timeoutMillis?: number }) {
    this.options = options
  }

  export(logs: Array<ReadableLogRecord>, resultCallback: Parameters<LogRecordExporter["export"]>[1]): void {
    if (this.stopped) {
      resultCallback({ code: 1, error: new Error("OTLP log exporter is shut down") })
      return
    }
    const sent = fetch(this.options.url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(logsRequest(logs)),
      signal: AbortSignal.timeout(this.options.timeoutMillis ?? 10_000)
    }).then(
      async (response) => {
        await response.arrayBuffer()
        resultCallback(
          response.ok
            ? { code: 0 }
            : { code: 1, error: new Error(`OTLP logs export to ${this.options.url}: HTTP ${response.status}`) }
        )
      },
      (cause: unknown) =>
        resultCallback({
          code: 1,
          error: new Error(`OTLP logs export to ${this.options.url} failed: ${String(cause)}`, { cause })
        })
    )
    this.pending.add(sent)
    void sent.finally(() => this.pending.delete(sent))
  }

  async forceFlush(): Promise<void> {
    await Promise.all(this.pending)
  }

  async shutdown(): Promise<void> {
    this.stopped = true
    await this.forceFlush()
  }
}
