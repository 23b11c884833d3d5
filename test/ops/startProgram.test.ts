import { assert, describe, it } from "@effect/vitest"
import { Effect, Schedule } from "effect"
import { jobKinds } from "../../src/contract/jobs/catalog.ts"
import { makeTestEnv } from "../harness/TestEnv.ts"
import { parseExposition, samplesOf } from "./prometheus.ts"
import { freePort, startProgram } from "./programs.ts"

/**
 * `npm start` (src/main/start.ts: API and worker in one process) exports on the API's /metrics
 * what the separate worker exports on its own port: the queue depths, beside the API's metrics.
 */
describe("npm start", () => {
  it.live(
    "exports the queue metrics the separate worker exports, and both database pools",
    () =>
      Effect.gen(function* () {
        const env = yield* makeTestEnv()
        const port = yield* Effect.promise(freePort)
        const program = yield* Effect.acquireRelease(
          Effect.promise(() =>
            startProgram({
              script: "src/main/start.ts",
              name: "start",
              env: { ...env.env, LOG_FORMAT: "json", LOG_LEVEL: "info", HOST: "127.0.0.1", PORT: String(port) },
              ready: (output) =>
                output.includes(`Listening on http://127.0.0.1:${port}`) && output.includes('"message":"worker started')
            })
          ),
          (started) => Effect.promise(() => started.stop("SIGTERM"))
        )
        const scrape = Effect.promise(() => fetch(`http://127.0.0.1:${port}/metrics`).then((r) => r.text()))
        // the first sample is taken at start-up; wait for it rather than for the interval
        const text = yield* scrape.pipe(
          Effect.flatMap((body) => (body.includes("queue_jobs{") ? Effect.succeed(body) : Effect.fail(body))),
          Effect.retry(Schedule.spaced("200 millis").pipe(Schedule.upTo({ times: 100 }))),
          Effect.catch((body) =>
            Effect.die(new Error(`no queue_jobs on start's /metrics:\n${body}\n${program.output()}`))
          )
        )
        const families = parseExposition(text)
        for (const kind of jobKinds) {
          for (const state of ["waiting", "active", "delayed", "failed", "prioritized"]) {
            assert.lengthOf(samplesOf(families, "queue_jobs", { queue: kind.name, state }), 1, `${kind.name} ${state}`)
          }
        }
        for (const name of ["process_resident_memory_bytes", "db_pool_waiting"]) {
          assert.isTrue(families.has(name), `${name} missing`)
        }
        for (const pool of ["app", "system"]) {
          assert.lengthOf(samplesOf(families, "db_pool_connections", { pool, state: "in_use" }), 1, pool)
        }
      }),
    90_000
  )
})
