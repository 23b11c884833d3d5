/**
 * The web app's mail pages in Chromium over 10,000 messages.
 *
 *   npx tsx bench/webapp.ts [messages=10000] [runs=7]
 *   BENCH_BASE_TREE=/path/to/base-checkout npx tsx bench/webapp.ts 10000 7   (adds an interleaved A/B)
 *
 * The web app is built (vite, as `npm run build:web`), the API program serves it on a throw-away
 * database, and one user's `messages` messages with their analysis are inserted straight into the
 * database (one INSERT ... SELECT from generate_series; the search vector is filled by the table's
 * trigger). Measured in the same Chromium (headless, one context, assets cached after the first run):
 *
 *   initial JS         the entry script and what index.html preloads, gzip -9; and every script the first
 *                      inbox visit fetched (the pages are lazy chunks), gzip -9
 *   first inbox        navigation start -> first message row in the DOM (performance.now() in the page),
 *                      cold (first visit, also the API process's first /emails since it started), warm,
 *                      and a new browser (empty cache, new session) on the running server; plus the
 *                      rows in the DOM (virtualisation: ~a screen)
 *   open a message     click on a row -> the message's analysis heading, in-app navigation
 *   search round trip  submit on /search -> the first hit in the DOM
 *   baseline           in the same loop, the API call each step needs, fetched from Node (no browser)
 *
 * Beside the wall-clock figures, CPU per step: the page's main-thread time (CDP Performance
 * TaskDuration, ScriptDuration) and the API process's CPU (/proc/<pid>/stat), since the machine is
 * shared and wall time alone says little.
 */
import { spawnSync } from "node:child_process"
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { gzipSync } from "node:zlib"
import { type Page, chromium } from "playwright-core"
import { log, makeDrillEnv, registerAndSignIn, request, startApi } from "../scripts/drills/support.ts"
import { startDovecot } from "../test/harness/dovecot.ts"
import { initialJsBudgetBytes, initialJsGzip } from "../test/web/initialJs.ts"
import { chromiumArgs, insertAnalysedMail, signInContext } from "../test/web/pagesSupport.ts"
import { processCpu } from "./support/cpu.ts"
import { median } from "./support/stats.ts"

const messages = Number(process.argv[2] ?? 10_000)
const runs = Number(process.argv[3] ?? 7)

const tasks: Array<() => unknown> = []
const cleanup = (task: () => unknown) => tasks.push(task)

const fmt = (ms: number) => `${ms.toFixed(1)} ms`

/** A field of a performance entry as JSON (the page's entries cross to Node as JSON). */
const entryField = (entry: unknown, key: string): number | string | undefined => {
  if (typeof entry !== "object" || entry === null || !(key in entry)) return undefined
  const value: unknown = Reflect.get(entry, key)
  return typeof value === "number" || typeof value === "string" ? value : undefined
}
const entryNumber = (entry: unknown, key: string): number => {
  const value = entryField(entry, key)
  return typeof value === "number" ? value : Number.NaN
}

/**
 * Where a first render's time went, from the page's own performance entries: the document, each
 * script and API call as start -> end (ttfb: the server's time plus the network), CSS, and the
 * first paint; ms since navigation start.
 */
const timeline = (entriesJson: string): string => {
  const entries: unknown = JSON.parse(entriesJson)
  const ms = (value: number) => Math.round(value)
  const parts: Array<string> = []
  for (const entry of Array.isArray(entries) ? entries : []) {
    const type = entryField(entry, "entryType")
    const name = String(entryField(entry, "name") ?? "")
    const start = entryNumber(entry, "startTime")
    const ttfb = entryNumber(entry, "responseStart") - entryNumber(entry, "requestStart")
    if (type === "navigation") {
      parts.push(
        `html ${ms(entryNumber(entry, "requestStart"))}->${ms(entryNumber(entry, "responseEnd"))} (ttfb ${ms(ttfb)})`
      )
      parts.push(`DOMContentLoaded ${ms(entryNumber(entry, "domContentLoadedEventEnd"))}`)
    } else if (type === "resource") {
      const url = new URL(name)
      const label = url.pathname.startsWith("/assets/")
        ? url.pathname.slice(8).replace(/-[\w-]{8}\./, ".")
        : `${url.pathname.replace("/api/v1", "")}${url.search}`
      const cached = entryNumber(entry, "transferSize") === 0 ? " cached" : ""
      parts.push(`${label} ${ms(start)}->${ms(entryNumber(entry, "responseEnd"))} ttfb ${ms(ttfb)}${cached}`)
    } else if (type === "paint") {
      parts.push(`${name} ${ms(start)}`)
    }
  }
  return parts.join("; ")
}

