import { readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { assert, describe, it } from "@effect/vitest"

/**
 * The glibc malloc settings that let a worker give back what it freed after a sync
 * (docs/operations.md, "Worker memory after a sync") are set wherever a worker is started, and
 * the bench starts its worker with the same ones, so its idle figures are production's.
 */
const root = fileURLToPath(new URL("../../", import.meta.url))
const read = (path: string) => readFileSync(`${root}${path}`, "utf8")

const settings = [
  ["MALLOC_ARENA_MAX", "2"],
  ["MALLOC_TRIM_THRESHOLD_", "131072"]
] as const

describe("worker malloc settings", () => {
  it("the image sets them for every program", () => {
    const dockerfile = read("Dockerfile")
    for (const [name, value] of settings) assert.match(dockerfile, new RegExp(`^\\s+${name}=${value}\\b`, "m"), name)
  })

  it("the systemd unit sets them", () => {
    const unit = read("deploy/mail-helper-worker@.service")
    for (const [name, value] of settings) assert.include(unit, `Environment=${name}=${value}\n`, name)
  })

  it("npm run worker sets them", () => {
    const script = read("package.json").match(/"worker": "([^"]*)"/)?.[1] ?? ""
    for (const [name, value] of settings) assert.include(script, `${name}=${value} `, name)
  })

  it("bench/sync.ts starts its worker with them", () => {
    const bench = read("bench/sync.ts")
    for (const [name, value] of settings) assert.include(bench, `${name}: "${value}"`, name)
  })
})
