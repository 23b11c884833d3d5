/**
 * One HTTP POST of a delivery: to the address the destination policy checked (node's `lookup`
 * option answers with it, so a DNS answer that changes after the check is never used; TLS still
 * verifies the certificate against the host name), no redirect followed (a 3xx is a failure), at
 * most `timeoutMillis` in all, at most `maxResponseBytes` of the answer read.
 */
import { Effect, Schema } from "effect"
import * as http from "node:http"
import * as https from "node:https"
import * as net from "node:net"
import type { Destination } from "./WebhookDestinations.ts"

export const maxResponseBytes = 4096
export const timeoutMillis = 10_000

export class SendFailed extends Schema.TaggedError<SendFailed>()("SendFailed", { message: Schema.String }) {}

export interface SendResult {
  readonly status: number
}

/** A `lookup` that answers every query with the checked address. */
const pinnedLookup =
  (address: string): net.LookupFunction =>
  (_hostname, options, callback) => {
    const family = net.isIP(address) === 6 ? 6 : 4
    if (options.all === true) callback(null, [{ address, family }])
    else callback(null, address, family)
  }

const describe = (error: unknown): string => {
  if (!(error instanceof Error)) return "request failed"
  const code = "code" in error && typeof error.code === "string" ? error.code : undefined
  return code === undefined ? error.message : `${code}: ${error.message}`
}

export const send = (
  destination: Destination,
  headers: Readonly<Record<string, string>>,
  body: string
): Effect.Effect<SendResult, SendFailed> =>
  Effect.callback<SendResult, SendFailed>((resume) => {
    const { url } = destination
    const module = url.protocol === "https:" ? https : http
    const request = module.request({
      method: "POST",
      protocol: url.protocol,
      hostname: destination.hostname,
      port: url.port === "" ? undefined : Number(url.port),
      path: `${url.pathname}${url.search}`,
      headers: {
        ...headers,
        "content-type": "application/json",
        "content-length": String(Buffer.byteLength(body)),
        "user-agent": "mail-helper-webhooks/1"
      },
      agent: false,
      ...(destination.address === undefined ? {} : { lookup: pinnedLookup(destination.address) })
    })
    let settled = false
    const finish = (effect: Effect.Effect<SendResult, SendFailed>) => {
      if (settled) return
      settled = true
      resume(effect)
    }
    request.setTimeout(timeoutMillis, () => request.destroy(new Error(`no answer within ${timeoutMillis / 1000} s`)))
    request.on("error", (error) => finish(Effect.fail(new SendFailed({ message: describe(error) }))))
    request.on("response", (response) => {
      let read = 0
      const status = response.statusCode ?? 0
      const done = () => {
        response.destroy()
        finish(Effect.succeed({ status }))
      }
      response.on("data", (chunk: Buffer) => {
        read += chunk.length
        if (read >= maxResponseBytes) done()
      })
      response.on("end", done)
      response.on("error", done)
    })
    request.end(body)
    return Effect.sync(() => {
      settled = true
      request.destroy()
    })
  }).pipe(
    Effect.timeoutOrElse({
      duration: timeoutMillis + 1000,
      orElse: () => Effect.fail(new SendFailed({ message: `no answer within ${timeoutMillis / 1000} s` }))
    })
  )