/**
 * Installed in every page before its own scripts (context.addInitScript): the first message row is
 * timed in the page itself, by a MutationObserver that marks `bench:first-row` in the microtask after
 * React commits it (Playwright's waitForSelector polls, and its evaluate adds a round trip), and the
 * main thread's long tasks (> 50 ms) are kept from the start (the 'longtask' entries are not buffered).
 * In a profiled run the observer also spins ~2 ms in a named function, so the CPU profile shows when.
 * A string, not a function: tsx's transpiled functions may call helpers the page does not have.
 */
const inPageTiming = `(() => {
  const longTasks = []
  window.__benchLongTasks = longTasks
  try {
    new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) longTasks.push({ start: entry.startTime, duration: entry.duration })
    }).observe({ type: "longtask" })
  } catch {}
  function benchFirstRowMarker() {
    const until = performance.now() + 2
    while (performance.now() < until) {}
  }
  const observer = new MutationObserver(() => {
    if (document.querySelector("[role=option][data-email-id]") === null) return
    performance.mark("bench:first-row")
    observer.disconnect()
    if (window.__benchProfiled === true) benchFirstRowMarker()
  })
  observer.observe(document, { childList: true, subtree: true })
})()`

/** The first row's time as the page marked it (waits for the mark). */
const markedFirstRow = async (page: Page): Promise<number> => {
  await page.waitForFunction(() => performance.getEntriesByName("bench:first-row").length > 0)
  return page.evaluate(() => performance.getEntriesByName("bench:first-row")[0]?.startTime ?? Number.NaN)
}

interface Breakdown {
  readonly line: string
  readonly emailsEnd: number
  readonly firstRow: number
}

/**
 * One visit's critical path from Navigation and Resource Timing: HTML, entry JS, the inbox chunk,
 * the session check, /emails (request start, ttfb, end), the first row, and the long tasks.
 */
