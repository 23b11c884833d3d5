import { assert, layer } from "@effect/vitest"
import { Effect, Schedule } from "effect"
import { readFileSync } from "node:fs"
import { jobKinds } from "../../src/contract/jobs/catalog.ts"
import { metricCatalogue } from "../../src/platform/Metrics.ts"
import { ApiEnv, apiTestLayer } from "../harness/apiLayer.ts"
import { baseUrl, call, field } from "../harness/http.ts"
import { freePort, spawnWorker } from "../harness/workerProcess.ts"
import {
  type Family,
  groupingLabelsIn,
  metricNamesIn,
  parseExposition,
  promtool,
  promtoolPath,
  samplesOf,
  selectorsIn
} from "./prometheus.ts"

// The API in this process, the worker as a real child process with its own metrics port.
const TestLayer = apiTestLayer()

const owner = { "x-test-user": "77777777-7777-4777-8777-777777777777" }
const hasPromtool = promtoolPath() !== undefined
if (!hasPromtool) {
  console.warn("test/ops/metrics.test.ts: promtool not found; `promtool check metrics` is skipped (CI installs it)")
}

const scrape = (url: string) =>
  Effect.promise(async () => {
    const response = await fetch(url)
    return {
      status: response.status,
      contentType: response.headers.get("content-type") ?? "",
      text: await response.text()
    }
  })

const submit = (base: string, payload: Record<string, unknown>) =>
  Effect.gen(function* () {
    const response = yield* call(base, "POST", "/api/v1/debug/ping", { json: payload, headers: owner })
    assert.strictEqual(response.status, 202, response.text)
    return String(field(response.body, "jobId"))
  })

const waitForState = (base: string, id: string) =>
  call(base, "GET", `/api/v1/jobs/${id}`, { headers: owner }).pipe(
    Effect.flatMap((response) =>
      ["succeeded", "failed", "cancelled"].includes(String(field(response.body, "state")))
        ? Effect.succeed(String(field(response.body, "state")))
        : Effect.fail(response.text)
    ),
    Effect.retry(Schedule.spaced("100 millis").pipe(Schedule.upTo({ times: 300 }))),
    Effect.orDie
  )

const checkWithPromtool = (what: string, text: string) => {
  if (!hasPromtool) return
  const result = promtool(["check", "metrics"], text)
  assert.strictEqual(result.status, 0, `promtool check metrics (${what}) found problems:\n${result.output}`)
}

/** Every sample of a family carries exactly the catalogue's labels (plus `le` on buckets). */
const assertLabels = (families: Map<string, Family>, name: string, labels: ReadonlyArray<string>) => {
  const family = families.get(name)
  assert.isDefined(family, `${name} missing`)
  for (const sample of family?.samples ?? []) {
    const expected = sample.name.endsWith("_bucket") ? [...labels, "le"] : [...labels]
    assert.deepStrictEqual(Object.keys(sample.labels).sort(), expected.sort(), `${sample.name} labels`)
  }
}

const catalogueByName = new Map(metricCatalogue.map((entry) => [entry.metric.id, entry]))
const prometheusOwn = new Set(["up"])

/** The metric family a selected series name belongs to (a histogram's _bucket/_sum/_count). */
const familyOf = (name: string): string => {
  const base = name.replace(/_(bucket|sum|count)$/, "")
  return base !== name && catalogueByName.get(base)?.metric.type === "Histogram" ? base : name
}

