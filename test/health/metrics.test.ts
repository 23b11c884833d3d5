import { NodeHttpServer } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { HttpRouter } from "effect/http"
import { type ChildProcess, spawn, spawnSync } from "node:child_process"
import { randomBytes } from "node:crypto"
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { HttpAppLive } from "../../src/main/httpLayers.ts"
import { JobsLive, PlatformLive } from "../../src/main/layers.ts"
import { WorkerOpsHttpLive } from "../../src/main/workerLayers.ts"
import { TestAuthenticationLive } from "../harness/TestAuthentication.ts"
import { configLayer, makeTestEnv } from "../harness/TestEnv.ts"
import { type ApiResponse, baseUrl, call, field } from "../harness/http.ts"
import { freePort } from "../harness/workerProcess.ts"

const token = randomBytes(24).toString("hex")
/** What production needs besides NODE_ENV (the API refuses the development keyring there). */
const production = { NODE_ENV: "production", SECRET_KEYS: `1:${randomBytes(32).toString("base64")}` }

/**
 * The API (in this process, on a test server) and, with `worker`, the worker's own metrics listener
 * on a free loopback port, configured with `overrides`; `use` gets both base URLs.
 */
const withListeners = <A, E, R>(
  overrides: Record<string, string>,
  use: (bases: { readonly api: string; readonly worker: string }) => Effect.Effect<A, E, R>
) =>
  Effect.gen(function* () {
    const workerPort = yield* Effect.promise(freePort)
    const env = yield* makeTestEnv({ HOST: "127.0.0.1", WORKER_METRICS_PORT: String(workerPort), ...overrides })
    const app = Layer.mergeAll(
      HttpRouter.serve(HttpAppLive(TestAuthenticationLive), { disableLogger: true, disableListenLog: true }).pipe(
        Layer.provideMerge(NodeHttpServer.layerTest)
      ),
      WorkerOpsHttpLive
    ).pipe(Layer.provideMerge(JobsLive), Layer.provideMerge(PlatformLive), Layer.provide(configLayer(env)))
    return yield* Effect.flatMap(baseUrl, (api) => use({ api, worker: `http://127.0.0.1:${workerPort}` })).pipe(
      Effect.provide(app)
    )
  }).pipe(Effect.scoped)

const scrape = (base: string, headers: Record<string, string> = {}) => call(base, "GET", "/metrics", { headers })

const assertServed = (response: ApiResponse, what: string) => {
  assert.strictEqual(response.status, 200, `${what}: ${response.text}`)
  assert.include(response.headers.get("content-type") ?? "", "text/plain")
  assert.include(response.text, "# TYPE process_resident_memory_bytes gauge", what)
}

const assertRefused = (response: ApiResponse, status: number, tag: string, what: string) => {
  assert.strictEqual(response.status, status, `${what}: ${response.text}`)
  assert.strictEqual(field(response.body, "_tag"), tag, what)
  assert.isString(field(response.body, "message"), what)
  assert.notInclude(response.text, "process_resident_memory_bytes", what)
  assert.notInclude(response.text, token, what)
}

describe("/metrics access", () => {
  it.live(
    "with METRICS_TOKEN: only its bearer token is served, on the API's port and on the worker's",
    () =>
      withListeners({ ...production, METRICS_TOKEN: token }, ({ api, worker }) =>
        Effect.gen(function* () {
          for (const [name, base] of [
            ["api", api],
            ["worker", worker]
          ] as const) {
            const none = yield* scrape(base)
            assertRefused(none, 401, "Unauthorized", `${name} without credentials`)
            assert.match(none.headers.get("www-authenticate") ?? "", /^Bearer /, name)
            const wrong = [
              `Bearer ${token.slice(0, -1)}${token.endsWith("0") ? "1" : "0"}`, // one character off
              `Bearer ${token.slice(0, 20)}`, // a prefix
              `Bearer ${token}x`, // longer
              `Basic ${Buffer.from(`prometheus:${token}`).toString("base64")}`,
              token
            ]
            for (const authorization of wrong) {
              assertRefused(yield* scrape(base, { authorization }), 401, "Unauthorized", `${name}: ${authorization}`)
            }
            assertServed(yield* scrape(base, { authorization: `Bearer ${token}` }), `${name} with the token`)
            assertServed(yield* scrape(base, { authorization: `bearer  ${token}` }), `${name}, scheme in any case`)
          }
        })
      ),
    { timeout: 60_000 }
  )

  it.live(
    "in production without METRICS_TOKEN: neither the API's port nor the worker's serves metrics (404 JSON)",
    () =>
      withListeners(production, ({ api, worker }) =>
        Effect.gen(function* () {
          for (const [name, base] of [
            ["api", api],
            ["worker", worker]
          ] as const) {
            const refused = yield* scrape(base)
            assertRefused(refused, 404, "NotFound", name)
            assert.include(String(field(refused.body, "message")), "METRICS_TOKEN")
            // a token the server does not know changes nothing
            assertRefused(yield* scrape(base, { authorization: `Bearer ${token}` }), 404, "NotFound", `${name}, token`)
          }
          // the worker's liveness probe on the same port stays open
          assert.strictEqual((yield* call(worker, "GET", "/health/live")).status, 200)
        })
      ),
    { timeout: 60_000 }
  )

  it.live(
    "in development and tests without METRICS_TOKEN: served as before",
    () =>
      withListeners({}, ({ api, worker }) =>
        Effect.gen(function* () {
          assertServed(yield* scrape(api), "api")
          assertServed(yield* scrape(worker), "worker")
        })
      ),
    { timeout: 60_000 }
  )

  it("METRICS_TOKEN shorter than 32 characters stops start-up, naming the variable", async () => {
    const exit = await Effect.runPromiseExit(
      withListeners({ METRICS_TOKEN: "short" }, () => Effect.void).pipe(Effect.timeout("30 seconds"))
    )
    assert.strictEqual(exit._tag, "Failure")
    assert.include(JSON.stringify(exit), "METRICS_TOKEN")
  })
})

