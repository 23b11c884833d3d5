import { Duration, Schema } from "effect"
import { PingPayload, pingTimeLimitMillis } from "../debug/Ping.ts"
import { defineJobKind } from "./JobKind.ts"

export const PingResult = Schema.Struct({
  pong: Schema.Literal(true),
  attempt: Schema.Int,
  message: Schema.NullOr(Schema.String)
})

export const PingJob = defineJobKind({
  name: "debug.ping",
  description: "Sleeps, reports progress and fails on request, to exercise the job system",
  payload: PingPayload,
  result: PingResult,
  concurrency: 50,
  timeout: Duration.millis(pingTimeLimitMillis),
  retryOnTimeout: false,
  retry: { attempts: 3, initialDelay: "200 millis", maxDelay: "2 seconds", jitter: 0.2 },
  userVisible: true
})
