import { Schema } from "effect"
import { readFileSync } from "node:fs"
import type { Page } from "playwright-core"
import { afterAll, assert, beforeAll, describe, it } from "vitest"
import { type DovecotServer, startDovecot } from "../harness/dovecot.ts"
import { generateMessages } from "../harness/mailgen.ts"
import {
  type AxeViolationSummary,
  distIndex,
  inspectPage,
  newContext,
  screenshotDir,
  startWebStack,
  type WebStack
} from "./harness.ts"

/**
 * The web app in real Chromium against the real API and worker programs and a real Dovecot:
 * register, connect the account (a wrong password first: the server's answer is shown), sync with
 * live progress, the jobs page, cancelling a running job, tokens, admin, sign out. Every page is
 * screenshot at two sizes and checked by axe-core; the CSP is checked in the header, in the built
 * HTML, and by the browser itself (no violation reported while the whole flow runs).
 */

const imapUser = "webuser"
const imapPassword = "imap-Passw0rd-web"
const email = "web-user@example.org"
const password = "correct horse battery staple web"

let dovecot: DovecotServer | undefined
let stack: WebStack | undefined

const started = (): WebStack => {
  if (stack === undefined) throw new Error("the web stack did not start")
  return stack
}
const imap = (): DovecotServer => {
  if (dovecot === undefined) throw new Error("dovecot did not start")
  return dovecot
}

beforeAll(async () => {
  dovecot = await startDovecot({ users: [{ user: imapUser, pass: imapPassword }] })
  await dovecot.seedMaildir(
    imapUser,
    "INBOX",
    generateMessages(150, { seed: 16, domain: "web.test" }).map((message) => ({ raw: message.raw }))
  )
  stack = await startWebStack()
}, 180_000)

// everything is stopped even when a test (or the start itself) failed half-way
afterAll(async () => {
  try {
    await stack?.close()
  } finally {
    await dovecot?.stop()
    process.stderr.write(`web app screenshots: ${screenshotDir}\n`)
  }
}, 60_000)

/** What has the keyboard focus in the page. */
const Focused = Schema.Struct({ text: Schema.String, outline: Schema.String, id: Schema.String })

/** Inline `<script>` elements (a `src` attribute is the only allowed form) and `on...=` handlers. */
const inlineScripts = (html: string): ReadonlyArray<string> => [
  ...[...html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/gi)]
    .filter((match) => !/\bsrc\s*=/.test(match[1] ?? "") || (match[2] ?? "").trim() !== "")
    .map((match) => match[0]),
  ...[...html.matchAll(/<[^>]+\son[a-z]+\s*=/gi)].map((match) => match[0])
]

