import { execFileSync } from "node:child_process"
import { readdirSync, readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { assert, describe, it } from "@effect/vitest"

/**
 * Each program loads only its own modules: an idle worker that also loaded the HTTP API (its
 * handlers, the docs page's 3 MB Scalar bundle, the queue dashboard with lodash and valibot,
 * argon2) was 17 MB larger. Loads a program's module graph in a fresh Node (as production runs it,
 * with Node's own type stripping) and lists every module it resolved.
 */
const root = fileURLToPath(new URL("../../", import.meta.url))

const modulesLoadedBy = (entry: string): ReadonlyArray<string> => {
  const script = `
    import { registerHooks } from "node:module"
    const seen = new Set()
    registerHooks({ resolve(specifier, context, next) { const result = next(specifier, context); seen.add(result.url); return result } })
    await import(${JSON.stringify(new URL(entry, `file://${root}`).href)})
    process.stdout.write(JSON.stringify([...seen]))`
  const output = execFileSync(process.execPath, ["--input-type=module", "-e", script], {
    cwd: root,
    encoding: "utf8",
    // the module graph only: importing a program module starts nothing (`import.meta.main` is false)
    env: { ...process.env, NODE_OPTIONS: "" },
    maxBuffer: 16 * 1024 * 1024
  })
  const parsed: unknown = JSON.parse(output)
  assert.isTrue(Array.isArray(parsed))
  return Array.isArray(parsed) ? parsed.map(String) : []
}

/**
 * What the HTTP contract must never load: it is shared with a browser bundle and a typed client
 * (`HttpApiClient`), so a server-only driver (or Node built-in) in its graph breaks them both.
 */
const serverOnlyPackage =
  /\/node_modules\/(pg|pg-[a-z-]+|@effect\/sql-pg|bullmq|ioredis|imapflow|mailparser|@node-rs\/argon2[a-z0-9-]*|sanitize-html|hono)\//

/** The modules of `loaded` a contract module may not reach: server-only packages, Node built-ins, src/ outside src/contract/. */
const serverOnlyModules = (loaded: ReadonlyArray<string>): ReadonlyArray<string> => {
  const src = new URL("src/", `file://${root}`).href
  const contract = new URL("src/contract/", `file://${root}`).href
  return loaded.filter(
    (url) =>
      url.startsWith("node:") || serverOnlyPackage.test(url) || (url.startsWith(src) && !url.startsWith(contract))
  )
}

const apiOnly = [
  /\/src\/http\//,
  // the HTTP contract's groups (the worker may load contract schemas, not the API)
  /\/src\/contract\/([a-z]+\/)?[A-Za-z]*Api\.ts$/,
  /\/src\/[a-z]+\/[A-Za-z]*Http\.ts$/,
  /\/src\/main\/httpLayers\.ts$/,
  /\/node_modules\/@bull-board\//,
  /\/node_modules\/hono\//,
  /\/node_modules\/@node-rs\/argon2/,
  /\/node_modules\/effect\/dist\/http-api\//
]

/**
 * Every module that defines a job processor (a call of makeProcessor), found in the sources rather
 * than listed, so that a new processor is covered too; and the worker's own composition.
 */
const processorModules = (): ReadonlyArray<string> => [
  ...readdirSync(new URL("src/", `file://${root}`), { recursive: true, encoding: "utf8" })
    .filter((path) => path.endsWith(".ts") && !path.endsWith("jobs/JobProcessor.ts"))
    .filter((path) => /\bmakeProcessor\(/.test(readFileSync(new URL(`src/${path}`, `file://${root}`), "utf8")))
    .map((path) => `/src/${path}`),
  "/src/main/processors.ts",
  "/src/main/workerLayers.ts",
  "/src/jobs/WorkerRuntime.ts"
]

describe("program module graphs", () => {
  it("the worker loads none of the HTTP API's modules", { timeout: 60_000 }, () => {
    const loaded = modulesLoadedBy("src/main/worker.ts")
    // the check itself works: the worker's own composition is in the list
    assert.isTrue(loaded.some((url) => url.endsWith("/src/main/workerLayers.ts")))
    assert.isTrue(loaded.some((url) => url.endsWith("/src/sync/MailSync.ts")))
    assert.deepStrictEqual(
      loaded.filter((url) => apiOnly.some((pattern) => pattern.test(url))),
      []
    )
  })

  it("the API loads none of the worker's processors", { timeout: 60_000 }, () => {
    const loaded = modulesLoadedBy("src/main/api.ts")
    assert.isTrue(loaded.some((url) => url.endsWith("/src/contract/Api.ts")))
    assert.deepStrictEqual(
      loaded.filter((url) =>
        /\/src\/main\/workerLayers\.ts$|\/src\/sync\/(MailSync|MailSyncProcessor|ParserPool)\.ts$/.test(url)
      ),
      []
    )
  })

  it("the HTTP contract loads nothing server-only", { timeout: 60_000 }, () => {
    const loaded = modulesLoadedBy("src/contract/Api.ts")
    // the check itself works: the contract's groups and their schemas are in the list
    assert.isTrue(loaded.some((url) => url.endsWith("/src/contract/rules/RulesApi.ts")))
    assert.isTrue(loaded.some((url) => url.endsWith("/src/contract/rules/RuleSchemas.ts")))
    assert.deepStrictEqual(serverOnlyModules(loaded), [])
  })

  it("the job catalogue loads nothing server-only", { timeout: 60_000 }, () => {
    const loaded = modulesLoadedBy("src/contract/jobs/catalog.ts")
    assert.isTrue(loaded.some((url) => url.endsWith("/src/contract/jobs/RulesApplyJob.ts")))
    assert.deepStrictEqual(serverOnlyModules(loaded), [])
  })

  it("the API loads no module that defines a job processor: it submits kinds from the contract", {
    timeout: 60_000
  }, () => {
    const processors = processorModules()
    // the check itself works: the processors are found, and the API does load the job kinds
    assert.isAtLeast(processors.length, 7)
    const loaded = modulesLoadedBy("src/main/api.ts")
    assert.isTrue(loaded.some((url) => url.endsWith("/src/contract/jobs/catalog.ts")))
    assert.deepStrictEqual(
      loaded.filter((url) => processors.some((path) => url.endsWith(path))),
      []
    )
  })

  it("the worker loads no HTTP handler", { timeout: 60_000 }, () => {
    const loaded = modulesLoadedBy("src/main/worker.ts")
    assert.deepStrictEqual(
      loaded.filter((url) => /\/src\/.*Http\.ts$/.test(url)),
      []
    )
  })
})
