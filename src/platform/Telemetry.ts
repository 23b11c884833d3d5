import * as NodeSdk from "@effect/opentelemetry/NodeSdk"
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http"
import {
  BatchSpanProcessor,
  ParentBasedSampler,
  type SpanProcessor,
  TraceIdRatioBasedSampler
} from "@opentelemetry/sdk-trace-base"
import { Effect, Layer, Option } from "effect"
import { AppConfig } from "./Config.ts"

/**
 * Tracing over OTLP/HTTP when OTEL_EXPORTER_OTLP_ENDPOINT is set; quietly off
 * otherwise. `program` names the process (api, worker, start, cli).
 */
export const TelemetryLive = (program: string) =>
  Layer.unwrap(
    Effect.gen(function* () {
      const config = yield* AppConfig
      if (Option.isNone(config.otlpEndpoint)) return Layer.empty
      const exporter = new OTLPTraceExporter({ url: `${config.otlpEndpoint.value}/v1/traces` })
      return tracingWith(new BatchSpanProcessor(exporter), {
        serviceName: `${config.serviceName}-${program}`,
        sampleRatio: config.traceSampleRatio
      })
    })
  )

/** Tracing into a given span processor (tests use an in-memory exporter). */
export const tracingWith = (processor: SpanProcessor, options: { serviceName: string; sampleRatio?: number }) =>
  NodeSdk.layer(() => ({
    resource: { serviceName: options.serviceName, attributes: { "service.namespace": "mail-helper" } },
    spanProcessor: processor,
    tracerConfig: { sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(options.sampleRatio ?? 1) }) }
  }))

/**
 * Trace options for spans opened once or more per job (submit, claim, run, finish): no
 * captured call-site stack. Capturing it builds an Error per span, a few per cent of the
 * CPU at thousands of jobs per second; these spans' names already say where they start.
 */
export const perJobSpan = { captureStackTrace: false } as const
