import { Effect } from "effect"
import { HttpServer } from "effect/http"

export interface ApiResponse {
  readonly status: number
  readonly headers: Headers
  readonly text: string
  /** The parsed JSON body, or undefined when the body is not JSON. */
  readonly body: unknown
}

export interface CallOptions {
  readonly json?: unknown
  /** A raw body (for malformed JSON and oversized bodies). */
  readonly body?: string
  readonly headers?: Record<string, string>
}

/** The base URL of the HTTP server the test layer started. */
export const baseUrl = Effect.gen(function* () {
  const server = yield* HttpServer.HttpServer
  const address = server.address
  if (!("port" in address)) return yield* Effect.die(new Error("test server is not on TCP"))
  return `http://127.0.0.1:${address.port}`
})

const parse = (text: string): unknown => {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

/** A real HTTP request with fetch, as a client outside the process would send it. */
export const call = (base: string, method: string, path: string, options: CallOptions = {}) =>
  Effect.promise(async (): Promise<ApiResponse> => {
    const headers: Record<string, string> = { ...options.headers }
    let body: string | undefined
    if (options.json !== undefined) {
      headers["content-type"] = "application/json"
      body = JSON.stringify(options.json)
    } else if (options.body !== undefined) {
      headers["content-type"] ??= "application/json"
      body = options.body
    }
    const response = await fetch(`${base}${path}`, { method, headers, ...(body === undefined ? {} : { body }) })
    const text = await response.text()
    return { status: response.status, headers: response.headers, text, body: parse(text) }
  })

/** Reads a nested field of a JSON body; undefined when any step is missing. */
export const field = (value: unknown, ...path: ReadonlyArray<string | number>): unknown => {
  let current: unknown = value
  for (const key of path) {
    if (typeof current !== "object" || current === null) return undefined
    const descriptor: PropertyDescriptor | undefined = Object.getOwnPropertyDescriptor(current, String(key))
    current = descriptor?.value
  }
  return current
}
