import { Cause, Effect, Exit } from "effect"
import { Headers, HttpRouter, HttpServerError, HttpServerRequest, HttpServerResponse } from "effect/http"
import { type HttpApi, type HttpApiGroup, OpenApi } from "effect/http-api"
import { STATUS_CODES } from "node:http"
import { tagOfStatus } from "../platform/JsonClientErrors.ts"
import { maxRequestBodyBytes } from "./RequestLimits.ts"

/**
 * Every error the server answers is JSON with a `_tag` and a `message`, as the API's own errors are:
 * the router's (unknown route: 404, known path with another method: 405), the HTTP layer's (body
 * too large: 413, wrong content type: 415, defects: 500, shutdown: 503) and Node's own parser
 * (headers or URL over 16 KiB: 431, malformed request: 400, slow headers: 408), which answers
 * before any route runs (see withJsonClientErrors in src/platform/JsonClientErrors.ts).
 */

const defaultMessage = (status: number): string => {
  switch (status) {
    case 404:
      return "no such endpoint"
    case 413:
      return `request body is larger than ${maxRequestBodyBytes} bytes`
    case 415:
      return "unsupported content type: send application/json"
    case 500:
      return "internal server error"
    case 503:
      return "service unavailable, retry later"
    default:
      return (STATUS_CODES[status] ?? "HTTP error").toLowerCase()
  }
}

const shown = (text: string, max = 200): string => (text.length > max ? `${text.slice(0, max)}...` : text)

/** A body already JSON (the API's errors, the queue dashboard's) stays as it is. */
const isJson = (response: HttpServerResponse.HttpServerResponse): boolean => {
  const body = response.body
  const contentType = body._tag === "Empty" ? response.headers["content-type"] : body.contentType
  return contentType !== undefined && /^application\/([a-z.+-]*\+)?json\b/i.test(contentType)
}

const textOf = (response: HttpServerResponse.HttpServerResponse): string | undefined =>
  response.body._tag === "Uint8Array" && /^text\/plain\b/i.test(response.body.contentType)
    ? new TextDecoder().decode(response.body.body).trim()
    : undefined

interface Route {
  readonly pattern: RegExp
  readonly methods: ReadonlyArray<string>
}

/** The API's paths and their methods, from its OpenAPI document, to tell a 405 from a 404. */
const routesOf = (paths: OpenApi.OpenAPISpec["paths"]): ReadonlyArray<Route> =>
  Object.entries(paths).map(([template, operations]) => {
    const methods = Object.keys(operations ?? {})
      .filter((key) => /^(get|put|post|delete|patch|options|head|trace)$/.test(key))
      .map((key) => key.toUpperCase())
    const source = template
      .split(/\{[^}]+\}/)
      .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"))
      .join("[^/]+")
    return { pattern: new RegExp(`^${source}/?$`), methods: methods.includes("GET") ? [...methods, "HEAD"] : methods }
  })

const pathOf = (url: string): string => {
  const end = url.search(/[?#]/)
  return end === -1 ? url : url.slice(0, end)
}

const toJson = (
  response: HttpServerResponse.HttpServerResponse,
  request: HttpServerRequest.HttpServerRequest,
  routes: ReadonlyArray<Route>
): HttpServerResponse.HttpServerResponse => {
  // 499: the client went away, nobody reads an answer
  if (response.status < 400 || response.status === 499 || isJson(response)) return response
  let status = response.status
  let message = textOf(response) || defaultMessage(status)
  const headers: Record<string, string> = {}
  for (const [name, value] of Object.entries(response.headers)) {
    if (name !== "content-type" && name !== "content-length") headers[name] = value
  }
  if (status === 404) {
    const path = pathOf(request.url)
    const allowed = routes.find((route) => route.pattern.test(path))?.methods
    if (allowed !== undefined && allowed.length > 0 && !allowed.includes(request.method)) {
      status = 405
      headers["allow"] = allowed.join(", ")
      message = `${request.method} is not allowed here; allowed: ${allowed.join(", ")}`
    } else {
      message = `no endpoint for ${request.method} ${shown(path)}`
    }
  }
  return HttpServerResponse.jsonUnsafe(
    { _tag: tagOfStatus(status), message: shown(message, 500) },
    { status, headers: Headers.fromInput(headers) }
  )
}

/**
 * Global router middleware: a non-JSON error response, returned or derived from a failure, is
 * replaced by a JSON one with the same status and headers. A failure keeps its cause (logged as
 * before); the JSON response rides along as the cause's response.
 */
export const JsonErrorsLive = <Id extends string, Groups extends HttpApiGroup.Constraint>(
  api: HttpApi.HttpApi<Id, Groups>
) =>
  HttpRouter.middleware(
    Effect.sync(() => {
      const routes = routesOf(OpenApi.fromApi(api).paths)
      return (
        httpApp: Effect.Effect<HttpServerResponse.HttpServerResponse, unknown, HttpServerRequest.HttpServerRequest>
      ) =>
        Effect.gen(function* () {
          const request = yield* HttpServerRequest.HttpServerRequest
          const exit = yield* Effect.exit(httpApp)
          if (Exit.isSuccess(exit)) return toJson(exit.value, request, routes)
          const [response, cause] = yield* HttpServerError.causeResponse(exit.cause)
          const json = toJson(response, request, routes)
          if (json === response) return yield* exit
          // (not Cause.combine: it hashes the reasons, and hashing a request reads its body synchronously)
          return yield* Effect.failCause(Cause.fromReasons([...cause.reasons, ...Cause.die(json).reasons]))
        })
    }),
    { global: true }
  )
