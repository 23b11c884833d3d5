/**
 * The production destination policy through the API (account create and PATCH), the allow-list,
 * and the per-user limit on login checks. The internal service is a recording listener on
 * 127.0.0.1; the self-hoster's allow-listed mail server is another one on 127.0.0.2.
 */
import { assert, describe, layer } from "@effect/vitest"
import { Effect } from "effect"
import { apiTestLayer } from "../harness/apiLayer.ts"
import { captureImap, captureImapWith } from "../harness/captureImap.ts"
import { baseUrl, call, field } from "../harness/http.ts"
import { closedPort } from "../harness/sockets.ts"

const PASSWORD = "Policy-Secret-77"
const MAX_CHECKS = 40

const api = (base: string, user: string, method: string, path: string, json?: unknown) =>
  call(base, method, path, { headers: { "x-test-user": user }, ...(json === undefined ? {} : { json }) })

const account = (host: string, port: number) => ({
  label: "policy",
  host,
  port,
  security: "none",
  username: "someone",
  password: PASSWORD
})

/** Spellings of the internal service's address (and other internal targets). */
const internalHosts = [
  "127.0.0.1",
  "localhost",
  "2130706433",
  "0177.0.0.1",
  "0x7f000001",
  "::ffff:127.0.0.1",
  "::1",
  "169.254.169.254",
  "10.0.0.5",
  "192.168.1.1",
  "fd00::1"
]

layer(
  apiTestLayer({
    IMAP_DESTINATION_POLICY: "public-only",
    IMAP_ALLOWED_NETWORKS: "127.0.0.2/32",
    IMAP_VERIFY_MAX_PER_WINDOW: String(MAX_CHECKS),
    IMAP_VERIFY_WINDOW_SECONDS: "600",
    IMAP_VERIFY_TIMEOUT_MS: "1500"
  }),
  { excludeTestServices: true, timeout: "120 seconds" }
)("IMAP destination policy (production) through the API", (it) => {
  describe("create and patch", () => {
    it.effect("every spelling of an internal address is refused, open port or closed, without a connection", () =>
      Effect.gen(function* () {
        const base = yield* baseUrl
        const user = "d4444444-4444-4444-8444-444444444401"
        const internal = yield* captureImap
        const mailServer = yield* captureImapWith({ host: "127.0.0.2" })
        const closed = yield* closedPort

        // the allow-listed LAN server is admitted
        const created = yield* api(base, user, "POST", "/api/v1/accounts", account("127.0.0.2", mailServer.port))
        assert.strictEqual(created.status, 201, created.text)
        const id = String(field(created.body, "id"))

        for (const host of internalHosts) {
          const open = yield* api(base, user, "POST", "/api/v1/accounts", account(host, internal.port))
          assert.strictEqual(open.status, 422, `${host}: ${open.text}`)
          assert.strictEqual(field(open.body, "reason"), "host_not_allowed", `${host}: ${open.text}`)
          assert.notInclude(open.text, PASSWORD)
          // the same answer for a closed port: the policy is no port scanner
          const shut = yield* api(base, user, "POST", "/api/v1/accounts", account(host, closed))
          assert.strictEqual(shut.text, open.text, host)

          const patched = yield* api(base, user, "PATCH", `/api/v1/accounts/${id}`, {
            host,
            port: internal.port,
            password: PASSWORD
          })
          assert.strictEqual(patched.status, 422, `${host}: ${patched.text}`)
          assert.strictEqual(field(patched.body, "reason"), "host_not_allowed")
        }
        assert.strictEqual(internal.connections(), 0)
        assert.isFalse(internal.sawSecret(PASSWORD))
        const after = yield* api(base, user, "GET", `/api/v1/accounts/${id}`)
        assert.strictEqual(field(after.body, "host"), "127.0.0.2")
      })
    )
  })

  describe("rate limit", () => {
    it.effect("at most IMAP_VERIFY_MAX_PER_WINDOW login checks per user, under concurrency; 429 with Retry-After", () =>
      Effect.gen(function* () {
        const base = yield* baseUrl
        const user = "d4444444-4444-4444-8444-444444444402"
        const other = "d4444444-4444-4444-8444-444444444403"
        const mailServer = yield* captureImapWith({ host: "127.0.0.2" })
        const requests = Array.from({ length: MAX_CHECKS + 25 }, (_, i) =>
          api(base, user, "POST", "/api/v1/accounts", {
            ...account("127.0.0.2", mailServer.port),
            username: `user${i}`
          })
        )
        const responses = yield* Effect.all(requests, { concurrency: "unbounded" })
        const limited = responses.filter((response) => response.status === 429)
        const created = responses.filter((response) => response.status === 201)
        assert.strictEqual(created.length, MAX_CHECKS, responses.map((response) => response.status).join(","))
        assert.strictEqual(limited.length, 25)
        for (const response of limited) {
          assert.strictEqual(field(response.body, "_tag"), "TooManyRequests", response.text)
          const retryAfter = Number(response.headers.get("retry-after"))
          assert.isTrue(Number.isInteger(retryAfter) && retryAfter > 0 && retryAfter <= 600, response.text)
          assert.strictEqual(field(response.body, "retryAfterSeconds"), retryAfter)
        }
        // a PATCH that would verify is counted too; one that does not verify is not
        const id = String(field(created[0]?.body, "id"))
        const relabel = yield* api(base, user, "PATCH", `/api/v1/accounts/${id}`, { label: "still fine" })
        assert.strictEqual(relabel.status, 200, relabel.text)
        const reverify = yield* api(base, user, "PATCH", `/api/v1/accounts/${id}`, { password: PASSWORD })
        assert.strictEqual(reverify.status, 429, reverify.text)
        // per user: someone else is not affected
        const theirs = yield* api(base, other, "POST", "/api/v1/accounts", account("127.0.0.2", mailServer.port))
        assert.strictEqual(theirs.status, 201, theirs.text)
      })
    )
  })
})
