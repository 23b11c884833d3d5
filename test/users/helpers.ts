import { NodeHttpServer } from "@effect/platform-node"
import { assert } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { HttpRouter } from "effect/http"
import { HttpAppLive } from "../../src/main/httpLayers.ts"
import { JobsLive, PlatformLive } from "../../src/main/layers.ts"
import { UsersLive } from "../../src/users/UsersLive.ts"
import { configLayer, withTestEnv } from "../harness/TestEnv.ts"
import { type ApiResponse, type CallOptions, call, field } from "../harness/http.ts"

/** The origin the browser UI is served from, in these tests. */
export const appOrigin = "https://app.example.test"

/** Cheap argon2id (still argon2id) so tests do not wait on the KDF; production uses the documented defaults. */
export const testAuthEnv: Record<string, string> = {
  PUBLIC_ORIGIN: appOrigin,
  ARGON2_MEMORY_KIB: "8192",
  ARGON2_TIME_COST: "1",
  REGISTRATION_MODE: "open",
  // many users sign up from 127.0.0.1 in one file; test/users/throttle.test.ts sets its own limits
  LOGIN_MAX_PER_ADDRESS: "1000"
}

/**
 * The real API (every group, the real Authentication middleware) on an
 * ephemeral port, over this file's own database and Redis prefix.
 */
export const apiTestLayer = (overrides: Record<string, string> = {}) =>
  withTestEnv(
    (env) =>
      HttpRouter.serve(HttpAppLive(UsersLive), { disableLogger: true, disableListenLog: true }).pipe(
        Layer.provideMerge(NodeHttpServer.layerTest),
        Layer.provideMerge(Layer.mergeAll(JobsLive, UsersLive)),
        Layer.provideMerge(PlatformLive),
        Layer.provide(configLayer(env))
      ),
    { ...testAuthEnv, ...overrides }
  )

/** `name=value` of the session cookie a response set, for the next request's Cookie header. */
export const sessionCookieOf = (response: ApiResponse): string => {
  const set = response.headers.getSetCookie().find((cookie) => /^(__Host-)?mh_session=/.test(cookie))
  assert.isDefined(set, `no session cookie in ${JSON.stringify(response.headers.getSetCookie())}`)
  return (set ?? "").split(";")[0] ?? ""
}

export const withCookie = (cookie: string, options: CallOptions = {}): CallOptions => ({
  ...options,
  headers: { origin: appOrigin, ...options.headers, cookie }
})

export const withToken = (token: string, options: CallOptions = {}): CallOptions => ({
  ...options,
  headers: { ...options.headers, authorization: `Bearer ${token}` }
})

let counter = 0
/** A fresh email per call, so tests in one file do not collide. */
export const freshEmail = (name = "user") => `${name}.${Date.now().toString(36)}.${++counter}@example.org`

export const strongPassword = "correct horse battery staple"

export const register = (base: string, email: string, password = strongPassword, extra: Record<string, unknown> = {}) =>
  call(base, "POST", "/api/v1/auth/register", { json: { email, password, ...extra } })

export const login = (base: string, email: string, password = strongPassword, headers: Record<string, string> = {}) =>
  call(base, "POST", "/api/v1/auth/login", { json: { email, password }, headers })

export interface SignedUp {
  readonly id: string
  readonly email: string
  readonly cookie: string
  readonly token: string
}

/** Registers, signs in and makes an API token: a user ready for any endpoint. */
export const signUp = (base: string, name = "user") =>
  Effect.gen(function* () {
    const email = freshEmail(name)
    const registered = yield* register(base, email)
    assert.strictEqual(registered.status, 201, registered.text)
    const signedIn = yield* login(base, email)
    assert.strictEqual(signedIn.status, 200, signedIn.text)
    const cookie = sessionCookieOf(signedIn)
    const created = yield* call(base, "POST", "/api/v1/auth/tokens", withCookie(cookie, { json: { name: "tests" } }))
    assert.strictEqual(created.status, 201, created.text)
    return {
      id: String(field(registered.body, "id")),
      email,
      cookie,
      token: String(field(created.body, "token"))
    } satisfies SignedUp
  })
