/**
 * What an IMAP server (or OpenSSL) says reaches our answers only bounded, cleaned of control
 * characters and marked as the server's words: at the Imap level, through the API (422) and in an
 * account's statusMessage after a sync.
 */
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { assert, describe, layer } from "@effect/vitest"
import { Effect, Redacted } from "effect"
import { Imap, type ImapConnectOptions, SERVER_TEXT_MAX } from "../../src/imap/Imap.ts"
import { captureImapWith } from "../harness/captureImap.ts"
import { baseUrl, field } from "../harness/http.ts"
import { api, syncTestLayer, waitForJob } from "./support.ts"

const SECRET = "Echoed-Secret-31"
const user = "e5555555-5555-4555-8555-555555555555"

/** 100 KB of hostile text: ANSI escapes, BEL, DEL, C1, bidi override, zero-width, quotes, the password. */
const hostileText = (() => {
  const piece = `bad \u001b[31mred\u001b[0m \u0007\u007f\u0085 \u202eoverride\u202c zero\u200bwidth "quoted" ${SECRET} `
  return piece.repeat(Math.ceil(100_000 / piece.length)).slice(0, 100_000)
})()

const controlCharacters = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u

/** Bounded, clean, scrubbed; the server's words marked as such. */
const assertTamed = (message: string, marked: boolean) => {
  assert.isAtMost(message.length, SERVER_TEXT_MAX + 120, message.slice(0, 400))
  assert.notMatch(message, controlCharacters)
  assert.notInclude(message, SECRET)
  assert.notInclude(message, "\u001b")
  if (marked) assert.match(message, /the server said: "[^"]*"$/)
}

const options = (port: number, extra: Partial<ImapConnectOptions> = {}): ImapConnectOptions => ({
  host: "127.0.0.1",
  port,
  security: "none",
  username: "someone",
  password: Redacted.make(SECRET),
  timeoutMs: 3_000,
  ...extra
})

const connectError = (connectOptions: ImapConnectOptions) =>
  Effect.gen(function* () {
    const imap = yield* Imap
    return yield* Effect.flip(Effect.scoped(imap.connect(connectOptions)))
  })

const selfSigned = () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mh-tls-"))
  try {
    const key = path.join(dir, "key.pem")
    const cert = path.join(dir, "cert.pem")
    execFileSync(
      "openssl",
      ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost"].concat([
        "-addext",
        "subjectAltName=DNS:localhost,IP:127.0.0.1",
        "-keyout",
        key,
        "-out",
        cert
      ]),
      { stdio: "ignore" }
    )
    return { key: fs.readFileSync(key, "utf8"), cert: fs.readFileSync(cert, "utf8") }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

layer(syncTestLayer({ worker: true, env: { IMAP_VERIFY_TIMEOUT_MS: "3000" }, dovecot: { users: [] } }), {
  excludeTestServices: true,
  timeout: "120 seconds"
})("server text in our errors", (it) => {
  describe("a NO with 100 KB of hostile text", () => {
    it.effect("is bounded, cleaned and marked at the Imap level", () =>
      Effect.gen(function* () {
        for (const reply of [`NO ${hostileText}`, `NO [AUTHENTICATIONFAILED] ${hostileText}`]) {
          const server = yield* captureImapWith({ loginReply: reply })
          const error = yield* connectError(options(server.port))
          assert.strictEqual(error._tag, "ImapAuthenticationError", error.message.slice(0, 300))
          assertTamed(error.message, true)
          assert.include(error.message, "bad red")
        }
      })
    )

    it.effect("reaches the API answer and the account's statusMessage only tamed", () =>
      Effect.gen(function* () {
        const base = yield* baseUrl
        const server = yield* captureImapWith({ loginReply: `NO ${hostileText}` })
        const payload = {
          label: "hostile",
          host: "127.0.0.1",
          port: server.port,
          security: "none",
          username: "someone",
          password: SECRET
        }
        const refused = yield* api(base, user, "POST", "/api/v1/accounts", payload)
        assert.strictEqual(refused.status, 422, refused.text.slice(0, 300))
        assert.strictEqual(field(refused.body, "reason"), "authentication")
        assertTamed(String(field(refused.body, "message")), true)
        assert.isAtMost(refused.text.length, 1_000)

        // accepted at first, then the server turns hostile: the sync marks auth_failed with a tamed message
        server.setLoginReply("OK authenticated")
        const created = yield* api(base, user, "POST", "/api/v1/accounts", payload)
        assert.strictEqual(created.status, 201, created.text)
        const id = String(field(created.body, "id"))
        server.setLoginReply(`NO [AUTHENTICATIONFAILED] ${hostileText}`)
        const sync = yield* api(base, user, "POST", `/api/v1/accounts/${id}/sync`)
        assert.strictEqual(sync.status, 202, sync.text)
        const job = yield* waitForJob(base, user, String(field(sync.body, "jobId")))
        assert.strictEqual(field(job, "state"), "failed")
        assertTamed(String(field(job, "error", "message")), false)
        const account = yield* api(base, user, "GET", `/api/v1/accounts/${id}`)
        assert.strictEqual(field(account.body, "status"), "auth_failed", account.text)
        assertTamed(String(field(account.body, "statusMessage")), true)
      })
    )
  })

  describe("TLS failures", () => {
    it.effect("are described plainly, without OpenSSL internals", () =>
      Effect.gen(function* () {
        const pem = selfSigned()
        const tlsServer = yield* captureImapWith({ tls: pem })
        const untrusted = yield* connectError(options(tlsServer.port, { security: "tls" }))
        assert.strictEqual(untrusted._tag === "ImapConnectionError" ? untrusted.reason : untrusted._tag, "tls")
        assert.strictEqual(untrusted.message, "TLS handshake failed: certificate not trusted (self-signed)")

        const plain = yield* captureImapWith({})
        const notTls = yield* connectError(options(plain.port, { security: "tls" }))
        assert.strictEqual(notTls._tag === "ImapConnectionError" ? notTls.reason : notTls._tag, "tls")
        assert.match(notTls.message, /^TLS handshake failed: the server does not speak TLS on this port/)
        for (const error of [untrusted, notTls]) {
          assert.notMatch(error.message, /error:[0-9A-F]{8}|routines|ssl3_|\.c:\d+|openssl/i, error.message)
          assert.isFalse(tlsServer.sawSecret(SECRET) || plain.sawSecret(SECRET))
        }

        // the same through the API: a plain reason, nothing stored
        const base = yield* baseUrl
        const refused = yield* api(base, user, "POST", "/api/v1/accounts", {
          label: "tls",
          host: "127.0.0.1",
          port: tlsServer.port,
          security: "tls",
          username: "someone",
          password: SECRET
        })
        assert.strictEqual(refused.status, 422, refused.text)
        assert.strictEqual(field(refused.body, "reason"), "tls")
        assert.strictEqual(
          field(refused.body, "message"),
          "TLS failed: TLS handshake failed: certificate not trusted (self-signed)"
        )
      })
    )
  })
})
