/**
 * Node's HTTP parser answers the requests it refuses (request line and headers over
 * `maxHeaderSize`, malformed bytes, slow headers) itself, with an empty body, or resets the
 * connection. Both programs' listeners (the API's and the worker's metrics port) answer them with
 * the JSON error shape instead (`{_tag, message}`), from this module, which loads no HTTP API code
 * so the worker can use it.
 */
import type { IncomingMessage, Server, ServerResponse } from "node:http"
import { STATUS_CODES } from "node:http"
import type { Duplex } from "node:stream"

const tags: Readonly<Record<number, string>> = {
  400: "BadRequest",
  401: "Unauthorized",
  403: "Forbidden",
  404: "NotFound",
  405: "MethodNotAllowed",
  408: "RequestTimeout",
  413: "PayloadTooLarge",
  414: "UriTooLong",
  415: "UnsupportedMediaType",
  426: "UpgradeRequired",
  431: "RequestHeaderFieldsTooLarge",
  500: "InternalServerError",
  502: "BadGateway",
  503: "ServiceUnavailable",
  504: "GatewayTimeout"
}

/** The `_tag` for a status without an error class of its own: its reason phrase in PascalCase. */
export const tagOfStatus = (status: number): string =>
  tags[status] ??
  (STATUS_CODES[status] ?? "HttpError").replace(/(^|[^A-Za-z0-9]+)([A-Za-z0-9])/g, (_, _sep, c) => c.toUpperCase())

const clientErrorStatus = (code: string | undefined): number => {
  switch (code) {
    case "HPE_HEADER_OVERFLOW":
      return 431
    case "HPE_REQUEST_TIMEOUT":
    case "ERR_HTTP_REQUEST_TIMEOUT":
      return 408
    default:
      return 400
  }
}

const clientErrorMessage = (status: number, code: string | undefined): string => {
  switch (status) {
    case 431:
      return "the request line and headers are larger than 16 KiB (a URL this long is refused too)"
    case 408:
      return "the request headers did not arrive in time"
    default:
      return `malformed HTTP request (${code ?? "parse error"})`
  }
}

const errorCode = (error: Error): string | undefined => {
  const code: unknown = Reflect.get(error, "code")
  return typeof code === "string" ? code : undefined
}

/** A response already under way on this socket (a keep-alive request before the bad one). */
const responseStarted = (socket: Duplex): boolean => {
  const message: unknown = Reflect.get(socket, "_httpMessage")
  return typeof message === "object" && message !== null && Reflect.get(message, "headersSent") === true
}

/**
 * Node answers requests its parser refuses (headers or URL over `maxHeaderSize`, bad bytes) itself,
 * with an empty body, or resets the connection. This answers them with the API's JSON error shape,
 * then closes the connection once the client has stopped sending (a close with unread input would
 * reset it before the client reads the answer).
 */
export const withJsonClientErrors = <S extends Server<typeof IncomingMessage, typeof ServerResponse>>(server: S): S => {
  const answered = new WeakSet<Duplex>()
  server.on("clientError", (error: Error, socket: Duplex) => {
    // the parser reports again for every further chunk; the first answer stands
    if (answered.has(socket)) return
    answered.add(socket)
    const code = errorCode(error)
    if (code === "ECONNRESET" || !socket.writable || responseStarted(socket)) {
      socket.destroy()
      return
    }
    const status = clientErrorStatus(code)
    const body = JSON.stringify({ _tag: tagOfStatus(status), message: clientErrorMessage(status, code) })
    socket.end(
      `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? "Error"}\r\n` +
        "Content-Type: application/json\r\n" +
        `Content-Length: ${Buffer.byteLength(body)}\r\n` +
        "Connection: close\r\n\r\n" +
        body
    )
    // drain what the client still sends, so the close is not a reset; give up after a while
    socket.resume()
    setTimeout(() => socket.destroy(), 2_000).unref()
  })
  return server
}