const breakdown = async (page: Page): Promise<Breakdown> => {
  const data = await page.evaluate(() => {
    return JSON.stringify({
      entries: performance.getEntries(),
      longTasks: Reflect.get(globalThis, "__benchLongTasks") ?? []
    })
  })
  const parsed: unknown = JSON.parse(data)
  const entries: Array<unknown> = Array.isArray(Reflect.get(Object(parsed), "entries"))
    ? Reflect.get(Object(parsed), "entries")
    : []
  const longTasks: Array<unknown> = Array.isArray(Reflect.get(Object(parsed), "longTasks"))
    ? Reflect.get(Object(parsed), "longTasks")
    : []
  const ms = (value: number) => Math.round(value)
  const span = (entry: unknown) =>
    `${ms(entryNumber(entry, "startTime"))}->${ms(entryNumber(entry, "responseEnd"))} (req ${ms(entryNumber(entry, "requestStart"))}, ttfb ${ms(entryNumber(entry, "responseStart") - entryNumber(entry, "requestStart"))})`
  const resource = (test: (path: string) => boolean) =>
    entries.find(
      (entry) =>
        entryField(entry, "entryType") === "resource" && test(new URL(String(entryField(entry, "name"))).pathname)
    )
  const navigation = entries.find((entry) => entryField(entry, "entryType") === "navigation")
  const firstRowEntry = entries.find((entry) => entryField(entry, "name") === "bench:first-row")
  const entry = resource((path) => /^\/assets\/index-[\w-]+\.js$/.test(path))
  const inbox = resource((path) => /^\/assets\/InboxPage-[\w-]+\.js$/.test(path))
  const me = resource((path) => path === "/api/v1/auth/me")
  const emails = resource((path) => path === "/api/v1/emails")
  const accounts = entries.filter(
    (candidate) =>
      entryField(candidate, "entryType") === "resource" &&
      new URL(String(entryField(candidate, "name"))).pathname === "/api/v1/accounts"
  )
  const firstRow = entryNumber(firstRowEntry, "startTime")
  const emailsEnd = entryNumber(emails, "responseEnd")
  const parts = [
    `html ${navigation === undefined ? "?" : `${ms(entryNumber(navigation, "requestStart"))}->${ms(entryNumber(navigation, "responseEnd"))}`}`,
    `entry JS ${entry === undefined ? "?" : span(entry)}`,
    `inbox chunk ${inbox === undefined ? "?" : span(inbox)}`,
    `/auth/me ${me === undefined ? "?" : span(me)}`,
    `/emails ${emails === undefined ? "?" : span(emails)}`,
    `/accounts x${accounts.length}`,
    `first row ${ms(firstRow)} (${ms(firstRow - emailsEnd)} after /emails)`,
    `long tasks: ${
      longTasks.map((task) => `${ms(entryNumber(task, "start"))}+${ms(entryNumber(task, "duration"))}`).join(", ") ||
      "none"
    }`
  ]
  return { line: parts.join("; "), emailsEnd, firstRow }
}

/**
 * A visit's requests up to its first row from Resource Timing: how many, and for each script how long
 * it waited for a connection (requestStart - fetchStart; over HTTP/1.1 Chromium opens 6 per host).
 */
const requestWaits = async (page: Page): Promise<{ requests: number; maxWait: number; line: string }> => {
  const data = await page.evaluate(() => JSON.stringify(performance.getEntries()))
  const parsed: unknown = JSON.parse(data)
  const entries: Array<unknown> = Array.isArray(parsed) ? parsed : []
  const firstRow = entryNumber(
    entries.find((entry) => entryField(entry, "name") === "bench:first-row"),
    "startTime"
  )
  const resources = entries.filter(
    (entry) => entryField(entry, "entryType") === "resource" && entryNumber(entry, "startTime") < firstRow
  )
  const scripts = resources.filter((entry) => String(entryField(entry, "name")).endsWith(".js"))
  const waits = scripts.map((entry) => ({
    label: new URL(String(entryField(entry, "name"))).pathname.slice(8).replace(/-[\w-]{8}\./, "."),
    wait: entryNumber(entry, "requestStart") - entryNumber(entry, "fetchStart")
  }))
  return {
    requests: resources.length,
    maxWait: Math.max(0, ...waits.map((entry) => entry.wait)),
    line: waits.map((entry) => `${entry.label} ${Math.round(entry.wait)}`).join(", ")
  }
}

interface ProfileNode {
  readonly id: number
  readonly callFrame: {
    readonly functionName: string
    readonly url: string
    readonly lineNumber: number
    readonly columnNumber: number
  }
}

/**
 * Self time per function in a CPU profile between two instants given relative to the first row
 * (the window /emails end -> first row): the profile's clock is found by the marker function the
 * in-page observer runs at the first row.
 */
