/**
 * The inbox's first page (GET /api/v1/emails, priority order) from a just-started API process
 * (issue 16).
 *
 *   npx tsx bench/emailsFirstPage.ts [messages=10000] [restarts=5] [otherUsersMessages=10000]
 *
 * One user's `messages` messages with their analysis (and another user's mail beside them) are
 * inserted straight into a throw-away database, as bench/webapp.ts does (test/web/pagesSupport.ts). Then, `restarts` times, the
 * API program starts afresh and, with a session cookie made before, GET /emails is timed: the first
 * request after the start (cold: the pool's connections, the first plan of the statement, the code
 * paths run for the first time), then the second and third (warm), and the API process's CPU for
 * each (/proc/<pid>/stat; the machine is shared). Last, EXPLAIN (ANALYZE, BUFFERS) of the first page's
 * statement as the API runs it (the app role, row-level security on): the plan's top nodes, the rows
 * it read and whether it sorted.
 *
 * Look at: "first GET /emails" (median ms, and its CPU) against "second"/"third"; "plan" must show
 * an Index Scan on emails_priority_order under the Limit and no Sort node.
 */
import { readFileSync } from "node:fs"
import { log, makeDrillEnv, psql, registerAndSignIn, request, startApi } from "../scripts/drills/support.ts"
import { analyseMailTables, insertInboxMail } from "../test/web/pagesSupport.ts"
import { processCpu } from "./support/cpu.ts"
import { median } from "./support/stats.ts"

const messages = Number(process.argv[2] ?? 10_000)
const restarts = Number(process.argv[3] ?? 5)
const others = Number(process.argv[4] ?? 10_000)

const tasks: Array<() => unknown> = []
const cleanup = (task: () => unknown) => tasks.push(task)

/** The API program, with a start-up allowance for a loaded machine. */
const startLoadedApi = (env: Record<string, string>) => startApi(env, { timeoutMillis: 240_000 })

const loadAverage = () => readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ")

/** A mail account of the user (no server behind it) and `count` analysed messages in its INBOX. */
const insertMail = (databaseUrl: string, userId: string, count: number, label: string) => {
  const accountId = psql(
    databaseUrl,
    `INSERT INTO mail_accounts (user_id, label, host, port, security, username, password_sealed)
     VALUES ('${userId}', '${label}', 'imap.example.test', 993, 'tls', '${label}-${userId}', 'sealed')
     RETURNING id`
  )
  insertInboxMail(databaseUrl, { userId, accountId, messages: count, label })
}

const register = async (base: string, name: string) => {
  const email = `${name}.${Date.now()}@bench.example`
  const cookie = await registerAndSignIn(base, email, "bench first page password 1")
  return { email, cookie }
}

