import { readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { assert, describe, it } from "@effect/vitest"

/**
 * Every environment variable the programs read is in the README's configuration tables: an operator
 * reads the README, not the source, and 35 variables had gone missing from it unnoticed.
 */
const root = fileURLToPath(new URL("../../", import.meta.url))

const sourceFiles = (dir: string): ReadonlyArray<string> =>
  readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? sourceFiles(join(dir, entry.name)) : entry.name.endsWith(".ts") ? [join(dir, entry.name)] : []
  )

// the names passed to effect's Config constructors or to the small helpers built on them (`bounded`,
// `positiveInt`): an upper-case string literal directly after `(` in a file that uses `Config.`
const variableNames = (): ReadonlySet<string> => {
  const names = new Set<string>()
  for (const file of sourceFiles(join(root, "src"))) {
    const text = readFileSync(file, "utf8")
    if (!text.includes("Config.")) continue
    for (const match of text.matchAll(/\(\s*"([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)"/g)) {
      const name = match[1]
      if (name !== undefined) names.add(name)
    }
  }
  return names
}

describe("README configuration tables", () => {
  it("name every environment variable the programs read", () => {
    const names = variableNames()
    // the scan itself works: variables known to be read are found
    for (const known of ["DATABASE_URL", "SYNC_BATCH_SIZE", "AI_TIMEOUT_MS", "SESSION_IDLE_SECONDS"]) {
      assert.isTrue(names.has(known), `the scan did not find ${known}`)
    }
    const readme = readFileSync(join(root, "README.md"), "utf8")
    const missing = [...names].filter((name) => !readme.includes(`\`${name}\``)).sort()
    assert.deepStrictEqual(missing, [], "add these to the README's configuration tables")
  })
})
