/**
 * The web app's initial JavaScript: the entry script and every script index.html preloads
 * (`rel=modulepreload`), gzip -9, which the first visit downloads before the app can run. The budget
 * (issue 16: under 200 KB) is checked by test/web/bundleBudget.test.ts and printed by bench/webapp.ts.
 */
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { gzipSync } from "node:zlib"

export const initialJsBudgetBytes = 200 * 1024

export interface InitialJs {
  readonly scripts: ReadonlyArray<string>
  readonly raw: number
  readonly gzip: number
}

export const initialJsGzip = (distDir: string): InitialJs => {
  const html = readFileSync(join(distDir, "index.html"), "utf8")
  const scripts = [
    ...html.matchAll(/<(?:script[^>]*\ssrc|link[^>]*rel="modulepreload"[^>]*\shref)="([^"]+\.js)"/g)
  ].map((match) => match[1] ?? "")
  let raw = 0
  let gzip = 0
  for (const script of scripts) {
    const bytes = readFileSync(join(distDir, script.replace(/^\//, "")))
    raw += bytes.length
    gzip += gzipSync(bytes, { level: 9 }).length
  }
  return { scripts, raw, gzip }
}

/** Why `js` is over `budget` (bytes, gzip), with each script's share; undefined within it. */
export const overBudget = (js: InitialJs, budget: number): string | undefined =>
  js.gzip <= budget
    ? undefined
    : `initial JS is ${(js.gzip / 1024).toFixed(1)} KB gzip -9, over the ${(budget / 1024).toFixed(1)} KB budget: ${js.scripts.join(", ")}`
