import * as NodeSdk from "@effect/opentelemetry/NodeSdk"
import { OTLPLogExporter } from "@opentelemetry/exporter-logs-otlp-http"
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http"
import { BatchLogRecordProcessor, type LogRecordProcessor } from "@opentelemetry/sdk-logs"
import {
  BatchSpanProcessor,
  ParentBasedSampler,
  type SpanProcessor,
  TraceIdRatioBasedSampler
} from "@opentelemetry/sdk-trace-base"
import { Config, Effect, Layer, Option } from "effect"
import { AppConfig } from "./Config.ts"

/**
 * Traces and logs over OTLP/HTTP when OTEL_EXPORTER_OTLP_ENDPOINT is set (<endpoint>/v1/traces,
 * <endpoint>/v1/logs; logs unless OTEL_LOGS_EXPORTER=none); quietly off otherwise. Every log line the process writes (at LOG_LEVEL and
 * above) is also exported as an OTLP log record with the trace and span ids of its span, next to
 * the stdout logger of LoggingLive. `program` names the process (api, worker, start, cli).
 */
export const TelemetryLive = (program: string) =>
  Layer.unwrap(
    Effect.gen(function* () {
      const config = yield* AppConfig
      if (Option.isNone(config.otlpEndpoint)) return Layer.empty
      const exporter = new OTLPTraceExporter({ url: `${config.otlpEndpoint.value}/v1/traces` })
      // OTEL_LOGS_EXPORTER (the OpenTelemetry variable): `none` where the endpoint takes no logs
      const logsExporter = yield* Config.Literals(["otlp", "none"], "OTEL_LOGS_EXPORTER").pipe(
        Config.withDefault("otlp" as const)
      )
      const logs = new OTLPLogExporter({ url: `${config.otlpEndpoint.value}/v1/logs` })
      return tracingWith(new BatchSpanProcessor(exporter), {
        serviceName: `${config.serviceName}-${program}`,
        sampleRatio: config.traceSampleRatio,
        ...(logsExporter === "otlp" ? { logRecordProcessor: new BatchLogRecordProcessor({ exporter: logs }) } : {})
      })
    })
  )

/**
 * Tracing into a given span processor (tests use an in-memory exporter), and log records into a
 * log processor when one is given (added to the process's loggers, not replacing them).
 */
export const tracingWith = (
  processor: SpanProcessor,
  options: { serviceName: string; sampleRatio?: number; logRecordProcessor?: LogRecordProcessor }
) =>
  NodeSdk.layer(() => ({
    resource: { serviceName: options.serviceName, attributes: { "service.namespace": "mail-helper" } },
    spanProcessor: processor,
    ...(options.logRecordProcessor === undefined
      ? {}
      : { logRecordProcessor: options.logRecordProcessor, loggerMergeWithExisting: true }),
    tracerConfig: { sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(options.sampleRatio ?? 1) }) }
  }))

/**
 * Trace options for spans opened once or more per job (submit, claim, run, finish): no
 * captured call-site stack. Capturing it builds an Error per span, a few per cent of the
 * CPU at thousands of jobs per second; these spans' names already say where they start.
 */
export const perJobSpan = { captureStackTrace: false } as const
