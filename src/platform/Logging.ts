import { Cause, Config, Context, Effect, Layer, Logger, Option, References, Tracer } from "effect"
import { AppConfig } from "./Config.ts"

/**
 * One JSON object per line: level, time, message, annotations (user id, job
 * id, ...) and the ids of the current trace and span, so a log line can be
 * found from its trace and back. Code never logs secrets or message bodies;
 * values are logged as given, so callers pass ids, not records.
 */
const jsonLogger = Logger.make<unknown, void>((options) => {
  const span = Context.getOption(options.fiber.context, Tracer.ParentSpan)
  const annotations = options.fiber.getRef(References.CurrentLogAnnotations)
  const message = Array.isArray(options.message) ? options.message : [options.message]
  const line: Record<string, unknown> = {
    time: options.date.toISOString(),
    level: options.logLevel.toLowerCase(),
    message: message.map((part) => (typeof part === "string" ? part : JSON.stringify(part))).join(" "),
    ...annotations
  }
  if (span._tag === "Some") {
    line["traceId"] = span.value.traceId
    line["spanId"] = span.value.spanId
  }
  if (options.cause.reasons.length > 0) line["cause"] = Cause.pretty(options.cause)
  process.stdout.write(`${JSON.stringify(line)}\n`)
})

export { jsonLogger }

/** The process logger chosen by LOG_FORMAT, at the minimum level of LOG_LEVEL. */
export const LoggingLive = Layer.unwrap(
  Effect.gen(function* () {
    const config = yield* AppConfig
    // no colour codes where CI or NO_COLOR is set (https://no-color.org), even on a terminal
    const noColor = yield* Config.all([Config.option(Config.String("CI")), Config.option(Config.String("NO_COLOR"))])
    const colors = noColor.some(Option.isSome) ? false : "auto"
    const logger = config.logFormat === "json" ? jsonLogger : Logger.consolePretty({ colors })
    return Layer.mergeAll(
      Logger.layer([logger]),
      Layer.succeed(References.MinimumLogLevel, config.logLevel === "None" ? "None" : config.logLevel)
    )
  })
)