layer(TestLayer, { excludeTestServices: true, timeout: "120 seconds" })("metrics", (it) => {
  it.effect("the api's and the worker's /metrics pass promtool and carry the catalogue's names and labels", () =>
    Effect.gen(function* () {
      const env = yield* ApiEnv
      const base = yield* baseUrl
      const metricsPort = yield* Effect.promise(freePort)
      yield* spawnWorker(env, { WORKER_METRICS_PORT: String(metricsPort) })

      // traffic: successes, client errors and every job outcome
      assert.strictEqual((yield* call(base, "GET", "/health/live")).status, 200)
      assert.strictEqual((yield* call(base, "GET", "/api/v1/jobs", { headers: owner })).status, 200)
      assert.strictEqual((yield* call(base, "GET", "/api/v1/jobs")).status, 401)
      assert.strictEqual((yield* call(base, "GET", "/api/v1/jobs/not-a-uuid", { headers: owner })).status, 400)
      const unknown = yield* call(base, "GET", `/api/v1/jobs/${crypto.randomUUID()}`, { headers: owner })
      assert.strictEqual(unknown.status, 404)
      const ids = yield* Effect.all([
        submit(base, { steps: 2 }),
        submit(base, { failTimes: 1 }),
        submit(base, { failPermanently: true })
      ])
      const states = yield* Effect.forEach(ids, (id) => waitForState(base, id))
      assert.deepStrictEqual(states, ["succeeded", "succeeded", "failed"])

      const api = yield* scrape(`${base}/metrics`)
      assert.strictEqual(api.status, 200)
      assert.include(api.contentType, "text/plain")
      const worker = yield* scrape(`http://127.0.0.1:${metricsPort}/metrics`)
      // the worker's port answers what Node's parser refuses with the JSON error shape too
      const tooLong = yield* call(`http://127.0.0.1:${metricsPort}`, "GET", `/health/live?x=${"a".repeat(18_000)}`)
      assert.strictEqual(tooLong.status, 431, tooLong.text)
      assert.strictEqual(field(tooLong.body, "_tag"), "RequestHeaderFieldsTooLarge", tooLong.text)
      assert.strictEqual(worker.status, 200)
      checkWithPromtool("api", api.text)
      checkWithPromtool("worker", worker.text)

      const apiFamilies = parseExposition(api.text)
      const workerFamilies = parseExposition(worker.text)

      // HTTP: by method, route template (never a raw id) and status
      assertLabels(apiFamilies, "http_server_requests_total", ["method", "route", "status"])
      assertLabels(apiFamilies, "http_server_request_duration_seconds", ["method", "route", "status"])
      const requests = (labels: Record<string, string>) =>
        samplesOf(apiFamilies, "http_server_requests_total", labels).reduce((sum, sample) => sum + sample.value, 0)
      assert.strictEqual(requests({ method: "POST", route: "/api/v1/debug/ping", status: "202" }), 3)
      assert.strictEqual(requests({ method: "GET", route: "/api/v1/jobs/:id", status: "404" }), 1)
      assert.strictEqual(requests({ method: "GET", route: "/api/v1/jobs/:id", status: "400" }), 1)
      assert.strictEqual(requests({ method: "GET", route: "/api/v1/jobs", status: "401" }), 1)
      for (const sample of samplesOf(apiFamilies, "http_server_requests_total")) {
        assert.notMatch(sample.labels["route"] ?? "", /[0-9a-f]{8}-[0-9a-f]{4}-/, "a raw id in a route label")
      }
      assert.strictEqual(apiFamilies.get("http_server_request_duration_seconds")?.type, "histogram")

      // jobs: one succeeded at once, one after a retry, one failed
      assertLabels(workerFamilies, "jobs_completed_total", ["kind", "outcome"])
      assertLabels(workerFamilies, "job_duration_seconds", ["kind", "outcome"])
      const attempts = (outcome: string) =>
        samplesOf(workerFamilies, "jobs_completed_total", { kind: "debug.ping", outcome })[0]?.value ?? 0
      assert.deepStrictEqual(
        { succeeded: attempts("succeeded"), retrying: attempts("retrying"), failed: attempts("failed") },
        { succeeded: 2, retrying: 1, failed: 1 }
      )
      assert.strictEqual(
        samplesOf(workerFamilies, "job_duration_seconds_count", { kind: "debug.ping", outcome: "succeeded" })[0]?.value,
        2
      )

      // queue depth: every registered queue, every state the dashboard shows
      assertLabels(workerFamilies, "queue_jobs", ["queue", "state"])
      for (const kind of jobKinds) {
        for (const state of ["waiting", "active", "delayed", "failed", "prioritized"]) {
          assert.lengthOf(
            samplesOf(workerFamilies, "queue_jobs", { queue: kind.name, state }),
            1,
            `${kind.name} ${state}`
          )
        }
      }

      // process health, from both programs
      for (const [program, families] of [
        ["api", apiFamilies],
        ["worker", workerFamilies]
      ] as const) {
        for (const name of [
          "process_resident_memory_bytes",
          "nodejs_heap_used_bytes",
          "nodejs_eventloop_lag_seconds"
        ]) {
          const value = samplesOf(families, name)[0]?.value
          assert.isDefined(value, `${program}: ${name}`)
          assert.isAtLeast(value ?? -1, 0)
          assert.strictEqual(families.get(name)?.type, "gauge")
        }
        assert.isAbove(samplesOf(families, "process_resident_memory_bytes")[0]?.value ?? 0, 10_000_000)
      }

      // both database pools of both programs (test/ops/dbPool.test.ts checks the numbers under contention)
      for (const [program, families] of [
        ["api", apiFamilies],
        ["worker", workerFamilies]
      ] as const) {
        for (const pool of ["app", "system"]) {
          for (const state of ["in_use", "idle"]) {
            assert.lengthOf(
              samplesOf(families, "db_pool_connections", { pool, state }),
              1,
              `${program} ${pool} ${state}`
            )
          }
          assert.lengthOf(samplesOf(families, "db_pool_waiting", { pool }), 1, `${program} ${pool} waiting`)
        }
        // the app pool served the traffic above
        assert.isAbove(
          samplesOf(families, "db_pool_acquire_duration_seconds_count", { pool: "app" })[0]?.value ?? 0,
          0,
          `${program}: no app pool checkout timed`
        )
      }

      // every exported family is in the catalogue, with HELP text, and where the catalogue says
      for (const [program, families] of [
        ["api", apiFamilies],
        ["worker", workerFamilies]
      ] as const) {
        for (const family of families.values()) {
          const entry = catalogueByName.get(family.name)
          assert.isDefined(entry, `${program} exports ${family.name}, which is not in metricCatalogue`)
          assert.include(entry?.exportedBy ?? [], program, `${family.name} on ${program}`)
          assert.isAbove((family.help ?? "").length, 10, `${family.name} has no HELP text`)
          assertLabels(families, family.name, entry?.labels ?? [])
        }
      }
    })
  )

  it("the Grafana dashboard and the alert rules select only catalogued metrics and labels", () => {
    const dashboard: unknown = JSON.parse(readFileSync("otel/grafana/dashboards/mail-helper.json", "utf8"))
    const panels = field(dashboard, "panels")
    const exprs: Array<string> = []
    for (const panel of Array.isArray(panels) ? panels : []) {
      const targets = field(panel, "targets")
      for (const target of Array.isArray(targets) ? targets : []) exprs.push(String(field(target, "expr")))
    }
    assert.isAbove(exprs.length, 10)
    const rules = readFileSync("otel/alerts.yml", "utf8")
    const ruleExprs = [...rules.matchAll(/expr: (\|\n(?:\s{10,}.*\n)+|.*)/g)].map((match) => match[1] ?? "")
    assert.isAbove(ruleExprs.length, 5)

    const labelsOf = (name: string) =>
      new Set([...(catalogueByName.get(name)?.labels ?? []), "job", "instance", ...(name === "up" ? [] : ["le"])])
    const used = new Set<string>()
    for (const expr of [...exprs, ...ruleExprs]) {
      const names = metricNamesIn(expr).map(familyOf)
      assert.isNotEmpty(names, expr)
      for (const name of names) {
        used.add(name)
        if (!prometheusOwn.has(name))
          assert.isDefined(catalogueByName.get(name), `"${expr}" selects ${name}, which no program exports`)
      }
      // a matcher names a label of its own metric; a grouping names a label of one of the expression's metrics
      for (const selector of selectorsIn(expr)) {
        const own = labelsOf(familyOf(selector.name))
        for (const label of selector.labels) assert.isTrue(own.has(label), `${selector.name}{${label}} in "${expr}"`)
      }
      for (const label of groupingLabelsIn(expr)) {
        assert.isTrue(
          names.some((name) => labelsOf(name).has(label)),
          `by/on (${label}) in "${expr}": no metric of the expression has it`
        )
      }
    }
    // the dashboard shows every metric the programs export
    for (const entry of metricCatalogue) assert.isTrue(used.has(entry.metric.id), `${entry.metric.id} is on no panel`)
  })
})
