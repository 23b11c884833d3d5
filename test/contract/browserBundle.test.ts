import { isBuiltin } from "node:module"
import { fileURLToPath } from "node:url"
import { assert, describe, it } from "@effect/vitest"
import { build, type Plugin } from "vite"

/**
 * The HTTP contract is meant for a browser bundle too (the web app's typed client). Builds
 * `src/contract/Api.ts` the way a browser app would (Vite library mode, browser resolution, every
 * dependency bundled) and lists what a browser could not run: a Node built-in (Vite would only
 * swap it for an empty stub and warn), a server-only package, or a module of src/ outside the
 * contract. About 2 s.
 */
const root = fileURLToPath(new URL("../../", import.meta.url))
const serverOnlyPackage =
  /\/node_modules\/(pg|pg-[a-z-]+|@effect\/sql-pg|bullmq|ioredis|imapflow|mailparser|@node-rs\/argon2[a-z0-9-]*|sanitize-html|hono)\//

const bundleContract = async () => {
  const builtins: Array<string> = []
  const recordBuiltins: Plugin = {
    name: "record-node-builtins",
    enforce: "pre",
    resolveId(source, importer) {
      if (isBuiltin(source)) builtins.push(`${source} (imported by ${importer ?? "the entry"})`)
      return null
    }
  }
  const output = await build({
    configFile: false,
    logLevel: "silent",
    root,
    build: {
      write: false,
      minify: false,
      lib: { entry: "src/contract/Api.ts", formats: ["es"], fileName: "contract" }
    },
    plugins: [recordBuiltins]
  })
  // a watcher only comes back in watch mode; without output the checks below fail
  const results = Array.isArray(output) ? output : [output]
  const modules = results.flatMap((result) =>
    "output" in result ? result.output.flatMap((item) => (item.type === "chunk" ? item.moduleIds : [])) : []
  )
  return { builtins, modules }
}

describe("the HTTP contract in a browser bundle", () => {
  it("bundles without a Node built-in, a server-only package or a server module", { timeout: 60_000 }, async () => {
    const { builtins, modules } = await bundleContract()
    // the check itself works: the bundle holds the contract's groups and their schemas
    assert.isTrue(modules.some((id) => id.endsWith("/src/contract/rules/RulesApi.ts")))
    assert.isTrue(modules.some((id) => id.endsWith("/src/contract/rules/RuleSchemas.ts")))
    assert.deepStrictEqual(builtins, [])
    const src = `${root}src/`
    assert.deepStrictEqual(
      modules.filter((id) => serverOnlyPackage.test(id) || (id.startsWith(src) && !id.startsWith(`${src}contract/`))),
      []
    )
  })
})