const profileWindow = (
  profile: {
    readonly nodes: ReadonlyArray<ProfileNode>
    readonly startTime: number
    readonly samples?: ReadonlyArray<number>
    readonly timeDeltas?: ReadonlyArray<number>
  },
  windowMs: number,
  sourceName: (url: string, line: number, column: number, fallback: string) => string
): string => {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]))
  const samples = profile.samples ?? []
  const deltas = profile.timeDeltas ?? []
  const times: Array<number> = []
  let now = profile.startTime
  for (const delta of deltas) {
    now += delta
    times.push(now)
  }
  const markerAt = samples.findIndex((id) => byId.get(id)?.callFrame.functionName === "benchFirstRowMarker")
  if (markerAt < 0) return "no marker sample in the profile"
  const end = times[markerAt] ?? 0
  const start = end - windowMs * 1000
  const self = new Map<string, number>()
  let total = 0
  for (let i = 0; i < samples.length; i++) {
    const at = times[i] ?? 0
    if (at < start || at > end) continue
    const width = ((times[i + 1] ?? at) - at) / 1000
    const node = byId.get(samples[i] ?? -1)
    if (node === undefined) continue
    const frame = node.callFrame
    const key =
      frame.url === ""
        ? frame.functionName
        : sourceName(frame.url, frame.lineNumber, frame.columnNumber, frame.functionName || "(anonymous)")
    self.set(key, (self.get(key) ?? 0) + width)
    total += width
  }
  const top = [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, 15)
  return [
    `${total.toFixed(1)} ms sampled in the ${windowMs.toFixed(0)} ms window; self time:`,
    ...top.map(([key, value]) => `      ${value.toFixed(1).padStart(6)} ms  ${key}`)
  ].join("\n")
}

/**
 * The web app built as `npm run build:web` does, plus hidden source maps (.map files beside the
 * assets, no sourceMappingURL in them: the scripts the browser runs are the same bytes), so the CPU
 * profile's functions are named by their source file and line.
 */
const buildWebWithMaps = (tree = "."): string => {
  const outDir = mkdtempSync(join(tmpdir(), "mh-webbench-"))
  const result = spawnSync(
    process.execPath,
    [
      "node_modules/vite/bin/vite.js",
      "build",
      "--config",
      join(tree, "web/vite.config.ts"),
      "--outDir",
      outDir,
      "--emptyOutDir",
      "--sourcemap",
      "hidden"
    ],
    { encoding: "utf8" }
  )
  if (result.status !== 0) throw new Error(`web build failed:\n${result.stdout}\n${result.stderr}`)
  return outDir
}

const base64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

/** A source map's mappings decoded: per generated line, [column, source, line, name?] segments. */
const decodeMappings = (mappings: string): Array<Array<ReadonlyArray<number>>> => {
  const lines: Array<Array<ReadonlyArray<number>>> = []
  const state = [0, 0, 0, 0, 0]
  for (const line of mappings.split(";")) {
    state[0] = 0
    const segments: Array<ReadonlyArray<number>> = []
    for (const segment of line.split(",")) {
      if (segment === "") continue
      const values: Array<number> = []
      let value = 0
      let shift = 0
      for (const char of segment) {
        const digit = base64.indexOf(char)
        value += (digit & 31) << shift
        if (digit & 32) shift += 5
        else {
          values.push(value & 1 ? -(value >>> 1) : value >>> 1)
          value = 0
          shift = 0
        }
      }
      values.forEach((delta, i) => {
        state[i] = (state[i] ?? 0) + delta
      })
      segments.push(state.slice(0, values.length))
    }
    lines.push(segments)
  }
  return lines
}

