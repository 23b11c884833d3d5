/**
 * What the mail pages' browser tests and bench need (until the shared web harness lands): the web
 * app built once into a temporary folder, the real API and worker programs on a throw-away database
 * serving it, a Dovecot mailbox, a signed-in Chromium page. Plain promises, so bench/webapp.ts
 * uses it without a test runner. Everything listens on loopback only.
 */
import { spawnSync } from "node:child_process"
import { randomBytes } from "node:crypto"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core"
import {
  type Cleanup,
  type DrillEnv,
  field,
  makeDrillEnv,
  request,
  startApi,
  startWorker
} from "../../scripts/drills/support.ts"

export const chromiumArgs = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run"
]

/** `vite build` of web/ into a fresh folder (the repository's dist/web is left alone), as `npm run build:web` does. */
export const buildWeb = (): string => {
  const outDir = mkdtempSync(join(tmpdir(), "mh-webpages-"))
  const result = spawnSync(
    process.execPath,
    ["node_modules/vite/bin/vite.js", "build", "--config", "web/vite.config.ts", "--outDir", outDir, "--emptyOutDir"],
    // vitest sets NODE_ENV=test, with which Vite builds React's development code (StrictMode then runs
    // every effect twice, so the first screen asked for its data twice); the app is built as shipped
    { encoding: "utf8", env: { ...process.env, NODE_ENV: "production" } }
  )
  if (result.status !== 0) throw new Error(`web build failed:\n${result.stdout}\n${result.stderr}`)
  return outDir
}

export interface PagesWorld {
  readonly env: DrillEnv
  readonly base: string
  readonly email: string
  readonly browser: Browser
  readonly context: BrowserContext
  readonly page: Page
  readonly distDir: string
}

/** The API serving the build, one worker, a registered user signed in in a fresh Chromium context. */
export const startPagesWorld = async (
  name: string,
  cleanup: Cleanup,
  options: { workers?: number } = {}
): Promise<PagesWorld> => {
  const distDir = buildWeb()
  cleanup(() => rmSync(distDir, { recursive: true, force: true }))
  const env = await makeDrillEnv(name, cleanup, { extraEnv: { WEB_DIST_DIR: distDir, LOG_LEVEL: "Warn" } })
  const { program: api, base } = await startApi(env.env)
  cleanup(() => api.stop())
  for (let i = 0; i < (options.workers ?? 1); i++) {
    const { program } = await startWorker(env.env, { name: `worker-${i + 1}` })
    cleanup(() => program.stop())
  }
  const email = `${name}.${randomBytes(4).toString("hex")}@pages.example`
  const password = `pages ${randomBytes(12).toString("base64url")}`
  const registered = await request(base, "POST", "/api/v1/auth/register", { json: { email, password } })
  if (registered.status !== 201) throw new Error(`register: ${registered.status} ${registered.text}`)
  const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: chromiumArgs })
  cleanup(() => browser.close())
  const context = await browser.newContext({ locale: "en-GB", viewport: { width: 1280, height: 900 } })
  await signInContext(context, base, email, password)
  const page = await context.newPage()
  const world: PagesWorld = { env, base, email, browser, context, page, distDir }
  return world
}

/**
 * A call to the API as the signed-in user (the context's session cookie; Origin as a browser
 * sends it on unsafe requests). Answers status and parsed body.
 */
export const apiCall = async (
  world: Pick<PagesWorld, "context" | "base">,
  method: "GET" | "POST" | "PATCH" | "DELETE",
  path: string,
  json?: unknown
): Promise<{ readonly status: number; readonly body: unknown }> => {
  const response = await world.context.request.fetch(`${world.base}${path}`, {
    method,
    headers: { origin: world.base },
    ...(json === undefined ? {} : { data: json })
  })
  const text = await response.text()
  let body: unknown
  try {
    body = JSON.parse(text)
  } catch {
    body = text
  }
  return { status: response.status(), body }
}

/** Signs the context in with the session cookie (the sign-in page is the shell's, tested there). */
export const signInContext = async (context: BrowserContext, base: string, email: string, password: string) => {
  const response = await context.request.post(`${base}/api/v1/auth/login`, {
    data: { email, password },
    headers: { origin: base }
  })
  if (response.status() !== 200) throw new Error(`sign-in: ${response.status()} ${await response.text()}`)
}

export { field, request }
