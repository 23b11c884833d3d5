/**
 * Drill: load test, DRILL_USERS concurrent simulated users for DRILL_SECONDS (npm run drill:load).
 *
 * Setup: an API and two workers over a throw-away database, a throw-away Dovecot with
 * DRILL_MAIL_USERS mailboxes of DRILL_MAIL_MESSAGES messages each, one application user per
 * mailbox with its account synced and analysed. The simulated users are spread over those
 * application users; half authenticate with the session cookie (checked in Redis), half with a
 * bearer token (checked in PostgreSQL). Each one loops: a weighted random request, then a
 * think time of DRILL_THINK_MS (±50 %). The mix:
 *
 *   me 14, accounts 5, jobs 10, emails 20, email 14, search-fulltext 8, search-hybrid 7,
 *   ping (POST /debug/ping) 10, sync (POST /accounts/:id/sync) 5, reprocess (POST /emails/:id/reprocess) 7
 *
 * Reported per request kind: count, errors, p50/p95/p99/max latency (ms, measured by the client,
 * which shares the machine with the servers). Checks: no 5xx and no connection error, errors
 * under 1 %, every accepted job finishes, the programs stay up and ready.
 *
 *   DRILL_USERS 200, DRILL_SECONDS 30, DRILL_THINK_MS 500, DRILL_MAIL_USERS 10, DRILL_MAIL_MESSAGES 150
 */
import { randomBytes } from "node:crypto"
import { availableParallelism } from "node:os"
import { startDovecot } from "../../test/harness/dovecot.ts"
import { generateMessages } from "../../test/harness/mailgen.ts"
import {
  countBy,
  cpuByCommand,
  cpuSeconds,
  envNumber,
  field,
  formatCounts,
  items,
  Latencies,
  log,
  machineCpu,
  makeDrillEnv,
  psql,
  request,
  runDrill,
  settleJobs,
  sleep,
  startApiAndWorkers,
  waitUntil
} from "./support.ts"

interface Owner {
  readonly token: string
  readonly email: string
  readonly password: string
  readonly accountId: string
  readonly emailIds: ReadonlyArray<string>
}

interface VirtualUser {
  readonly owner: Owner
  readonly headers: Record<string, string>
}

type Kind =
  | "me"
  | "accounts"
  | "jobs"
  | "emails"
  | "email"
  | "search-fulltext"
  | "search-hybrid"
  | "ping"
  | "sync"
  | "reprocess"

const mix: ReadonlyArray<readonly [Kind, number]> = [
  ["me", 14],
  ["accounts", 5],
  ["jobs", 10],
  ["emails", 20],
  ["email", 14],
  ["search-fulltext", 8],
  ["search-hybrid", 7],
  ["ping", 10],
  ["sync", 5],
  ["reprocess", 7]
]
const mixTotal = mix.reduce((sum, [, weight]) => sum + weight, 0)

const pick = <A>(list: ReadonlyArray<A>): A => {
  const value = list[Math.floor(Math.random() * list.length)]
  if (value === undefined) throw new Error("empty list")
  return value
}

const pickKind = (): Kind => {
  let roll = Math.random() * mixTotal
  for (const [kind, weight] of mix) {
    roll -= weight
    if (roll < 0) return kind
  }
  return "me"
}