const main = async () => {
  const env = await makeDrillEnv("emails_first_page", cleanup, { extraEnv: { LOG_LEVEL: "Warn" } })
  const first = await startLoadedApi(env.env)
  const user = await register(first.base, "reader")
  const other = await register(first.base, "other")
  await first.program.stop()
  const idOf = (email: string) => psql(env.databaseUrl, `SELECT id FROM users WHERE email = '${email}'`)
  const userId = idOf(user.email)
  log(`inserting ${messages} messages (and ${others} of another user) with their analysis`)
  insertMail(env.databaseUrl, idOf(other.email), others, "other")
  insertMail(env.databaseUrl, userId, messages, "reader")
  analyseMailTables(env.databaseUrl)

  const path = "/api/v1/emails?sort=score&limit=50"
  const firstMs: Array<number> = []
  const secondMs: Array<number> = []
  const thirdMs: Array<number> = []
  const firstCpu: Array<number> = []
  const secondCpu: Array<number> = []
  const meMs: Array<number> = []
  const afterMeMs: Array<number> = []
  const afterMeCpu: Array<number> = []
  for (let i = 0; i < restarts; i++) {
    const { program, base } = await startLoadedApi(env.env)
    // the process settles (its start-up work done) before the first request
    await new Promise((resolve) => setTimeout(resolve, 1500))
    const timed = async (url = path) => {
      const cpu0 = processCpu(program.pid)
      const t0 = performance.now()
      const answer = await request(base, "GET", url, { headers: { cookie: user.cookie, origin: base } })
      const ms = performance.now() - t0
      if (answer.status !== 200) throw new Error(`${url}: ${answer.status} ${answer.text.slice(0, 200)}`)
      // the response is sent before the CPU is read: a short pause lets the process finish the request
      await new Promise((resolve) => setTimeout(resolve, 50))
      return { ms, cpu: processCpu(program.pid) - cpu0 }
    }
    // every other start asks for /auth/me first (the session, the pool), to tell those apart
    const me = i % 2 === 1 ? await timed("/api/v1/auth/me") : undefined
    if (me !== undefined) meMs.push(me.ms)
    const a = await timed()
    ;(me === undefined ? firstMs : afterMeMs).push(a.ms)
    ;(me === undefined ? firstCpu : afterMeCpu).push(a.cpu)
    const b = await timed()
    const c = await timed()
    firstMs.push(a.ms)
    secondMs.push(b.ms)
    thirdMs.push(c.ms)
    firstCpu.push(a.cpu)
    secondCpu.push(b.cpu)
    log(
      `start ${i + 1}: ${me === undefined ? "" : `/auth/me ${me.ms.toFixed(1)} ms (cpu ${me.cpu} ms), then `}first ${a.ms.toFixed(1)} ms (cpu ${a.cpu} ms), second ${b.ms.toFixed(1)} ms (cpu ${b.cpu} ms), third ${c.ms.toFixed(1)} ms; load ${loadAverage()}`
    )
    await program.stop()
  }
  console.log(`\nGET ${path} over ${messages} messages (+${others} of another user), ${restarts} fresh API processes`)
  console.log(`  first GET /emails   median ${median(firstMs).toFixed(1)} ms, API CPU median ${median(firstCpu)} ms`)
  console.log(
    `  first GET /emails after a GET /auth/me   median ${median(afterMeMs).toFixed(1)} ms, API CPU median ${median(afterMeCpu)} ms (/auth/me: ${median(meMs).toFixed(1)} ms)`
  )
  console.log(`  second              median ${median(secondMs).toFixed(1)} ms, API CPU median ${median(secondCpu)} ms`)
  console.log(`  third               median ${median(thirdMs).toFixed(1)} ms`)
  console.log(`  load average        ${loadAverage()}`)

  const explain = `BEGIN;
     SET LOCAL role mail_helper_app;
     SET LOCAL app.user_id = '${userId}';
     EXPLAIN (ANALYZE, BUFFERS, COSTS OFF)
     SELECT e.id, COALESCE(o.urgency, a.urgency) AS urgency, a.summary
     FROM emails e
     LEFT JOIN LATERAL (
       SELECT c.id, c.analysis_state, c.priority_score FROM emails c
       WHERE NOT e.canonical AND c.account_id = e.account_id AND c.message_key = e.message_key AND c.canonical
     ) cc ON true
     LEFT JOIN email_analysis a ON a.email_id = e.id
     LEFT JOIN email_overrides o ON o.email_id = e.id
     WHERE e.user_id = '${userId}' AND e.canonical
     ORDER BY e.priority_score DESC, e.mail_date DESC, e.id DESC
     LIMIT 51;
     COMMIT;`
  const plan = psql(env.databaseUrl, explain)
  console.log("\nplan of the first page (app role, row-level security):")
  console.log(plan)
  // the same page ordered by the score computed through the joins, as before the stored key (0071)
  const computed = "COALESCE(2 * COALESCE(o.urgency, a.urgency) + COALESCE(o.importance, a.importance), 0)"
  const before = psql(env.databaseUrl, explain.replace("e.priority_score DESC", `${computed} DESC`))
  console.log("\nthe same page ordered by the computed score (before migration 0071), for comparison:")
  console.log(before)
}

main()
  .catch((error: unknown) => {
    console.error(error)
    process.exitCode = 1
  })
  .finally(async () => {
    for (const task of tasks.reverse()) {
      try {
        await task()
      } catch (error) {
        console.error("cleanup:", error)
      }
    }
  })
