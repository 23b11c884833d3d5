import { readFileSync, rmSync } from "node:fs"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { inboxModulePreloads } from "../../src/webapp/WebApp.ts"
import { initialJsBudgetBytes, initialJsGzip, overBudget } from "./initialJs.ts"
import { buildWeb } from "./pagesSupport.ts"

/**
 * The web app's initial JavaScript (the entry and what index.html preloads, gzip -9) stays under its
 * budget (issue 16: 200 KB); a fresh `vite build` of web/, as `npm run build:web` makes it. And it
 * holds the API contract of the first inbox's calls only: every other group is loaded on its first
 * call (web/src/api/client.ts). And the inbox's own code is few files: a first visit to `/` asks for
 * the entry's scripts and what the server announces for the inbox (src/webapp/WebApp.ts), all at once,
 * and over HTTP/1.1 (6 connections per host) every file more queues the others.
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

  it("announces the inbox page as at most 2 scripts and 2 stylesheets beyond the entry's, and pages without mail load none of its chunk", () => {
    const dir = build()
    const manifestText = readFileSync(join(dir, ".vite/manifest.json"), "utf8")
    const links = inboxModulePreloads(manifestText)
      .split(", ")
      .filter((link) => link !== "")
    const scripts = links.filter((link) => link.includes("rel=modulepreload"))
    const styles = links.filter((link) => link.includes("as=style"))
    // the page's chunk itself is among them, so an empty announcement cannot pass
    expect(
      scripts.some((link) => /\/assets\/InboxPage-[\w-]+\.js>/.test(link)),
      links.join(" | ")
    ).toBe(true)
    // the inbox's chunk and what it shares with the other pages; 8 before (a chunk per set of pages
    // sharing a module)
    expect(scripts.length, links.join(" | ")).toBeLessThanOrEqual(2)
    expect(styles.length, links.join(" | ")).toBeLessThanOrEqual(2)
    // none of it is initial JS (the budget above), and the pages that show no mail (sign-in first of all)
    // load none of the inbox page's chunk
    const initial = new Set(initialJsGzip(dir).scripts)
    for (const link of scripts) expect(initial.has(link.slice(1, link.indexOf(">")))).toBe(false)
    const manifest: unknown = JSON.parse(manifestText)
    const inboxFile = scripts[0]?.match(/assets\/InboxPage-[\w-]+\.js/)?.[0]
    for (const page of ["SignIn", "Register", "Rules", "Jobs", "Accounts"].map((name) => `src/pages/${name}Page.tsx`)) {
      const closure = new Set<string>()
      const visit = (key: string) => {
        const chunk: unknown = Reflect.get(Object(manifest), key)
        const file: unknown = Reflect.get(Object(chunk), "file")
        if (typeof file !== "string" || closure.has(file)) return
        closure.add(file)
        const imports: unknown = Reflect.get(Object(chunk), "imports")
        for (const imported of Array.isArray(imports) ? imports : []) visit(String(imported))
      }
      visit(page)
      expect(closure.size, page).toBeGreaterThan(0)
      expect(inboxFile !== undefined && closure.has(inboxFile), `${page}: ${[...closure].join(", ")}`).toBe(false)
    }
  }, 120_000)
})
