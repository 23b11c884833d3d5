import { execFileSync } from "node:child_process"
import { readdirSync } from "node:fs"
import { join, relative } from "node:path"
import { fileURLToPath } from "node:url"
import { assert, describe, it } from "@effect/vitest"

/**
 * `npm run check:imports` (dependency-cruiser, .dependency-cruiser.cjs) is only as good as what it
 * reads: with a TypeScript it cannot use, it once cruised zero files and reported no violation. This
 * test runs the same configuration and checks that every source file under src/ was read, with its
 * type-only imports, and that no rule is broken.
 */
const root = fileURLToPath(new URL("../../", import.meta.url))

const sourceFiles = (dir: string): ReadonlyArray<string> =>
  readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory()
      ? sourceFiles(join(dir, entry.name))
      : entry.name.endsWith(".ts")
        ? [relative(root, join(dir, entry.name))]
        : []
  )

interface CruiseResult {
  readonly modules: ReadonlyArray<{
    readonly source: string
    readonly dependencies: ReadonlyArray<{ readonly dependencyTypes: ReadonlyArray<string> }>
  }>
  readonly summary: {
    readonly error: number
    readonly environment?: { readonly issues?: ReadonlyArray<{ readonly name: string }> }
  }
}

const isCruiseResult = (value: unknown): value is CruiseResult =>
  typeof value === "object" &&
  value !== null &&
  "modules" in value &&
  Array.isArray(value.modules) &&
  "summary" in value &&
  typeof value.summary === "object" &&
  value.summary !== null &&
  "error" in value.summary

describe("folder import rules", () => {
  it("dependency-cruiser reads every file under src/ and finds no violation", { timeout: 120_000 }, () => {
    const output = execFileSync(
      join(root, "node_modules/.bin/depcruise"),
      ["--config", ".dependency-cruiser.cjs", "--ignore-known", "--output-type", "json", "src"],
      { cwd: root, encoding: "utf8", maxBuffer: 64 * 1024 * 1024, stdio: ["ignore", "pipe", "pipe"] }
    )
    const parsed: unknown = JSON.parse(output)
    assert.isTrue(isCruiseResult(parsed))
    if (!isCruiseResult(parsed)) return
    const cruised = new Set(parsed.modules.map((module) => module.source))
    assert.deepStrictEqual(
      sourceFiles(join(root, "src")).filter((file) => !cruised.has(file)),
      [],
      "files dependency-cruiser did not read"
    )
    // type-only imports are edges as well (a type ties two folders together as a value does)
    assert.isTrue(
      parsed.modules.some((module) =>
        module.dependencies.some((dependency) => dependency.dependencyTypes.includes("type-only"))
      )
    )
    // an environment issue ("missing-tsc-transpiler": an option asks for a TypeScript compiler API
    // TypeScript 7.0 lacks) means the check runs on a parser other than the one configured
    assert.deepStrictEqual(
      (parsed.summary.environment?.issues ?? []).map((issue) => issue.name),
      [],
      "dependency-cruiser environment issues"
    )
    assert.strictEqual(parsed.summary.error, 0)
  })
})