await runDrill("load", 600, async (report, cleanup) => {
  const users = envNumber("DRILL_USERS", 200)
  const seconds = envNumber("DRILL_SECONDS", 30)
  const thinkMillis = envNumber("DRILL_THINK_MS", 500)
  const mailUsers = envNumber("DRILL_MAIL_USERS", 10)
  const mailMessages = envNumber("DRILL_MAIL_MESSAGES", 150)

  const env = await makeDrillEnv("load", cleanup, { extraEnv: { LOG_LEVEL: "Warn" } })
  const imapPassword = "drill-imap-password"
  const mailboxes = Array.from({ length: mailUsers }, (_, index) => `load${index}`)
  const dovecot = await startDovecot({ users: mailboxes.map((user) => ({ user, pass: imapPassword })) })
  cleanup(() => dovecot.stop())
  const subjects: Array<string> = []
  for (const [index, user] of mailboxes.entries()) {
    const generated = generateMessages(mailMessages, { seed: 100 + index, domain: `load${index}.test` })
    subjects.push(...generated.map((message) => message.subject))
    await dovecot.seedMaildir(
      user,
      "INBOX",
      generated.map((message) => ({ raw: message.raw }))
    )
  }
  // search terms: words that occur in the subjects
  const words = [...countBy(subjects.flatMap((subject) => subject.toLowerCase().match(/\p{L}{5,}/gu) ?? []))]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 40)
    .map(([word]) => word)

  const { api, base, workers } = await startApiAndWorkers(env, cleanup)

  // --- application users, each with a synced account -------------------------------------------
  log(`setting up ${mailUsers} users with ${mailMessages} messages each`)
  const owners: Array<Owner> = []
  for (const mailbox of mailboxes) {
    const email = `${mailbox}.${randomBytes(3).toString("hex")}@drill.example`
    const password = `load ${randomBytes(9).toString("base64url")}`
    const registered = await request(base, "POST", "/api/v1/auth/register", { json: { email, password } })
    if (registered.status !== 201) throw new Error(`register: ${registered.status} ${registered.text}`)
    const signedIn = await request(base, "POST", "/api/v1/auth/login", { json: { email, password } })
    const cookie = (signedIn.headers.getSetCookie()[0] ?? "").split(";")[0] ?? ""
    const token = await request(base, "POST", "/api/v1/auth/tokens", {
      json: { name: "load" },
      headers: { cookie, origin: base }
    })
    if (token.status !== 201) throw new Error(`token: ${token.status} ${token.text}`)
    const bearer = { authorization: `Bearer ${String(field(token.body, "token"))}` }
    const account = await request(base, "POST", "/api/v1/accounts", {
      json: {
        label: mailbox,
        host: dovecot.host,
        port: dovecot.port,
        security: "none",
        username: mailbox,
        password: imapPassword,
        syncIntervalMinutes: null
      },
      headers: bearer
    })
    if (account.status !== 201) throw new Error(`account: ${account.status} ${account.text}`)
    const accountId = String(field(account.body, "id"))
    const sync = await request(base, "POST", `/api/v1/accounts/${accountId}/sync`, { headers: bearer })
    if (sync.status !== 202) throw new Error(`sync: ${sync.status} ${sync.text}`)
    owners.push({ token: String(field(token.body, "token")), email, password, accountId, emailIds: [] })
  }
  const settled = await waitUntil(
    () =>
      psql(env.databaseUrl, "SELECT count(*) FROM jobs WHERE state NOT IN ('succeeded','failed','cancelled')") === "0"
        ? true
        : undefined,
    240_000,
    500
  )
  report.check("setup: every sync, analysis, embedding and search.index job finished before the load", settled === true)
  for (const [index, owner] of owners.entries()) {
    const list = await request(base, "GET", "/api/v1/emails?limit=100", {
      headers: { authorization: `Bearer ${owner.token}` }
    })
    owners[index] = { ...owner, emailIds: items(list.body).map((item) => String(field(item, "id"))) }
  }
  const stored = Number(psql(env.databaseUrl, "SELECT count(*) FROM emails"))
  report.check("setup: every message stored", stored === mailUsers * mailMessages, `${stored} stored`)

  // --- simulated users: half by session cookie, half by bearer token ----------------------------
  log(`signing in ${users} simulated users`)
  const virtualUsers: Array<VirtualUser> = []
  for (let index = 0; index < users; index++) {
    const owner = owners[index % owners.length]
    if (owner === undefined) throw new Error("no owners")
    if (index % 2 === 0) {
      virtualUsers.push({ owner, headers: { authorization: `Bearer ${owner.token}` } })
    } else {
      const signedIn = await request(base, "POST", "/api/v1/auth/login", {
        json: { email: owner.email, password: owner.password }
      })
      if (signedIn.status !== 200) throw new Error(`login: ${signedIn.status} ${signedIn.text}`)
      const cookie = (signedIn.headers.getSetCookie()[0] ?? "").split(";")[0] ?? ""
      virtualUsers.push({ owner, headers: { cookie, origin: base } })
    }
  }

  // --- the load ---------------------------------------------------------------------------------
  const latencies = new Latencies()
  const acceptedJobs: Array<string> = []
  const statuses: Array<number> = []
  const failures = new Map<string, string>()
  let running = true
  const expected = (kind: Kind, status: number) =>
    kind === "ping" || kind === "reprocess"
      ? status === 202
      : kind === "sync"
        ? status === 202 || status === 409
        : status === 200

  const send = (user: VirtualUser, kind: Kind) => {
    const headers = user.headers
    const id = user.owner.emailIds.length > 0 ? pick(user.owner.emailIds) : "00000000-0000-4000-8000-000000000000"
    switch (kind) {
      case "me":
        return request(base, "GET", "/api/v1/auth/me", { headers })
      case "accounts":
        return request(base, "GET", "/api/v1/accounts", { headers })
      case "jobs":
        return request(base, "GET", "/api/v1/jobs?limit=20", { headers })
      case "emails":
        return request(base, "GET", "/api/v1/emails?limit=25", { headers })
      case "email":
        return request(base, "GET", `/api/v1/emails/${id}`, { headers })
      case "search-fulltext":
        return request(base, "GET", `/api/v1/search?mode=fulltext&q=${encodeURIComponent(pick(words))}`, { headers })
      case "search-hybrid":
        return request(base, "GET", `/api/v1/search?mode=hybrid&q=${encodeURIComponent(pick(words))}`, { headers })
      case "ping":
        return request(base, "POST", "/api/v1/debug/ping", { json: { steps: 1 }, headers })
      case "sync":
        return request(base, "POST", `/api/v1/accounts/${user.owner.accountId}/sync`, { headers })
      case "reprocess":
        return request(base, "POST", `/api/v1/emails/${id}/reprocess`, { headers })
    }
  }
  const track = (kind: Kind, reply: Awaited<ReturnType<typeof send>>, into: Latencies) => {
    const ok = expected(kind, reply.status)
    into.record(kind, reply.millis, reply.status, ok)
    if (!ok && !failures.has(`${kind} ${reply.status}`))
      failures.set(`${kind} ${reply.status}`, reply.text.slice(0, 300))
    if (reply.status === 202 && kind !== "sync") {
      const jobId = field(reply.body, "jobId")
      if (typeof jobId === "string") acceptedJobs.push(jobId)
    }
    return ok
  }

  // unloaded latency: one user, one request at a time
  const baseline = new Latencies()
  const first = virtualUsers[0]
  if (first === undefined) throw new Error("no simulated users")
  for (let round = 0; round < 10; round++) {
    for (const [kind] of mix) track(kind, await send(first, kind), baseline)
  }
  await waitUntil(
    () =>
      psql(env.databaseUrl, "SELECT count(*) FROM jobs WHERE state NOT IN ('succeeded','failed','cancelled')") === "0"
        ? true
        : undefined,
    60_000,
    250
  )

  const runUser = async (user: VirtualUser) => {
    // spread the start so the first second is not one burst
    await sleep(Math.random() * thinkMillis)
    while (running) {
      const kind = pickKind()
      const reply = await send(user, kind)
      statuses.push(reply.status)
      track(kind, reply, latencies)
      await sleep(thinkMillis * (0.5 + Math.random()))
    }
  }
  log(`load: ${users} users for ${seconds} s, think time ${thinkMillis} ms ±50 %`)
  const loadStarted = Date.now()
  const programs = [api, ...workers.map(({ program }) => program)]
  const cpuBefore = programs.map((program) => cpuSeconds(program.pid) ?? 0)
  const clientBefore = process.cpuUsage()
  const machineBefore = machineCpu()
  const ours = new Set([process.pid, ...programs.map((program) => program.pid)])
  const commandsBefore = cpuByCommand(ours)
  const loops = virtualUsers.map(runUser)
  await sleep(seconds * 1000)
  running = false
  await Promise.all(loops)
  const elapsed = (Date.now() - loadStarted) / 1000
  const cpuAfter = programs.map((program) => cpuSeconds(program.pid) ?? 0)
  const client = process.cpuUsage(clientBefore)
  const machineAfter = machineCpu()
  const commandsAfter = cpuByCommand(ours)

  // --- what happened ----------------------------------------------------------------------------
  const total = latencies.total()
  report.figure("simulated users", users)
  report.figure("duration (s)", elapsed.toFixed(1))
  report.figure("think time (ms, ±50 %)", thinkMillis)
  report.figure("requests", total.count)
  report.figure("throughput (req/s)", (total.count / elapsed).toFixed(1))
  report.figure("errors", `${total.errors} (${((100 * total.errors) / Math.max(1, total.count)).toFixed(2)} %)`)
  report.figure("statuses", formatCounts(countBy(statuses)))
  report.figure("unloaded latency per kind (ms, 10 sequential requests)", "p50  max")
  for (const kind of baseline.kinds()) {
    const summary = baseline.summary(kind)
    report.figure(`  ${kind}`, `${summary.p50.toFixed(1)}  ${summary.max.toFixed(1)}`)
  }
  report.figure("latency per kind under load (ms)", "count  errors  p50  p95  p99  max")
  for (const kind of latencies.kinds()) {
    const summary = latencies.summary(kind)
    report.figure(
      `  ${kind}`,
      `${summary.count}  ${summary.errors}  ${summary.p50.toFixed(1)}  ${summary.p95.toFixed(1)}  ${summary.p99.toFixed(1)}  ${summary.max.toFixed(1)}`
    )
  }
  for (const [index, program] of programs.entries()) {
    const used = (cpuAfter[index] ?? 0) - (cpuBefore[index] ?? 0)
    report.figure(`CPU of ${program.name} (% of one core)`, ((100 * used) / elapsed).toFixed(0))
  }
  report.figure(
    "CPU of the load client (% of one core)",
    ((100 * (client.user + client.system)) / 1e6 / elapsed).toFixed(0)
  )
  // everything else on the machine, by command (PostgreSQL backends, Redis, Dovecot, other sessions' work)
  const deltas = [...commandsAfter].map(
    ([command, seconds]) => [command, Math.max(0, seconds - (commandsBefore.get(command) ?? 0))] as const
  )
  const others = deltas
    .filter(([, seconds]) => seconds / elapsed >= 0.02)
    .sort((a, b) => b[1] - a[1])
    .slice(0, 6)
  for (const [command, seconds] of others) {
    const label = command === "node/npm" ? "node/npm processes this drill did not start" : `"${command}" processes`
    report.figure(`CPU of ${label} (% of one core)`, ((100 * seconds) / elapsed).toFixed(0))
  }
  if (machineBefore !== undefined && machineAfter !== undefined) {
    const busy = (machineAfter.busy - machineBefore.busy) / Math.max(1, machineAfter.total - machineBefore.total)
    report.figure(`machine CPU busy (${availableParallelism()} cores)`, `${(100 * busy).toFixed(0)} %`)
    // what the machine did beyond the processes alive at both ends: processes that came and went
    // (other sessions' test runs on a shared machine, psql calls, ...)
    const seen =
      deltas.reduce((sum, [, seconds]) => sum + seconds, 0) +
      cpuAfter.reduce((sum, value, index) => sum + value - (cpuBefore[index] ?? 0), 0) +
      (client.user + client.system) / 1e6
    const unaccounted = busy * availableParallelism() * elapsed - seen
    report.figure("CPU of short-lived processes (% of one core)", Math.max(0, (100 * unaccounted) / elapsed).toFixed(0))
  }
  for (const [what, text] of failures) log(`unexpected ${what}: ${text}`)

  report.check(
    "unloaded: every request answered as expected",
    baseline.total().errors === 0,
    `${baseline.total().errors} of ${baseline.total().count}`
  )
  report.check(
    "no 5xx and no connection error",
    statuses.every((status) => status > 0 && status < 500),
    formatCounts(countBy(statuses.filter((status) => status === 0 || status >= 500)))
  )
  report.check(
    "errors under 1 %",
    total.errors / Math.max(1, total.count) < 0.01,
    `${total.errors} of ${total.count}${failures.size > 0 ? `; first: ${[...failures.keys()].join(", ")}` : ""}`
  )
  const { settled: settledJobs, states: jobStatesNow } = await settleJobs(env.databaseUrl, acceptedJobs, 180_000, 1_000)
  const drainedAfter = (Date.now() - loadStarted) / 1000 - elapsed
  report.check(
    "every job accepted during the load finished, none failed",
    settledJobs !== undefined && [...jobStatesNow.values()].every((state) => state === "succeeded"),
    `${acceptedJobs.length} accepted (${new Set(acceptedJobs).size} distinct jobs): ${formatCounts(countBy([...jobStatesNow.values()]))}`
  )
  report.figure("jobs accepted", acceptedJobs.length)
  report.figure("queue drained after the load (s)", drainedAfter.toFixed(1))
  const ready = await request(base, "GET", "/health/ready")
  report.check(
    "api and workers up, ready after the load",
    ready.status === 200 && api.running() && workers.every(({ program }) => program.running()),
    `ready ${ready.status}`
  )
  const metrics = await request(base, "GET", "/metrics")
  const rss = metrics.text.split("\n").find((line) => line.startsWith("process_resident_memory_bytes "))
  if (rss !== undefined) report.figure("api resident memory (MB)", (Number(rss.split(" ")[1]) / 1e6).toFixed(0))
})
