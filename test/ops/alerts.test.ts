import { assert, describe, it } from "@effect/vitest"
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { field } from "../harness/http.ts"
import { promtool, promtoolPath } from "./prometheus.ts"

const hasPromtool = promtoolPath() !== undefined
if (!hasPromtool)
  console.warn("test/ops/alerts.test.ts: promtool not found; skipped (CI installs the prometheus package)")

/** A scratch folder with copies of the otel files, paths rewritten as the compose mounts place them. */
const withScratch = (run: (dir: string) => void) => {
  const dir = mkdtempSync(join(tmpdir(), "mh-otel-"))
  try {
    run(dir)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

describe.skipIf(!hasPromtool)("Prometheus configuration", () => {
  it("alert rules load, and their unit tests pass (each alert fires on its fault and stays quiet otherwise)", () => {
    const check = promtool(["check", "rules", "otel/alerts.yml"])
    assert.strictEqual(check.status, 0, check.output)
    assert.match(check.output, /SUCCESS: \d+ rules found/)
    const unit = promtool(["test", "rules", "otel/alerts.test.yml"])
    assert.strictEqual(unit.status, 0, unit.output)
    // every alert has a runbook section
    const runbook = readFileSync("docs/operations.md", "utf8").toLowerCase()
    for (const match of readFileSync("otel/alerts.yml", "utf8").matchAll(/alert: (\S+)/g)) {
      const name = (match[1] ?? "").toLowerCase()
      assert.include(runbook, `### ${name}`, `docs/operations.md has no section for ${match[1]}`)
    }
  })

  it("prometheus.yml is valid and loads the alert rules", () =>
    withScratch((dir) => {
      copyFileSync("otel/alerts.yml", join(dir, "alerts.yml"))
      // the compose secret with METRICS_TOKEN, as Prometheus's container sees it
      writeFileSync(join(dir, "metrics_token"), "x".repeat(48))
      const config = readFileSync("otel/prometheus.yml", "utf8")
        .replace("/etc/prometheus/alerts.yml", "alerts.yml")
        .replaceAll("/run/secrets/metrics_token", join(dir, "metrics_token"))
      writeFileSync(join(dir, "prometheus.yml"), config)
      const result = promtool(["check", "config", join(dir, "prometheus.yml")])
      assert.strictEqual(result.status, 0, result.output)
      assert.include(result.output, "1 rule files found")
    }))

  it("every query of the Grafana dashboard is valid PromQL", () =>
    withScratch((dir) => {
      const dashboard: unknown = JSON.parse(readFileSync("otel/grafana/dashboards/mail-helper.json", "utf8"))
      const panels = field(dashboard, "panels")
      const rules: Array<string> = []
      for (const panel of Array.isArray(panels) ? panels : []) {
        const targets = field(panel, "targets")
        for (const target of Array.isArray(targets) ? targets : []) {
          // Grafana's variables, as Grafana would expand them
          const expr = String(field(target, "expr"))
            .replaceAll("$__rate_interval", "1m")
            .replaceAll("$job", "mail-helper-.*")
          rules.push(`      - record: dashboard:query_${rules.length}\n        expr: ${JSON.stringify(expr)}`)
        }
      }
      assert.isAbove(rules.length, 10)
      writeFileSync(join(dir, "dashboard.yml"), `groups:\n  - name: dashboard\n    rules:\n${rules.join("\n")}\n`)
      const result = promtool(["check", "rules", join(dir, "dashboard.yml")])
      assert.strictEqual(result.status, 0, result.output)
    }))
})