const hasPrometheus = spawnSync("prometheus", ["--version"], { encoding: "utf8" }).status === 0
if (!hasPrometheus) console.warn("test/health/metrics.test.ts: prometheus not found; the real scrape is skipped")

/** Waits until `check` holds, polling; fails with the last value after `millis`. */
const eventually = <A>(millis: number, probe: () => Promise<A>, check: (value: A) => boolean) =>
  Effect.promise(async () => {
    const deadline = Date.now() + millis
    let last = await probe()
    while (!check(last) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 250))
      last = await probe()
    }
    return last
  })

describe.skipIf(!hasPrometheus)("otel/prometheus.yml against the real programs", () => {
  it.live(
    "a real Prometheus with the compose scrape config (token from the secret file) scrapes api and worker; a wrong token is refused",
    () =>
      withListeners({ ...production, METRICS_TOKEN: token }, ({ api, worker }) =>
        Effect.gen(function* () {
          const dir = mkdtempSync(join(tmpdir(), "mh-prom-"))
          yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(dir, { recursive: true, force: true })))
          // the secret file as compose writes it (with a newline, which Prometheus trims)
          writeFileSync(join(dir, "metrics_token"), `${token}\n`)
          writeFileSync(join(dir, "wrong_token"), `${"0".repeat(48)}\n`)
          const hostPort = (url: string) => new URL(url).host
          // The repository's scrape jobs, with static targets instead of compose's DNS names.
          const shipped = readFileSync("otel/prometheus.yml", "utf8")
          const jobs = shipped
            .slice(shipped.indexOf("scrape_configs:"))
            .split(/\n(?= {2}# | {2}- job_name)/)
            .filter((block) => /job_name: mail-helper-(api|worker)\n/.test(block))
            .map((block) =>
              block
                .replace(
                  /dns_sd_configs:\n(?: {6}.*\n?)+/,
                  `static_configs:\n      - targets: ["${hostPort(block.includes("mail-helper-api") ? api : worker)}"]\n`
                )
                .replaceAll("/run/secrets/metrics_token", join(dir, "metrics_token"))
            )
          assert.lengthOf(jobs, 2, "otel/prometheus.yml has an api and a worker job")
          for (const job of jobs) assert.include(job, "credentials_file", job)
          const wrongJob = (jobs[0] ?? "")
            .replace("job_name: mail-helper-api", "job_name: wrong-token")
            .replace(join(dir, "metrics_token"), join(dir, "wrong_token"))
          const config = [
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n",
            "scrape_configs:",
            ...jobs.map((job) => job.replace(/^scrape_configs:\n/, "")),
            wrongJob.replace(/^scrape_configs:\n/, "")
          ].join("\n")
          writeFileSync(join(dir, "prometheus.yml"), config)

          const port = yield* Effect.promise(freePort)
          const prometheus = yield* Effect.acquireRelease(
            Effect.sync(
              (): ChildProcess =>
                spawn(
                  "prometheus",
                  [
                    `--config.file=${join(dir, "prometheus.yml")}`,
                    `--storage.tsdb.path=${join(dir, "data")}`,
                    `--web.listen-address=127.0.0.1:${port}`
                  ],
                  { stdio: "ignore" }
                )
            ),
            (child) => Effect.sync(() => child.kill("SIGKILL"))
          )
          assert.isDefined(prometheus.pid)
          const targets = async () => {
            try {
              const response = await fetch(`http://127.0.0.1:${port}/api/v1/targets`)
              const active = field(await response.json(), "data", "activeTargets")
              return Array.isArray(active)
                ? active.map((target) => ({
                    job: String(field(target, "labels", "job")),
                    health: String(field(target, "health")),
                    error: String(field(target, "lastError"))
                  }))
                : []
            } catch {
              return []
            }
          }
          const settled = yield* eventually(20_000, targets, (list) => {
            const health = Object.fromEntries(list.map((target) => [target.job, target.health]))
            return (
              health["mail-helper-api"] === "up" &&
              health["mail-helper-worker"] === "up" &&
              health["wrong-token"] === "down"
            )
          })
          const byJob = Object.fromEntries(settled.map((target) => [target.job, target]))
          assert.strictEqual(byJob["mail-helper-api"]?.health, "up", JSON.stringify(settled))
          assert.strictEqual(byJob["mail-helper-worker"]?.health, "up", JSON.stringify(settled))
          assert.strictEqual(byJob["wrong-token"]?.health, "down", JSON.stringify(settled))
          assert.include(byJob["wrong-token"]?.error ?? "", "401")
        })
      ),
    { timeout: 60_000 }
  )
})
