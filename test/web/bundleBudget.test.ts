import { readFileSync, rmSync } from "node:fs"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { initialJsBudgetBytes, initialJsGzip, overBudget } from "./initialJs.ts"
import { buildWeb } from "./pagesSupport.ts"

/**
 * The web app's initial JavaScript (the entry and what index.html preloads, gzip -9) stays under its
 * budget (issue 16: 200 KB); a fresh `vite build` of web/, as `npm run build:web` makes it. And it
 * holds the API contract of the first inbox's calls only: every other group is loaded on its first
 * call (web/src/api/client.ts).
 */

const built: Array<string> = []
afterAll(() => {
  for (const dir of built) rmSync(dir, { recursive: true, force: true })
})
let distDir: string | undefined
const build = (): string => {
  if (distDir === undefined) {
    distDir = buildWeb()
    built.push(distDir)
  }
  return distDir
}

describe("web bundle budget", () => {
  it("the entry chunk and its modulepreloads stay under 200 KB gzip", () => {
    const js = initialJsGzip(build())
    // the entry and the app's libraries are counted, not only a tiny entry
    expect(
      js.scripts.some((script) => /\/react-[\w-]+\.js$/.test(script)),
      js.scripts.join(", ")
    ).toBe(true)
    expect(
      js.scripts.some((script) => /\/effect-[\w-]+\.js$/.test(script)),
      js.scripts.join(", ")
    ).toBe(true)
    expect(overBudget(js, initialJsBudgetBytes)).toBeUndefined()
    // the check itself: the same build over a budget 1 byte under its size fails, naming the size
    expect(overBudget(js, js.gzip - 1)).toContain(`${(js.gzip / 1024).toFixed(1)} KB gzip -9`)
  }, 120_000)

  it("holds the auth, emails and accounts groups' contract, and no other group's", () => {
    const dir = build()
    const text = initialJsGzip(dir)
      .scripts.map((script) => readFileSync(join(dir, script.replace(/^\//, "")), "utf8"))
      .join("\n")
    // endpoint paths, which the minified contract keeps as they are
    for (const path of ["/auth/me", "/emails/matrix", "/accounts/:id/mailboxes"]) expect(text).toContain(path)
    for (const path of ["/rules/log", "/webhooks/:id", "/admin/invites", "/import/ki-mail-helper"])
      expect(text).not.toContain(path)
  }, 120_000)
})
