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
  psql,
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

/**
 * An IMAP account for the user (`headers`: their session cookie and Origin) and `messages` analysed
 * messages in its INBOX, inserted straight into the database (one INSERT ... SELECT from
 * generate_series; the search vector is filled by the table's trigger), then VACUUM ANALYZE.
 */
export const insertAnalysedMail = async (options: {
  readonly base: string
  readonly databaseUrl: string
  readonly headers: Record<string, string>
  readonly dovecot: { readonly host: string; readonly port: number }
  readonly imapUser: string
  readonly imapPassword: string
  readonly messages: number
}): Promise<{ readonly accountId: string; readonly userId: string }> => {
  const { base, databaseUrl, headers, dovecot, messages } = options
  const account = await request(base, "POST", "/api/v1/accounts", {
    json: {
      label: "bench",
      host: dovecot.host,
      port: dovecot.port,
      security: "none",
      username: options.imapUser,
      password: options.imapPassword,
      syncIntervalMinutes: null
    },
    headers
  })
  if (account.status !== 201) throw new Error(`account: ${account.text}`)
  const accountId = String(field(account.body, "id"))
  const userId = psql(databaseUrl, `SELECT user_id FROM mail_accounts WHERE id = '${accountId}'`)
  insertInboxMail(databaseUrl, { userId, accountId, messages, label: "bench" })
  analyseMailTables(databaseUrl)
  return { accountId, userId }
}

/**
 * An INBOX for the account and `messages` analysed messages in it (`<label>-<n>@bench.example`), one
 * INSERT ... SELECT from generate_series; the search vector is filled by the table's trigger.
 */
export const insertInboxMail = (
  databaseUrl: string,
  options: { readonly userId: string; readonly accountId: string; readonly messages: number; readonly label: string }
): void => {
  const { userId, accountId, messages, label } = options
  psql(
    databaseUrl,
    `WITH box AS (
       INSERT INTO mailboxes (user_id, account_id, path, name, delimiter, special_use, uid_validity, uid_next, last_uid, message_count)
       VALUES ('${userId}', '${accountId}', 'INBOX', 'INBOX', '/', 'inbox', 1, ${messages + 1}, ${messages}, ${messages})
       RETURNING id
     ), mail AS (
       INSERT INTO emails (user_id, account_id, mailbox_id, uid_validity, uid, message_id, thread_id, subject, from_name,
                           from_address, sent_at, received_at, seen, size, text_body, analysis_state, embedding_state)
       SELECT '${userId}', '${accountId}', box.id, 1, n, '<${label}-' || n || '@bench.example>', 'thread-' || (n / 3),
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
}

/**
 * Statistics as a database that has lived with this mail has them (autovacuum's analyse after the
 * sync): without them the planner expects ~15 rows and the list's joins become a nested loop over
 * 10,000 x 10,000 rows (seconds, not the query a user gets).
 */
export const analyseMailTables = (databaseUrl: string): void => {
  psql(databaseUrl, "VACUUM ANALYZE emails")
  psql(databaseUrl, "VACUUM ANALYZE email_analysis")
  psql(databaseUrl, "VACUUM ANALYZE email_overrides")
}

export { field, request }
