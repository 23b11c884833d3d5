import { assert, layer } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { HttpRouter } from "effect/http"
import fc from "fast-check"
import { mkdtempSync, writeFileSync } from "node:fs"
import { connect } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { baseUrl, call, field } from "../harness/http.ts"
import { signUp, withToken } from "../users/helpers.ts"
import { servedApiLayer } from "./support.ts"

/**
 * Every error the server answers is JSON with a `_tag` and a `message`, whoever answers it: the
 * router (unknown route, wrong method), the HTTP layer (body too large, wrong content type, defects,
 * interrupted handlers) and Node's own parser (URL or headers over 16 KiB, malformed requests),
 * which used to answer with empty bodies, `text/plain` or a reset.
 */

/** Routes that fail the way only bugs and shutdowns do, to see what a 500 and a 503 look like. */
const FailingRoutes = Layer.mergeAll(
  HttpRouter.add("GET", "/test/defect", Effect.die(new Error("a bug"))),
  HttpRouter.add("GET", "/test/interrupted", Effect.interrupt)
)

interface RawResponse {
  readonly status: number
  readonly headers: string
  readonly body: string
  /** How the connection ended: "end" when the server closed it cleanly, else the socket error. */
  readonly ended: string
}

/** Writes raw bytes to the server and reads until it closes, as curl or a broken client would. */
const raw = (base: string, bytes: string) =>
  Effect.promise(
    () =>
      new Promise<RawResponse>((resolve) => {
        const socket = connect(Number(new URL(base).port), "127.0.0.1", () => socket.write(bytes))
        let received = ""
        const done = (ended: string) => {
          const [head = "", body = ""] = received.split("\r\n\r\n")
          const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? "0")
          resolve({ status, headers: head, body, ended })
        }
        socket.setEncoding("utf8")
        socket.on("data", (chunk: string) => {
          received += chunk
        })
        socket.on("error", (error: NodeJS.ErrnoException) => done(error.code ?? error.message))
        socket.on("end", () => done("end"))
        socket.setTimeout(10_000, () => {
          socket.destroy()
          done("timeout")
        })
      })
  )

const assertJsonError = (
  response: { readonly status: number; readonly headers: Headers; readonly text: string; readonly body: unknown },
  status: number,
  tag: string
) => {
  assert.strictEqual(response.status, status, response.text)
  assert.match(response.headers.get("content-type") ?? "", /^application\/json/, response.text)
  assert.strictEqual(field(response.body, "_tag"), tag, response.text)
  assert.isString(field(response.body, "message"), response.text)
}

/**
 * A stand-in web app build: paths outside the API are the web app's (index.html), whether or not
 * `npm run build:web` ran in this checkout (without a build they are 503 "not built").
 */
const webDistDir = mkdtempSync(join(tmpdir(), "mh-errors-web-"))
writeFileSync(join(webDistDir, "index.html"), "<!doctype html><title>mail-helper</title>")

