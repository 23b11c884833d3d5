/**
 * The stored IMAP password never leaves for a destination the request did not pay for with the
 * password itself: PATCH of a credential-bound field (host, port, security, username) without the
 * password is refused before anything is contacted. Proven against real TCP listeners that record
 * every byte they receive and accept any login.
 */
import { assert, describe, layer } from "@effect/vitest"
import { Effect } from "effect"
import fc from "fast-check"
import { credentialBoundFields } from "../../src/contract/accounts/Account.ts"
import { apiTestLayer } from "../harness/apiLayer.ts"
import { captureImap } from "../harness/captureImap.ts"
import { baseUrl, call, field } from "../harness/http.ts"

const SECRET = "StoredSecret7x9q"
const user = "c3333333-3333-4333-8333-333333333333"

const api = (base: string, method: string, path: string, json?: unknown) =>
  call(base, method, path, { headers: { "x-test-user": user }, ...(json === undefined ? {} : { json }) })

layer(apiTestLayer({ IMAP_VERIFY_TIMEOUT_MS: "1500" }), { excludeTestServices: true, timeout: "120 seconds" })(
  "credential-bound fields",
  (it) => {
    describe("PATCH /accounts/:id", () => {
      it.effect("never sends the stored password to a new destination, whatever fields are patched", () =>
        Effect.gen(function* () {
          const base = yield* baseUrl
          const home = yield* captureImap
          const elsewhere = yield* captureImap
          const created = yield* api(base, "POST", "/api/v1/accounts", {
            label: "capture",
            host: "127.0.0.1",
            port: home.port,
            security: "none",
            username: "owner",
            password: SECRET
          })
          assert.strictEqual(created.status, 201, created.text)
          // the capture works: the user's own request carried the password to the server it named
          assert.isTrue(home.sawSecret(SECRET))
          const id = String(field(created.body, "id"))
          const stored = {
            host: "127.0.0.1",
            port: home.port,
            security: "none",
            username: "owner"
          } as const

          const patches = fc
            .record(
              {
                host: fc.constantFrom("127.0.0.1", "localhost", "LOCALHOST.", "127.0.0.1"),
                port: fc.constantFrom(home.port, elsewhere.port, 143, 993),
                security: fc.constantFrom("none", "starttls", "tls"),
                username: fc.constantFrom("owner", "attacker", "owner@evil.test"),
                label: fc.string({ minLength: 1, maxLength: 10 }),
                syncIntervalMinutes: fc.constantFrom(null, 5)
              },
              { requiredKeys: [] }
            )
            // at least one credential-bound field really changes
            .filter((patch) =>
              credentialBoundFields.some((name) => {
                const value = patch[name]
                if (value === undefined) return false
                return name === "host"
                  ? String(value).toLowerCase().replace(/\.$/, "") !== stored.host
                  : value !== stored[name]
              })
            )

          yield* Effect.promise(() =>
            fc.assert(
              fc.asyncProperty(patches, async (patch) => {
                home.reset()
                elsewhere.reset()
                const response = await Effect.runPromise(api(base, "PATCH", `/api/v1/accounts/${id}`, patch))
                // nothing was contacted at all, so nothing was sent
                assert.isFalse(home.sawSecret(SECRET), "the stored password reached the old server")
                assert.isFalse(elsewhere.sawSecret(SECRET), "the stored password reached another server")
                assert.strictEqual(home.connections() + elsewhere.connections(), 0)
                assert.strictEqual(response.status, 400, response.text)
                assert.strictEqual(field(response.body, "_tag"), "CredentialRequired", response.text)
                assert.deepStrictEqual(field(response.body, "required"), ["password"])
                const named = field(response.body, "fields")
                assert.isArray(named)
                for (const name of credentialBoundFields) {
                  const value = patch[name]
                  const changed =
                    value !== undefined &&
                    (name === "host"
                      ? String(value).toLowerCase().replace(/\.$/, "") !== stored.host
                      : value !== stored[name])
                  assert.strictEqual((named as Array<unknown>).includes(name), changed, `${name} in ${response.text}`)
                }
                assert.include(String(field(response.body, "message")), "password")
              }),
              // the plain theft first: the same login, another port, clear text
              { numRuns: 60, examples: [[{ port: elsewhere.port }], [{ username: "attacker" }]] }
            )
          )

          // nothing changed
          const after = yield* api(base, "GET", `/api/v1/accounts/${id}`)
          assert.strictEqual(field(after.body, "port"), home.port)
          assert.strictEqual(field(after.body, "username"), "owner")
          assert.strictEqual(field(after.body, "label"), "capture")

          // the same fields unchanged (a form sent back whole) are no move: verified where the secret already goes
          home.reset()
          const same = yield* api(base, "PATCH", `/api/v1/accounts/${id}`, { ...stored, host: "127.0.0.1." })
          assert.strictEqual(same.status, 200, same.text)
          assert.strictEqual(elsewhere.connections(), 0)

          // with the password in the same request the move is allowed: the user chose to send it there
          const moved = yield* api(base, "PATCH", `/api/v1/accounts/${id}`, {
            port: elsewhere.port,
            password: "a-new-Secret-42"
          })
          assert.strictEqual(moved.status, 200, moved.text)
          assert.strictEqual(field(moved.body, "port"), elsewhere.port)
          assert.isTrue(elsewhere.sawSecret("a-new-Secret-42"))
          assert.isFalse(elsewhere.sawSecret(SECRET))
        })
      )
    })
  }
)