describe("web app in Chromium", () => {
  it("serves the HTML with a strict CSP, and the build has no inline script", async () => {
    const { base } = started()
    const response = await fetch(`${base}/`)
    assert.strictEqual(response.status, 200)
    const csp = response.headers.get("content-security-policy") ?? ""
    for (const directive of ["script-src 'self'", "connect-src 'self'", "frame-ancestors 'none'"]) {
      assert.include(csp, directive, csp)
    }
    // scripts and styles only from the app's own files
    const scriptSrc = csp.split(";").find((directive) => directive.trim().startsWith("script-src")) ?? ""
    assert.strictEqual(scriptSrc.trim(), "script-src 'self'")
    const styleSrc = csp.split(";").find((directive) => directive.trim().startsWith("style-src")) ?? ""
    assert.strictEqual(styleSrc.trim(), "style-src 'self'")
    assert.notInclude(csp, "unsafe-eval")
    const built = readFileSync(distIndex, "utf8")
    assert.deepStrictEqual(inlineScripts(built), [], "inline script in dist/web/index.html")
    assert.deepStrictEqual(inlineScripts(await response.text()), [], "inline script in the served HTML")
    // the check itself sees an inline script
    assert.lengthOf(inlineScripts(`<script>alert(1)</script><img src=x onerror="x()">`), 2)
  })

  it("picks German from the browser, and the switch changes it", async () => {
    const context = await newContext(started(), "de-DE")
    try {
      const page = await context.newPage()
      await page.goto("/sign-in")
      await page.getByRole("heading", { name: "Anmelden" }).waitFor()
      assert.strictEqual(await page.getAttribute("html", "lang"), "de")
      await page.getByLabel("Sprache").selectOption("en")
      await page.getByRole("heading", { name: "Sign in" }).waitFor()
      await page.reload()
      await page.getByRole("heading", { name: "Sign in" }).waitFor()
    } finally {
      await context.close()
    }
  })

  it("works from the keyboard: skip link first, visible focus, a form submitted with Enter", async () => {
    const context = await newContext(started())
    try {
      const page = await context.newPage()
      await page.goto("/sign-in")
      await page.getByRole("heading", { name: "Sign in" }).waitFor()
      await page.keyboard.press("Tab")
      // runs in the page; written as a string because this file is type-checked without the DOM library
      const focused = async () =>
        Schema.decodeUnknownSync(Focused)(
          await page.evaluate(`(() => {
            const element = document.activeElement
            if (element === null) return { text: "", outline: "none", id: "" }
            return { text: element.textContent ?? "", outline: getComputedStyle(element).outlineStyle, id: element.id }
          })()`)
        )
      const skip = await focused()
      assert.strictEqual(skip.text, "Skip to content")
      assert.notStrictEqual(skip.outline, "none", "the focused element shows an outline")
      await page.keyboard.press("Enter")
      assert.strictEqual((await focused()).id, "main")
      // on through the page to the email field, then type and submit without a pointer
      for (let step = 0; step < 10 && (await focused()).id !== "sign-in-email"; step++) await page.keyboard.press("Tab")
      assert.strictEqual((await focused()).id, "sign-in-email")
      await page.keyboard.type("nobody@example.org")
      await page.keyboard.press("Tab")
      assert.strictEqual((await focused()).id, "sign-in-password")
      assert.notStrictEqual((await focused()).outline, "none")
      await page.keyboard.type("not the password at all")
      await page.keyboard.press("Enter")
      await page.getByRole("alert").getByText("Sign-in failed.").waitFor()
    } finally {
      await context.close()
    }
  })

  it("register, connect (wrong password first), sync with progress, jobs, cancel, tokens, admin, sign out", async () => {
    const context = await newContext(started())
    const violations: Array<AxeViolationSummary & { page: string }> = []
    const cspReports: Array<string> = []
    const check = async (page: Page, name: string) => {
      for (const violation of await inspectPage(page, name)) violations.push({ ...violation, page: name })
    }
    const page = await context.newPage()
    try {
      page.on("console", (message) => {
        if (/content security policy/i.test(message.text())) cspReports.push(message.text())
      })

      // signed out: any app page leads to sign-in, remembering where it was going
      await page.goto("/jobs")
      await page.waitForURL(/\/sign-in\?next=%2Fjobs$/)
      await page.getByRole("heading", { name: "Sign in" }).waitFor()
      await check(page, "sign-in")

      await page.getByRole("link", { name: "Register" }).click()
      await page.getByRole("heading", { name: "Register" }).waitFor()
      await check(page, "register")
      await page.getByLabel("Email").fill(email)
      await page.getByLabel("Password").fill(password)
      await page.getByRole("button", { name: "Create account" }).click()

      // signed in, on the accounts page, which says what to do next
      await page.waitForURL(/\/accounts$/)
      await page.getByRole("heading", { name: "No mail account connected yet" }).waitFor()
      await check(page, "accounts-empty")

      const form = page.locator("form", { has: page.getByRole("button", { name: "Connect account" }) })
      await form.getByLabel("Name of the account").fill("Test mailbox")
      await form.getByLabel("IMAP server").fill(imap().host)
      await form.getByLabel("Connection security").selectOption("none")
      await form.getByLabel("Port").fill(String(imap().port))
      await form.getByLabel("Login name").fill(imapUser)
      await form.getByLabel("Password").fill("not-the-password")
      await form.getByRole("button", { name: "Connect account" }).click()
      const refusal = page.getByRole("alert")
      await refusal.getByText("The mail server did not accept the login").waitFor()
      // Dovecot's own words, as the API passed them on
      assert.match((await refusal.locator(".server-answer").textContent()) ?? "", /authentication failed/i)
      await check(page, "accounts-connect-refused")

      await form.getByLabel("Password").fill(imapPassword)
      await form.getByRole("button", { name: "Connect account" }).click()
      await page.getByText("Connected Test mailbox.").waitFor()

      // sync now: the row follows the job's event stream to the end
      await page.getByRole("button", { name: "Sync now: Test mailbox" }).click()
      const progress = page.getByRole("status", { name: "Sync progress" })
      await progress.locator('[data-state="succeeded"]').waitFor({ timeout: 90_000 })
      assert.match((await progress.textContent()) ?? "", /\d+ of \d+/)
      await page
        .getByRole("cell", { name: /active/ })
        .first()
        .waitFor()
      await check(page, "accounts")

      await page.getByRole("link", { name: "Details and settings of Test mailbox" }).click()
      await page.getByRole("heading", { name: "Test mailbox" }).waitFor()
      await page.getByRole("cell", { name: "INBOX" }).waitFor()
      await page.getByRole("cell", { name: "150" }).first().waitFor()
      await check(page, "account-detail")

      // the jobs page lists the sync
      await page.getByRole("link", { name: "Jobs", exact: true }).click()
      await page.locator('tr[data-state="succeeded"]', { hasText: "mail.sync" }).first().waitFor()

      // a job that runs long enough to be cancelled from the page
      const jobId = await page.evaluate(async () => {
        const response = await fetch("/api/v1/debug/ping", {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ sleepMillis: 25_000, steps: 25 })
        })
        const body: unknown = await response.json()
        return typeof body === "object" && body !== null && "jobId" in body ? String(body.jobId) : `${response.status}`
      })
      const row = page.locator(`tr[data-job-id="${jobId}"]`)
      await row.waitFor({ timeout: 15_000 })
      await page.locator(`tr[data-job-id="${jobId}"][data-state="running"]`).waitFor({ timeout: 30_000 })
      await check(page, "jobs")
      await row.getByRole("button", { name: /^Cancel job debug\.ping/ }).click()
      await page.locator(`tr[data-job-id="${jobId}"][data-state="cancelled"]`).waitFor({ timeout: 30_000 })

      // tokens: the secret is shown once
      await page.getByRole("link", { name: "Sessions & tokens" }).click()
      await page.getByText("No API tokens yet").waitFor()
      await page.getByLabel("Name", { exact: true }).fill("backup script")
      await page.getByRole("button", { name: "Create token" }).click()
      const secret = await page.getByLabel("New token").inputValue()
      assert.match(secret, /^mh_/)
      await page.getByRole("cell", { name: "backup script", exact: true }).waitFor()

      // signed-in browsers: this one, and a second sign-in (another program) that can be ended here
      const browsers = page.getByRole("table").filter({ has: page.getByRole("columnheader", { name: "Browser" }) })
      await browsers.getByText("this browser").waitFor()
      const other = await fetch(`${started().base}/api/v1/auth/login`, {
        method: "POST",
        headers: { "content-type": "application/json", origin: started().base, "user-agent": "curl/8.5.0" },
        body: JSON.stringify({ email, password })
      })
      assert.strictEqual(other.status, 200)
      const otherCookie = (other.headers.getSetCookie()[0] ?? "").split(";")[0] ?? ""
      const otherMe = () =>
        fetch(`${started().base}/api/v1/auth/me`, { headers: { cookie: otherCookie } }).then((r) => r.status)
      assert.strictEqual(await otherMe(), 200)
      await page.reload()
      const endOther = page.getByRole("button", { name: /^Sign out the session of curl\/8\.5\.0/ })
      await endOther.waitFor()
      await check(page, "sessions")
      page.once("dialog", (dialog) => void dialog.accept())
      await endOther.click()
      await endOther.waitFor({ state: "detached" })
      assert.strictEqual(await otherMe(), 401, "the ended session no longer works")
      assert.strictEqual(await browsers.locator("tbody tr").count(), 1)

      // the first user of an open installation is its administrator
      await page.getByRole("link", { name: "Admin" }).click()
      await page.getByRole("cell", { name: email, exact: true }).waitFor()
      await page.getByRole("cell", { name: "mail.sync", exact: true }).waitFor()
      // an invite is listed (never its code) and can be revoked; its code then registers nobody
      await page.getByRole("button", { name: "Create invite" }).click()
      const code = (await page.locator(".notice .secret").first().textContent()) ?? ""
      assert.match(code, /^mhi_/)
      const inviteRow = page.locator("tr[data-invite-id]").first()
      await inviteRow.getByRole("cell", { name: "open", exact: true }).waitFor()
      assert.notInclude((await page.locator("table").last().textContent()) ?? "", code)
      await check(page, "admin")
      page.once("dialog", (dialog) => void dialog.accept())
      await inviteRow.getByRole("button", { name: /^Revoke the invite/ }).click()
      await inviteRow.getByRole("cell", { name: "revoked", exact: true }).waitFor()

      // the other pages of the app (inbox, priorities, search, rules), and an unknown address
      for (const [path, name] of [
        ["/", "inbox"],
        ["/matrix", "matrix"],
        ["/search", "search"],
        ["/rules", "rules"],
        ["/rules/new", "rule-new"],
        ["/no-such-page", "not-found"]
      ] as const) {
        await page.goto(path)
        await page.locator("main h1").first().waitFor()
        await check(page, name)
      }

      // sign out ends the session on the server too
      await page.getByRole("button", { name: "Sign out" }).first().click()
      await page.waitForURL(/\/sign-in/)
      const me = await page.evaluate(async () => (await fetch("/api/v1/auth/me")).status)
      assert.strictEqual(me, 401)
      await page.goto("/accounts")
      await page.waitForURL(/\/sign-in\?next=%2Faccounts$/)
    } catch (error) {
      // what the page showed when the flow broke (a failed screenshot must not hide the failure itself)
      await page.screenshot({ path: `${screenshotDir}/failure.png`, fullPage: true }).catch(() => undefined)
      const shown = await page
        .locator("main")
        // biome-ignore lint/performance/useDomNodeTextContent: the text as laid out is what a person saw
        .innerText()
        .catch(() => "(no main)")
      throw new Error(`${String(error)}\n--- ${page.url()} showed:\n${shown}`, { cause: error })
    } finally {
      await context.close()
    }
    assert.deepStrictEqual(cspReports, [], "the browser reported CSP violations")
    assert.deepStrictEqual(violations, [], "axe-core: serious or critical violations")
  }, 360_000)
})