/** Names a profile's call frame by its original source (file:line and name) through the asset's .map. */
const makeSourceNamer = (distDir: string) => {
  const maps = new Map<
    string,
    { sources: Array<string>; names: Array<string>; lines: Array<Array<ReadonlyArray<number>>> } | null
  >()
  const load = (file: string) => {
    if (!maps.has(file)) {
      const path = join(distDir, "assets", `${file}.map`)
      if (!existsSync(path)) maps.set(file, null)
      else {
        const map: unknown = JSON.parse(readFileSync(path, "utf8"))
        const list = (key: string): Array<string> => {
          const value: unknown = Reflect.get(Object(map), key)
          return Array.isArray(value) ? value.map(String) : []
        }
        maps.set(file, {
          sources: list("sources"),
          names: list("names"),
          lines: decodeMappings(String(Reflect.get(Object(map), "mappings") ?? ""))
        })
      }
    }
    return maps.get(file) ?? null
  }
  return (url: string, line: number, column: number, fallback: string): string => {
    const file = url.split("/").pop() ?? ""
    const map = file.endsWith(".js") ? load(file) : null
    const segments = map?.lines[line] ?? []
    let found: ReadonlyArray<number> | undefined
    for (const segment of segments) {
      if ((segment[0] ?? 0) <= column) found = segment
      else break
    }
    if (map === null || found === undefined || found.length < 4) return `${fallback} ${file}:${line}:${column}`
    const source = (map.sources[found[1] ?? 0] ?? "?").replace(/^(\.\.\/)+/, "").replace(/^node_modules\//, "")
    const name = found.length >= 5 ? (map.names[found[4] ?? 0] ?? fallback) : fallback
    return `${name} ${source}:${(found[2] ?? 0) + 1}`
  }
}

const main = async () => {
  log("building the web app")
  const distDir = buildWebWithMaps()
  const sourceName = makeSourceNamer(distDir)
  cleanup(() => rmSync(distDir, { recursive: true, force: true }))
  const js = initialJsGzip(distDir)
  const env = await makeDrillEnv("webapp_bench", cleanup, { extraEnv: { WEB_DIST_DIR: distDir, LOG_LEVEL: "Warn" } })
  const { program: api, base } = await startApi(env.env)
  cleanup(() => api.stop())
  const dovecot = await startDovecot({ users: [{ user: "bench", pass: "bench-password" }] })
  cleanup(() => dovecot.stop())

  const email = `bench.${Date.now()}@webapp.example`
  const password = "bench webapp password 1"
  const cookie = await registerAndSignIn(base, email, password)
  const headers = { cookie, origin: base }
  log(`inserting ${messages} messages with their analysis`)
  const started = performance.now()
  await insertAnalysedMail({
    base,
    databaseUrl: env.databaseUrl,
    headers,
    dovecot,
    imapUser: "bench",
    imapPassword: "bench-password",
    messages
  })
  log(`inserted in ${((performance.now() - started) / 1000).toFixed(1)} s (with VACUUM ANALYZE)`)

  const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: chromiumArgs })
  cleanup(() => browser.close())
  const context = await browser.newContext({ locale: "en-GB", viewport: { width: 1280, height: 900 } })
  await context.addInitScript(inPageTiming)
  await signInContext(context, base, email, password)
  const page = await context.newPage()
  const cdp = await context.newCDPSession(page)
  await cdp.send("Performance.enable")
  const pageCpu = async () => {
    const { metrics } = await cdp.send("Performance.getMetrics")
    const metric = (name: string) => (metrics.find((entry) => entry.name === name)?.value ?? 0) * 1000
    return { task: metric("TaskDuration"), script: metric("ScriptDuration") }
  }
  const rawFetch = async (path: string) => {
    const t0 = performance.now()
    const answer = await request(base, "GET", path, { headers })
    if (answer.status !== 200) throw new Error(`${path}: ${answer.status} ${answer.text.slice(0, 200)}`)
    return { ms: performance.now() - t0, body: answer.body }
  }

  // the JavaScript the first inbox visit downloads (entry, shell and the inbox's lazy chunk)
  const firstVisitJs: Array<string> = []
  const onResponse = (response: { url: () => string }) => {
    const url = response.url()
    if (url.startsWith(base) && url.endsWith(".js")) firstVisitJs.push(new URL(url).pathname)
  }
  page.on("response", onResponse)

  // first inbox render: navigation -> the first row as the page marked it (inPageTiming); Playwright's
  // own figure (waitForSelector, then performance.now() read back) beside it
  const inbox: Array<number> = []
  const inboxPolled: Array<number> = []
  const inboxRows: Array<number> = []
  const inboxApi: Array<number> = []
  const inboxCpu: Array<{ task: number; script: number }> = []
  const inboxParts: Array<string> = []
  for (let i = 0; i < runs; i++) {
    await page.goto("about:blank")
    const cpu0 = await pageCpu()
    await page.goto(`${base}/`)
    await page.waitForSelector("[role=option][data-email-id]")
    inboxPolled.push(await page.evaluate(() => performance.now()))
    inbox.push(await markedFirstRow(page))
    const cpu1 = await pageCpu()
    inboxCpu.push({ task: cpu1.task - cpu0.task, script: cpu1.script - cpu0.script })
    if (i === 0 || i === runs - 1) {
      inboxParts.push(`${i === 0 ? "cold" : "warm"}: ${(await breakdown(page)).line}`)
      inboxParts.push(
        `  ${i === 0 ? "cold" : "warm"} resources: ${timeline(await page.evaluate(() => JSON.stringify(performance.getEntries())))}`
      )
    }
    inboxRows.push(await page.locator("[role=option][data-email-id]").count())
    inboxApi.push((await rawFetch("/api/v1/emails?sort=score&limit=50")).ms)
    if (i === 0) page.off("response", onResponse)
  }
  // a new browser (empty cache, new session) on the server that is now running: what a person's
  // first visit costs; the "cold" run above is also the API process's first /emails since it started
  const freshVisits: Array<number> = []
  const freshPolled: Array<number> = []
  const freshParts: Array<string> = []
  const newVisit = async (profiled: boolean) => {
    const fresh = await browser.newContext({ locale: "en-GB", viewport: { width: 1280, height: 900 } })
    if (profiled) await fresh.addInitScript("window.__benchProfiled = true")
    await fresh.addInitScript(inPageTiming)
    await signInContext(fresh, base, email, password)
    return { fresh, freshPage: await fresh.newPage() }
  }
  for (let i = 0; i < runs; i++) {
    const { fresh, freshPage } = await newVisit(false)
    await freshPage.goto(`${base}/`)
    await freshPage.waitForSelector("[role=option][data-email-id]")
    freshPolled.push(await freshPage.evaluate(() => performance.now()))
    freshVisits.push(await markedFirstRow(freshPage))
    freshParts.push((await breakdown(freshPage)).line)
    await fresh.close()
  }
  // A/B (BENCH_BASE_TREE=<a checkout of the base, e.g. a worktree of main>): the base's web build
  // served by the base's own API program on the same database, and new-browser visits to the two
  // interleaved (base, new, new, base, ...), after one uncounted visit each (an API's first /emails)
  const abLines: Array<string> = []
  const baseTree = process.env["BENCH_BASE_TREE"]
  if (baseTree !== undefined && baseTree !== "") {
    log(`A/B: building the base's web app from ${baseTree}`)
    const baseDist = buildWebWithMaps(baseTree)
    cleanup(() => rmSync(baseDist, { recursive: true, force: true }))
    const { program: baseApi, base: baseUrl } = await startApi(
      { ...env.env, WEB_DIST_DIR: baseDist },
      { name: "base-api", script: join(baseTree, "src/main/api.ts") }
    )
    cleanup(() => baseApi.stop())
    const abVisit = async (url: string) => {
      const fresh = await browser.newContext({ locale: "en-GB", viewport: { width: 1280, height: 900 } })
      await fresh.addInitScript(inPageTiming)
      await signInContext(fresh, url, email, password)
      const freshPage = await fresh.newPage()
      await freshPage.goto(`${url}/`)
      const firstRow = await markedFirstRow(freshPage)
      const waits = await requestWaits(freshPage)
      const parts = await breakdown(freshPage)
      await fresh.close()
      return { firstRow, waits, parts }
    }
    const variants = { base: baseUrl, new: base }
    const results: Record<keyof typeof variants, Array<Awaited<ReturnType<typeof abVisit>>>> = { base: [], new: [] }
    await abVisit(baseUrl)
    await abVisit(base)
    for (let i = 0; i < runs; i++) {
      const order: Array<keyof typeof variants> = i % 2 === 0 ? ["base", "new"] : ["new", "base"]
      for (const variant of order) results[variant].push(await abVisit(variants[variant]))
    }
    const baseJs = initialJsGzip(baseDist)
    abLines.push(
      `A/B new browser, interleaved, ${runs} each (base: ${baseTree}; initial JS base ${(baseJs.gzip / 1024).toFixed(1)} KB, new ${(js.gzip / 1024).toFixed(1)} KB gzip -9):`
    )
    for (const variant of ["base", "new"] as const) {
      const visits = results[variant]
      abLines.push(
        `  ${variant}: first row median ${fmt(median(visits.map((visit) => visit.firstRow)))} (${visits.map((visit) => fmt(visit.firstRow)).join(", ")}); requests before the first row median ${median(visits.map((visit) => visit.waits.requests))}; longest script wait for a connection median ${fmt(median(visits.map((visit) => visit.waits.maxWait)))}`
      )
      const first = visits[0]
      if (first !== undefined) {
        abLines.push(`    ${variant} visit 1 scripts, requestStart - fetchStart ms: ${first.waits.line}`)
        abLines.push(`    ${variant} visit 1: ${first.parts.line}`)
      }
    }
  }

  // one more new browser with the CPU profiler on (sampling every 100 us): what the main thread did
  // between the /emails answer and the first row, and over the whole visit
  let profileReport = ""
  {
    const { fresh, freshPage } = await newVisit(true)
    const profiler = await fresh.newCDPSession(freshPage)
    await profiler.send("Profiler.enable")
    await profiler.send("Profiler.setSamplingInterval", { interval: 100 })
    await profiler.send("Profiler.start")
    await freshPage.goto(`${base}/`)
    await markedFirstRow(freshPage)
    const { profile } = await profiler.send("Profiler.stop")
    const parts = await breakdown(freshPage)
    profileReport = [
      `profiled new browser: ${parts.line}`,
      `    /emails end -> first row: ${profileWindow(profile, parts.firstRow - parts.emailsEnd, sourceName)}`,
      `    navigation -> first row: ${profileWindow(profile, parts.firstRow, sourceName)}`
    ].join("\n")
    await fresh.close()
  }
  const firstVisit = [...new Set(firstVisitJs)].map((path) => readFileSync(join(distDir, path.replace(/^\//, ""))))
  const firstVisitGzip = firstVisit.reduce((sum, bytes) => sum + gzipSync(bytes, { level: 9 }).length, 0)

  // open a message (in-app navigation from the inbox)
  const open: Array<number> = []
  const openApi: Array<number> = []
  const openCpu: Array<{ task: number; script: number }> = []
  const apiCpuBefore = processCpu(api.pid)
  for (let i = 0; i < runs; i++) {
    await page.goto(`${base}/`)
    await page.waitForSelector("[role=option][data-email-id]")
    const row = page.locator("[role=option][data-email-id]").nth(i)
    const id = (await row.getAttribute("data-email-id")) ?? ""
    const cpu0 = await pageCpu()
    const t0 = performance.now()
    await row.click()
    await page.getByRole("heading", { name: "Analysis", exact: true }).waitFor()
    open.push(performance.now() - t0)
    const cpu1 = await pageCpu()
    openCpu.push({ task: cpu1.task - cpu0.task, script: cpu1.script - cpu0.script })
    openApi.push((await rawFetch(`/api/v1/emails/${id}`)).ms)
  }
  const apiCpuOpen = processCpu(api.pid) - apiCpuBefore

  // search round trip
  const words = ["invoice", "meeting", "parcel", "holiday", "agenda", "payment", "travel", "offers", "delivery"]
  const search: Array<number> = []
  const searchApi: Array<number> = []
  const searchCpu: Array<{ task: number; script: number }> = []
  await page.goto(`${base}/search`)
  for (let i = 0; i < runs; i++) {
    const word = words[i % words.length] ?? "invoice"
    await page.getByLabel("Search your mail").fill(word)
    await page.getByRole("radio", { name: "Words", exact: true }).check()
    const cpu0 = await pageCpu()
    const t0 = performance.now()
    await page.getByRole("button", { name: "Search", exact: true }).click()
    await page.waitForURL((url) => url.searchParams.get("q") === word)
    await page.locator(".search-hits li").first().waitFor()
    search.push(performance.now() - t0)
    const cpu1 = await pageCpu()
    searchCpu.push({ task: cpu1.task - cpu0.task, script: cpu1.script - cpu0.script })
    searchApi.push((await rawFetch(`/api/v1/search?q=${word}&mode=fulltext&limit=50`)).ms)
  }

  const lines = [
    "",
    `==== bench webapp: ${messages} messages, ${runs} runs each, Chromium headless ====`,
    `initial JS: ${js.scripts.join(", ")}: ${(js.raw / 1024).toFixed(1)} KB raw, ${(js.gzip / 1024).toFixed(1)} KB gzip -9 (aim < ${initialJsBudgetBytes / 1024} KB)`,
    `JS of the first inbox visit (${firstVisit.length} files): ${(firstVisit.reduce((sum, bytes) => sum + bytes.length, 0) / 1024).toFixed(1)} KB raw, ${(firstVisitGzip / 1024).toFixed(1)} KB gzip -9`,
    `first inbox render (navigation -> first row, marked in the page): cold ${fmt(inbox[0] ?? Number.NaN)}, warm median ${fmt(median(inbox.slice(1)))} (aim < 1000 ms); rows in the DOM: ${median(inboxRows)} of ${messages}`,
    `  as Playwright saw it (waitForSelector + evaluate): cold ${fmt(inboxPolled[0] ?? Number.NaN)}, warm median ${fmt(median(inboxPolled.slice(1)))}; new browser median ${fmt(median(freshPolled))}`,
    `  a new browser (empty cache) on the running server: median ${fmt(median(freshVisits))} (${freshVisits.map(fmt).join(", ")})`,
    ...freshParts.map((part, i) => `    new browser ${i + 1}: ${part}`),
    `  page main thread: cold ${fmt(inboxCpu[0]?.task ?? Number.NaN)} (script ${fmt(inboxCpu[0]?.script ?? Number.NaN)}), warm median ${fmt(median(inboxCpu.slice(1).map((c) => c.task)))} (script ${fmt(median(inboxCpu.slice(1).map((c) => c.script)))})`,
    ...inboxParts.map((part) => `  ${part}`),
    `  ${profileReport}`,
    ...abLines.map((line) => `  ${line}`),
    `  baseline GET /emails?sort=score&limit=50 (the first page) from Node: median ${fmt(median(inboxApi))}`,
    `open a message (click -> analysis shown): median ${fmt(median(open))}; page main thread median ${fmt(median(openCpu.map((c) => c.task)))} (script ${fmt(median(openCpu.map((c) => c.script)))})`,
    `  baseline GET /emails/:id from Node: median ${fmt(median(openApi))}; API process CPU over the ${runs} opens (page loads, inbox, message, similar): ${fmt(apiCpuOpen)}`,
    `search round trip (submit -> first hit): median ${fmt(median(search))}; page main thread median ${fmt(median(searchCpu.map((c) => c.task)))} (script ${fmt(median(searchCpu.map((c) => c.script)))})`,
    `  baseline GET /search?mode=fulltext from Node: median ${fmt(median(searchApi))}; ratio page/API ${(median(search) / median(searchApi)).toFixed(1)}`,
    ""
  ]
  process.stdout.write(lines.join("\n"))
}

main()
  .catch((error: unknown) => {
    process.stderr.write(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`)
    process.exitCode = 1
  })
  .finally(async () => {
    for (const task of tasks.reverse()) {
      try {
        await task()
      } catch (error) {
        log(`clean-up: ${String(error)}`)
      }
    }
  })
