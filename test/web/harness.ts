/**
 * The browser test harness: the real programs (src/main/api.ts and src/main/worker.ts) on free
 * ports over a fresh test database and Redis prefix, serving the built web app (dist/web), and
 * Debian's Chromium driven by playwright-core. Helpers sign in, take screenshots at a desktop and
 * a phone size into .tmp/screenshots/, and run axe-core on a page (serious or critical fails).
 */
import AxeBuilder from "@axe-core/playwright"
import { Effect, Exit, Scope } from "effect"
import { existsSync, mkdirSync } from "node:fs"
import { join, resolve } from "node:path"
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core"
import { makeTestEnv, type TestEnv } from "../harness/TestEnv.ts"
import { type Program, startApi, startWorker } from "../ops/programs.ts"

export const screenshotDir = resolve(".tmp/screenshots")
export const distIndex = resolve("dist/web/index.html")

/** The two sizes every page is looked at: a laptop and a phone. */
export const viewports = [
  { name: "desktop", width: 1280, height: 800 },
  { name: "phone", width: 390, height: 844 }
] as const

export interface WebStack {
  readonly base: string
  readonly env: TestEnv
  readonly api: Program
  readonly worker: Program
  readonly browser: Browser
  /** Closes the browser, stops both programs and drops the database; safe to call twice. */
  readonly close: () => Promise<void>
}

/** Chromium as CI has it; the flags keep it off the network it would otherwise call home to. */
export const launchChromium = (): Promise<Browser> =>
  chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run"
    ]
  })

/**
 * Starts everything; what was started is stopped again when a later step fails, so a failed
 * start leaves no Chromium, no program and no database behind.
 */
export const startWebStack = async (overrides: Record<string, string> = {}): Promise<WebStack> => {
  if (!existsSync(distIndex)) throw new Error(`${distIndex} is missing: run \`npm run build:web\` first`)
  const scope = await Effect.runPromise(Scope.make())
  const cleanups: Array<() => Promise<unknown>> = [() => Effect.runPromise(Scope.close(scope, Exit.void))]
  let closed = false
  const close = async () => {
    if (closed) return
    closed = true
    const failures: Array<unknown> = []
    for (const cleanup of cleanups.reverse()) {
      try {
        await cleanup()
      } catch (error) {
        failures.push(error)
      }
    }
    if (failures.length > 0) throw new AggregateError(failures, "closing the web test stack failed")
  }
  try {
    const env = await Effect.runPromise(makeTestEnv(overrides).pipe(Scope.provide(scope)))
    const programEnv = {
      ...env.env,
      REGISTRATION_MODE: "open",
      // the test Dovecot listens on 127.0.0.1, which the production policy refuses
      IMAP_DESTINATION_POLICY: "any",
      ...overrides
    }
    const worker = await startWorker(programEnv, { name: "web-worker" })
    cleanups.push(() => worker.program.stop("SIGTERM"))
    // the browser opens http://127.0.0.1:PORT, one of the default PUBLIC_ORIGINs the CSRF rule compares Origin with
    const api = await startApi(programEnv, { name: "web-api" })
    cleanups.push(() => api.program.stop("SIGTERM"))
    const browser = await launchChromium()
    cleanups.push(() => browser.close())
    return { base: api.base, env, api: api.program, worker: worker.program, browser, close }
  } catch (error) {
    await close()
    throw error
  }
}

/** A fresh browser profile (no cookies) in English unless told otherwise, at the desktop size. */
export const newContext = (stack: WebStack, locale = "en-US"): Promise<BrowserContext> =>
  stack.browser.newContext({ baseURL: stack.base, locale, viewport: { width: 1280, height: 800 } })

export const signIn = async (page: Page, email: string, password: string): Promise<void> => {
  await page.goto("/sign-in")
  await page.getByLabel("Email").fill(email)
  await page.getByLabel("Password").fill(password)
  await page.getByRole("button", { name: "Sign in" }).click()
  await page.getByRole("navigation", { name: "Main navigation" }).waitFor()
}

/** Full-page screenshots at both sizes; returns the files written. */
export const screenshots = async (page: Page, name: string): Promise<ReadonlyArray<string>> => {
  mkdirSync(screenshotDir, { recursive: true })
  const original = page.viewportSize()
  const files: Array<string> = []
  for (const viewport of viewports) {
    await page.setViewportSize({ width: viewport.width, height: viewport.height })
    const file = join(screenshotDir, `${name}-${viewport.width}x${viewport.height}.png`)
    await page.screenshot({ path: file, fullPage: true })
    files.push(file)
  }
  if (original !== null) await page.setViewportSize(original)
  return files
}

export interface AxeViolationSummary {
  readonly id: string
  readonly impact: string
  readonly help: string
  readonly targets: ReadonlyArray<string>
}

/** axe-core's serious and critical violations on the page as it is now, at both sizes. */
export const seriousViolations = async (page: Page): Promise<ReadonlyArray<AxeViolationSummary>> => {
  const original = page.viewportSize()
  const found: Array<AxeViolationSummary> = []
  for (const viewport of viewports) {
    await page.setViewportSize({ width: viewport.width, height: viewport.height })
    const results = await new AxeBuilder({ page }).analyze()
    for (const violation of results.violations) {
      if (violation.impact !== "serious" && violation.impact !== "critical") continue
      found.push({
        id: `${violation.id} (${viewport.name})`,
        impact: violation.impact,
        help: violation.help,
        targets: violation.nodes.map((node) => node.target.join(" "))
      })
    }
  }
  if (original !== null) await page.setViewportSize(original)
  return found
}

/** Screenshots and the accessibility check of one page, as every page of the app gets them. */
export const inspectPage = async (page: Page, name: string): Promise<ReadonlyArray<AxeViolationSummary>> => {
  await screenshots(page, name)
  return seriousViolations(page)
}
