/**
 * The inbox's first page (GET /api/v1/emails, priority order) from a just-started API process
 * (issue 16).
 *
 *   npx tsx bench/emailsFirstPage.ts [messages=10000] [restarts=5] [otherUsersMessages=10000]
 *
 * One user's `messages` messages with their analysis (and another user's mail beside them) are
 * inserted straight into a throw-away database, as bench/webapp.ts does. Then, `restarts` times, the
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
import { freePort, log, makeDrillEnv, psql, request, startProgram } from "../scripts/drills/support.ts"

const messages = Number(process.argv[2] ?? 10_000)
const restarts = Number(process.argv[3] ?? 5)
const others = Number(process.argv[4] ?? 10_000)

const tasks: Array<() => unknown> = []
const cleanup = (task: () => unknown) => tasks.push(task)

const median = (values: ReadonlyArray<number>) => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN
}

/** User + system CPU of a process so far, in ms (Linux /proc). */
const processCpuMs = (pid: number): number => {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? []
  return ((Number(fields[11] ?? 0) + Number(fields[12] ?? 0)) * 1000) / 100
}

/** The API program (as startApi, with a start-up allowance for a loaded machine). */
const startApi = async (env: Record<string, string>) => {
  const port = await freePort()
  const program = await startProgram({
    script: "src/main/api.ts",
    name: "api",
    env: { LOG_FORMAT: "json", ...env, LOG_LEVEL: "Info", HOST: "127.0.0.1", PORT: String(port) },
    ready: (output) => output.includes(`Listening on http://127.0.0.1:${port}`),
    timeoutMillis: 240_000
  })
  return { program, base: `http://127.0.0.1:${port}` }
}

const loadAverage = () => readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ")

const insertMail = (databaseUrl: string, userId: string, count: number, label: string) =>
  psql(
    databaseUrl,
    `WITH account AS (
       INSERT INTO mail_accounts (user_id, label, host, port, security, username, password_sealed)
       VALUES ('${userId}', '${label}', 'imap.example.test', 993, 'tls', '${label}-${userId}', 'sealed')
       RETURNING id
     ), box AS (
       INSERT INTO mailboxes (user_id, account_id, path, name, delimiter, special_use, uid_validity)
       SELECT '${userId}', account.id, 'INBOX', 'INBOX', '/', 'inbox', 1 FROM account
       RETURNING id, account_id
     ), mail AS (
       INSERT INTO emails (user_id, account_id, mailbox_id, uid_validity, uid, message_id, thread_id, subject, from_name,
                           from_address, sent_at, received_at, seen, size, text_body, analysis_state, embedding_state)
       SELECT '${userId}', box.account_id, box.id, 1, n, '<${label}-' || n || '@bench.example>', 'thread-' || (n / 3),
              (ARRAY['Invoice', 'Meeting', 'Newsletter', 'Delivery', 'Password reset', 'Holiday'])[1 + n % 6] || ' ' || n,
              'Sender ' || (n % 97), 'sender' || (n % 97) || '@example.org',
              now() - make_interval(mins => n), now() - make_interval(mins => n), n % 4 = 0, 2000 + n % 5000,
              'Text of message ' || n, 'analysed', 'pending'
       FROM box, generate_series(1, ${count}) AS n
       RETURNING id, uid
     )
     INSERT INTO email_analysis (email_id, user_id, urgency, importance, category, spam, summary, tags, language, provider, model, confidence)
     SELECT id, '${userId}', 1 + uid % 3, 1 + (uid / 3) % 3,
            (ARRAY['finance', 'work', 'newsletter', 'shopping', 'security', 'travel'])[1 + uid % 6], false,
            'Summary of message ' || uid, ARRAY['bench'], 'en', 'bench', 'bench', 0.9
     FROM mail`
  )

const register = async (base: string, name: string) => {
  const email = `${name}.${Date.now()}@bench.example`
  const password = "bench first page password 1"
  const registered = await request(base, "POST", "/api/v1/auth/register", { json: { email, password } })
  if (registered.status !== 201) throw new Error(`register: ${registered.text}`)
  const login = await request(base, "POST", "/api/v1/auth/login", { json: { email, password } })
  const cookie = (login.headers.getSetCookie()[0] ?? "").split(";")[0] ?? ""
  return { email, cookie }
}

const main = async () => {
  const env = await makeDrillEnv("emails_first_page", cleanup, { extraEnv: { LOG_LEVEL: "Warn" } })
  const first = await startApi(env.env)
  const user = await register(first.base, "reader")
  const other = await register(first.base, "other")
  await first.program.stop()
  const idOf = (email: string) => psql(env.databaseUrl, `SELECT id FROM users WHERE email = '${email}'`)
  const userId = idOf(user.email)
  log(`inserting ${messages} messages (and ${others} of another user) with their analysis`)
  insertMail(env.databaseUrl, idOf(other.email), others, "other")
  insertMail(env.databaseUrl, userId, messages, "reader")
  psql(env.databaseUrl, "VACUUM ANALYZE emails")
  psql(env.databaseUrl, "VACUUM ANALYZE email_analysis")
  psql(env.databaseUrl, "VACUUM ANALYZE email_overrides")

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
    const { program, base } = await startApi(env.env)
    // the process settles (its start-up work done) before the first request
    await new Promise((resolve) => setTimeout(resolve, 1500))
    const timed = async (url = path) => {
      const cpu0 = processCpuMs(program.pid)
      const t0 = performance.now()
      const answer = await request(base, "GET", url, { headers: { cookie: user.cookie, origin: base } })
      const ms = performance.now() - t0
      if (answer.status !== 200) throw new Error(`${url}: ${answer.status} ${answer.text.slice(0, 200)}`)
      // the response is sent before the CPU is read: a short pause lets the process finish the request
      await new Promise((resolve) => setTimeout(resolve, 50))
      return { ms, cpu: processCpuMs(program.pid) - cpu0 }
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
