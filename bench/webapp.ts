/**
 * The web app's mail pages in Chromium over 10,000 messages.
 *
 *   npx tsx bench/webapp.ts [messages=10000] [runs=7]
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
import { readFileSync, rmSync } from "node:fs"
import { join } from "node:path"
import { gzipSync } from "node:zlib"
import { chromium } from "playwright-core"
import { field, log, makeDrillEnv, psql, request, startApi } from "../scripts/drills/support.ts"
import { startDovecot } from "../test/harness/dovecot.ts"
import { buildWeb, chromiumArgs, signInContext } from "../test/web/pagesSupport.ts"

const messages = Number(process.argv[2] ?? 10_000)
const runs = Number(process.argv[3] ?? 7)

const tasks: Array<() => unknown> = []
const cleanup = (task: () => unknown) => tasks.push(task)

const median = (values: ReadonlyArray<number>) => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN
}
const fmt = (ms: number) => `${ms.toFixed(1)} ms`

/** User + system CPU of a process so far, in ms (Linux /proc). */
const processCpuMs = (pid: number): number => {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? []
  const ticks = Number(fields[11] ?? 0) + Number(fields[12] ?? 0)
  return (ticks * 1000) / 100
}

const initialJsGzip = (distDir: string) => {
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

const main = async () => {
  log("building the web app")
  const distDir = buildWeb()
  cleanup(() => rmSync(distDir, { recursive: true, force: true }))
  const js = initialJsGzip(distDir)
  const env = await makeDrillEnv("webapp_bench", cleanup, { extraEnv: { WEB_DIST_DIR: distDir, LOG_LEVEL: "Warn" } })
  const { program: api, base } = await startApi(env.env)
  cleanup(() => api.stop())
  const dovecot = await startDovecot({ users: [{ user: "bench", pass: "bench-password" }] })
  cleanup(() => dovecot.stop())

  const email = `bench.${Date.now()}@webapp.example`
  const password = "bench webapp password 1"
  const registered = await request(base, "POST", "/api/v1/auth/register", { json: { email, password } })
  if (registered.status !== 201) throw new Error(`register: ${registered.text}`)
  const login = await request(base, "POST", "/api/v1/auth/login", { json: { email, password } })
  const cookie = (login.headers.getSetCookie()[0] ?? "").split(";")[0] ?? ""
  const headers = { cookie, origin: base }
  const account = await request(base, "POST", "/api/v1/accounts", {
    json: {
      label: "bench",
      host: dovecot.host,
      port: dovecot.port,
      security: "none",
      username: "bench",
      password: "bench-password",
      syncIntervalMinutes: null
    },
    headers
  })
  if (account.status !== 201) throw new Error(`account: ${account.text}`)
  const accountId = String(field(account.body, "id"))
  const userId = psql(env.databaseUrl, `SELECT user_id FROM mail_accounts WHERE id = '${accountId}'`)

  log(`inserting ${messages} messages with their analysis`)
  const started = performance.now()
  psql(
    env.databaseUrl,
    `WITH box AS (
       INSERT INTO mailboxes (user_id, account_id, path, name, delimiter, special_use, uid_validity, uid_next, last_uid, message_count)
       VALUES ('${userId}', '${accountId}', 'INBOX', 'INBOX', '/', 'inbox', 1, ${messages + 1}, ${messages}, ${messages})
       RETURNING id
     ), mail AS (
       INSERT INTO emails (user_id, account_id, mailbox_id, uid_validity, uid, message_id, thread_id, subject, from_name,
                           from_address, sent_at, received_at, seen, size, text_body, analysis_state, embedding_state)
       SELECT '${userId}', '${accountId}', box.id, 1, n, '<bench-' || n || '@webapp.example>', 'thread-' || (n / 3),
              (ARRAY['Invoice', 'Meeting', 'Newsletter', 'Delivery', 'Password reset', 'Holiday'])[1 + n % 6] || ' ' || n,
              'Sender ' || (n % 97), 'sender' || (n % 97) || '@example.org',
              now() - make_interval(mins => n), now() - make_interval(mins => n), n % 4 = 0, 2000 + n % 5000,
              'Text of message ' || n || ' about ' || (ARRAY['payment', 'agenda', 'offers', 'parcel', 'account', 'travel'])[1 + n % 6],
              'analysed', 'pending'
       FROM box, generate_series(1, ${messages}) AS n
       RETURNING id, uid
     )
     INSERT INTO email_analysis (email_id, user_id, urgency, importance, category, spam, summary, tags, language, provider, model, confidence)
     SELECT id, '${userId}', 1 + uid % 3, 1 + (uid / 3) % 3,
            (ARRAY['finance', 'work', 'newsletter', 'shopping', 'security', 'travel'])[1 + uid % 6], false,
            'Summary of message ' || uid, ARRAY['bench'], 'en', 'bench', 'bench', 0.9
     FROM mail`
  )
  // statistics as a database that has lived with this mail has them (autovacuum's analyse after the
  // sync): without them the planner expects ~15 rows and the list's joins become a nested loop over
  // 10,000 x 10,000 rows (seconds, not the query a user gets)
  psql(env.databaseUrl, "VACUUM ANALYZE emails")
  psql(env.databaseUrl, "VACUUM ANALYZE email_analysis")
  psql(env.databaseUrl, "VACUUM ANALYZE email_overrides")
  log(`inserted in ${((performance.now() - started) / 1000).toFixed(1)} s (with VACUUM ANALYZE)`)

  const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: chromiumArgs })
  cleanup(() => browser.close())
  const context = await browser.newContext({ locale: "en-GB", viewport: { width: 1280, height: 900 } })
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

  // first inbox render
  const inbox: Array<number> = []
  const inboxRows: Array<number> = []
  const inboxApi: Array<number> = []
  const inboxCpu: Array<{ task: number; script: number }> = []
  const inboxParts: Array<string> = []
  for (let i = 0; i < runs; i++) {
    await page.goto("about:blank")
    const cpu0 = await pageCpu()
    await page.goto(`${base}/`)
    await page.waitForSelector("[role=option][data-email-id]")
    inbox.push(await page.evaluate(() => performance.now()))
    const cpu1 = await pageCpu()
    inboxCpu.push({ task: cpu1.task - cpu0.task, script: cpu1.script - cpu0.script })
    if (i === 0 || i === runs - 1)
      inboxParts.push(
        `${i === 0 ? "cold" : "warm"}: ${timeline(await page.evaluate(() => JSON.stringify(performance.getEntries())))}`
      )
    inboxRows.push(await page.locator("[role=option][data-email-id]").count())
    inboxApi.push((await rawFetch("/api/v1/emails?sort=score&limit=100")).ms)
    if (i === 0) page.off("response", onResponse)
  }
  // a new browser (empty cache, new session) on the server that is now running: what a person's
  // first visit costs; the "cold" run above is also the API process's first /emails since it started
  const freshVisits: Array<number> = []
  for (let i = 0; i < runs; i++) {
    const fresh = await browser.newContext({ locale: "en-GB", viewport: { width: 1280, height: 900 } })
    await signInContext(fresh, base, email, password)
    const freshPage = await fresh.newPage()
    await freshPage.goto(`${base}/`)
    await freshPage.waitForSelector("[role=option][data-email-id]")
    freshVisits.push(await freshPage.evaluate(() => performance.now()))
    await fresh.close()
  }
  const firstVisit = [...new Set(firstVisitJs)].map((path) => readFileSync(join(distDir, path.replace(/^\//, ""))))
  const firstVisitGzip = firstVisit.reduce((sum, bytes) => sum + gzipSync(bytes, { level: 9 }).length, 0)

  // open a message (in-app navigation from the inbox)
  const open: Array<number> = []
  const openApi: Array<number> = []
  const openCpu: Array<{ task: number; script: number }> = []
  const apiCpuBefore = processCpuMs(api.pid)
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
  const apiCpuOpen = processCpuMs(api.pid) - apiCpuBefore

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
    `initial JS: ${js.scripts.join(", ")}: ${(js.raw / 1024).toFixed(1)} KB raw, ${(js.gzip / 1024).toFixed(1)} KB gzip -9 (aim < 200 KB)`,
    `JS of the first inbox visit (${firstVisit.length} files): ${(firstVisit.reduce((sum, bytes) => sum + bytes.length, 0) / 1024).toFixed(1)} KB raw, ${(firstVisitGzip / 1024).toFixed(1)} KB gzip -9`,
    `first inbox render (navigation -> first row): cold ${fmt(inbox[0] ?? Number.NaN)}, warm median ${fmt(median(inbox.slice(1)))} (aim < 1000 ms); rows in the DOM: ${median(inboxRows)} of ${messages}`,
    `  a new browser (empty cache) on the running server: median ${fmt(median(freshVisits))} (${freshVisits.map(fmt).join(", ")})`,
    `  page main thread: cold ${fmt(inboxCpu[0]?.task ?? Number.NaN)} (script ${fmt(inboxCpu[0]?.script ?? Number.NaN)}), warm median ${fmt(median(inboxCpu.slice(1).map((c) => c.task)))} (script ${fmt(median(inboxCpu.slice(1).map((c) => c.script)))})`,
    ...inboxParts.map((part) => `  ${part}`),
    `  baseline GET /emails?sort=score&limit=100 from Node: median ${fmt(median(inboxApi))}`,
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