layer(
  servedApiLayer({ WEB_DIST_DIR: webDistDir }).pipe(
    Layer.provideMerge(FailingRoutes),
    Layer.provideMerge(HttpRouter.layer)
  ),
  {
    excludeTestServices: true,
    timeout: "120 seconds"
  }
)("every error is JSON with a _tag", (it) => {
  it.effect("unknown route: 404 NotFound", () =>
    Effect.gen(function* () {
      const base = yield* baseUrl
      assertJsonError(yield* call(base, "GET", "/api/v1/nope"), 404, "NotFound")
      assertJsonError(yield* call(base, "POST", "/api/v1/nope", { json: {} }), 404, "NotFound")
      // a path no UTF-8 decodes to is no route either
      assertJsonError(yield* call(base, "GET", "/api/v1/jobs/%ED%A0%80"), 404, "NotFound")
    })
  )

  it.effect("a known path with another method: 405 MethodNotAllowed with Allow", () =>
    Effect.gen(function* () {
      const base = yield* baseUrl
      const response = yield* call(base, "PATCH", "/api/v1/auth/login", { json: {} })
      assertJsonError(response, 405, "MethodNotAllowed")
      assert.strictEqual(response.headers.get("allow"), "POST")
      const job = yield* call(base, "PUT", `/api/v1/jobs/${crypto.randomUUID()}`)
      assertJsonError(job, 405, "MethodNotAllowed")
      assert.deepStrictEqual(job.headers.get("allow")?.split(", ").sort(), ["DELETE", "GET", "HEAD"])
    })
  )

  it.effect("body over 1 MiB: 413; wrong content type: 415; malformed JSON: 400", () =>
    Effect.gen(function* () {
      const base = yield* baseUrl
      const user = yield* signUp(base, "limits")
      const huge = `{"name":"${"x".repeat(1024 * 1024 + 10)}"}`
      assertJsonError(yield* call(base, "POST", "/api/v1/auth/login", { body: huge }), 413, "PayloadTooLarge")
      assertJsonError(
        yield* call(base, "POST", "/api/v1/auth/tokens", withToken(user.token, { body: huge })),
        413,
        "PayloadTooLarge"
      )
      const plain = yield* call(base, "POST", "/api/v1/auth/login", {
        body: "email=a",
        headers: { "content-type": "text/plain" }
      })
      assertJsonError(plain, 415, "UnsupportedMediaType")
      assertJsonError(yield* call(base, "POST", "/api/v1/auth/login", { body: '{"email":' }), 400, "ValidationError")
    })
  )

  it.effect("a defect: 500 InternalServerError, saying nothing of the bug; an interrupted handler: 503", () =>
    Effect.gen(function* () {
      const base = yield* baseUrl
      const defect = yield* call(base, "GET", "/test/defect")
      assertJsonError(defect, 500, "InternalServerError")
      assert.notInclude(defect.text, "a bug")
      assertJsonError(yield* call(base, "GET", "/test/interrupted"), 503, "ServiceUnavailable")
    })
  )

  it.effect("an 18 KB URL or 20 KB of headers: a JSON 431, not a reset", () =>
    Effect.gen(function* () {
      const base = yield* baseUrl
      const longUrl = yield* call(base, "GET", `/api/v1/jobs?cursor=${"a".repeat(18_000)}`)
      assertJsonError(longUrl, 431, "RequestHeaderFieldsTooLarge")
      const bigHeaders = yield* call(base, "GET", "/api/v1/jobs", { headers: { "x-padding": "b".repeat(20_000) } })
      assertJsonError(bigHeaders, 431, "RequestHeaderFieldsTooLarge")

      // raw, in one write, and with a body still coming after the headers: the client reads the answer
      const rawLong = yield* raw(
        base,
        `POST /api/v1/auth/login?x=${"a".repeat(18_000)} HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n${"{".repeat(100_000)}`
      )
      assert.strictEqual(rawLong.status, 431, rawLong.headers)
      assert.match(rawLong.headers, /content-type: application\/json/i)
      assert.strictEqual(JSON.parse(rawLong.body)._tag, "RequestHeaderFieldsTooLarge")
      assert.strictEqual(rawLong.ended, "end")
    })
  )

  it.effect("what Node's parser refuses (control bytes in a header, garbage): a JSON 400", () =>
    Effect.gen(function* () {
      const base = yield* baseUrl
      for (const request of [
        "GET /api/v1/jobs HTTP/1.1\r\nHost: x\r\nX-A: a\u0000b\r\n\r\n",
        "HELLO\r\n\r\n",
        "GET /api/v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
      ]) {
        const response = yield* raw(base, request)
        assert.strictEqual(response.status, 400, `${JSON.stringify(request)}: ${response.headers}`)
        assert.strictEqual(JSON.parse(response.body)._tag, "BadRequest")
        assert.isString(JSON.parse(response.body).message)
      }
    })
  )

  it.effect("any method on any generated path: every error is JSON with a _tag", () =>
    Effect.gen(function* () {
      const base = yield* baseUrl
      const segment = fc.oneof(
        fc.constantFrom("api", "v1", "jobs", "auth", "rules", "emails", "accounts", "admin", "..", "%2F", "%00"),
        fc.uuid(),
        fc.string({ maxLength: 12 }).map(encodeURIComponent)
      )
      const requests = fc.sample(
        fc.record({
          method: fc.constantFrom("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"),
          path: fc.array(segment, { minLength: 1, maxLength: 5 }).map((parts) => `/${parts.join("/")}`)
        }),
        { numRuns: 150, seed: 42 }
      )
      for (const request of requests) {
        const response = yield* call(base, request.method, request.path)
        if (response.status < 400 || request.method === "HEAD") continue
        assert.isBelow(response.status, 500, `${request.method} ${request.path}: ${response.text}`)
        assert.match(response.headers.get("content-type") ?? "", /^application\/json/, request.path)
        assert.isString(field(response.body, "_tag"), `${request.method} ${request.path}: ${response.text}`)
      }
    })
  )
})
