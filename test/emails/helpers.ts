import { NodeHttpServer } from "@effect/platform-node"
import { assert } from "@effect/vitest"
import { Effect, Layer, Schedule } from "effect"
import { HttpRouter } from "effect/http"
import { HttpAppLive } from "../../src/main/httpLayers.ts"
import { JobsLive, PlatformLive } from "../../src/main/layers.ts"
import { WorkerLive } from "../../src/main/workerLayers.ts"
import { TestAuthenticationLive } from "../harness/TestAuthentication.ts"
import { configLayer, withTestEnv } from "../harness/TestEnv.ts"
import { call, field } from "../harness/http.ts"

/**
 * The real API (stand-in authentication by `x-test-user`) and the real
 * worker runtime in this process, over this file's database and Redis prefix.
 */
export const appTestLayer = (overrides: Record<string, string> = {}) =>
  withTestEnv(
    (env) =>
      Layer.mergeAll(
        HttpRouter.serve(HttpAppLive(TestAuthenticationLive), { disableLogger: true, disableListenLog: true }).pipe(
          Layer.provideMerge(NodeHttpServer.layerTest)
        ),
        WorkerLive
      ).pipe(Layer.provideMerge(JobsLive), Layer.provideMerge(PlatformLive), Layer.provide(configLayer(env))),
    overrides
  )

export const as = (user: string) => ({ "x-test-user": user })

/** Polls a job until it has ended (bounded: 30 s); its final JSON. */
export const waitForJob = (base: string, user: string, id: string) =>
  call(base, "GET", `/api/v1/jobs/${id}`, { headers: as(user) }).pipe(
    Effect.flatMap((response) => {
      const state = String(field(response.body, "state"))
      return ["succeeded", "failed", "cancelled"].includes(state)
        ? Effect.succeed(response.body)
        : Effect.fail(`still ${state}`)
    }),
    Effect.retry(Schedule.spaced("50 millis").pipe(Schedule.upTo({ times: 600 }))),
    Effect.orDie
  )

/** GET with the user's header; asserts the status. */
export const getJson = (base: string, user: string, path: string, status = 200) =>
  Effect.gen(function* () {
    const response = yield* call(base, "GET", path, { headers: as(user) })
    assert.strictEqual(response.status, status, `GET ${path}: ${response.text}`)
    return response.body
  })

export const items = (body: unknown): Array<unknown> => {
  const list = field(body, "items")
  assert.isArray(list)
  return Array.isArray(list) ? list : []
}

export const ids = (body: unknown, ...path: ReadonlyArray<string>): Array<string> =>
  items(body).map((item) => String(field(item, ...path, "id")))
