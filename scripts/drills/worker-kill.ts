/**
 * Drill: a worker SIGKILLed in the middle of a job of each kind (npm run drill:worker-kill).
 *
 * Two worker processes run against one API, a throw-away Dovecot and a throw-away database.
 * For mail.sync, mail.analyze, mail.embed, search.index, rules.apply and debug.ping: start a job, wait until
 * it is running and has made progress, SIGKILL the worker that holds it (the `jobs.worker`
 * column names it), start a replacement, and check that the other worker finishes the job
 * (BullMQ's stalled-job check hands it over) with nothing duplicated or lost.
 * mail.sync.tick (the scheduler's tick) only enqueues syncs and is not drilled.
 *
 *   DRILL_MESSAGES   messages in the mailbox (default 2500)
 *
 * Job lock 2 s and stalled check 1 s here (production: 30 s each), so hand-overs take seconds. Claims
 * on pending mail keep production's MAIL_CLAIM_SECONDS (900 s): the killed job's next attempt takes back
 * the batch its dead attempt claimed at once (the claim names the job, migration 0073).
 */
import {
  addDrillAccount,
  checkStoredOnce,
  envNumber,
  field,
  log,
  makeDrillEnv,
  type Program,
  psql,
  request,
  runDrill,
  seededDovecot,
  signUp,
  startApi,
  startWorker,
  terminalStates,
  waitUntil
} from "./support.ts"

interface JobRow {
  readonly state: string
  readonly worker: string
  readonly attempts: number
  readonly done: number
  readonly total: number
}

const jobRow = (databaseUrl: string, id: string): JobRow | undefined => {
  const row = psql(
    databaseUrl,
    `SELECT state || '|' || coalesce(worker, '') || '|' || attempts || '|' || coalesce(progress->>'done', '0') || '|' || coalesce(progress->>'total', '0') FROM jobs WHERE id = '${id}'`
  )
  if (row === "") return undefined
  const [state = "", worker = "", attempts = "0", done = "0", total = "0"] = row.split("|")
  return { state, worker, attempts: Number(attempts), done: Number(done), total: Number(total) }
}

const latestJobOf = (databaseUrl: string, kind: string, after: string): string | undefined => {
  const id = psql(
    databaseUrl,
    `SELECT id FROM jobs WHERE kind = '${kind}' AND created_at >= '${after}' ORDER BY created_at DESC LIMIT 1`
  )
  return id === "" ? undefined : id
}

await runDrill("worker-kill", 420, async (report, cleanup) => {
  const messages = envNumber("DRILL_MESSAGES", 2500)
  // The killed mail.analyze's claimed batch (src/analysis/README.md, "Claims") is taken back by the
  // job's next attempt, which holds the same job record: no wait for the 900 s claim to expire
  const env = await makeDrillEnv("worker_kill", cleanup)
  const dovecot = await seededDovecot(cleanup, messages, { seed: 5, domain: "drill.test" })

  const { program: api, base } = await startApi(env.env)
  cleanup(() => api.stop())
  const workers: Array<Program> = []
  const startOne = async (name: string) => {
    // small index, embedding and analysis batches, so search.index, mail.embed and mail.analyze run long
    // enough to be caught in the middle (a re-embed of 1,200 messages in batches of 64 ended between two
    // polls of the drill; on a quiet machine the analysis of the new mail kept pace with the sync and its
    // last job had ended before the drill looked for it)
    const { program } = await startWorker(
      {
        ...env.env,
        SEARCH_INDEX_BATCH_SIZE: "100",
        EMBEDDING_BATCH_SIZE: "8",
        ANALYSIS_BATCH_SIZE: "2",
        ANALYSIS_CONCURRENCY: "1"
      },
      { name }
    )
    workers.push(program)
    cleanup(() => program.stop("SIGKILL"))
    return program
  }
  await Promise.all([startOne("worker-1"), startOne("worker-2")])
  let spawned = 2

  const user = await signUp(base, "killer")
  const accountId = await addDrillAccount(base, user, dovecot)

  /** Waits for the job to run with progress, kills its worker, and follows it to the end. */
  const killMidJob = async (kind: string, jobId: string, minDone: number) => {
    const seen = await waitUntil(
      () => {
        const row = jobRow(env.databaseUrl, jobId)
        return row !== undefined && ((row.state === "running" && row.done >= minDone) || terminalStates.has(row.state))
          ? row
          : undefined
      },
      120_000,
      40
    )
    const running = seen?.state === "running" ? seen : undefined
    if (running === undefined) {
      const row = jobRow(env.databaseUrl, jobId)
      report.check(
        `${kind}: caught running`,
        false,
        `state ${row?.state ?? "missing"} before the kill, progress ${row?.done}/${row?.total}: make the job bigger`
      )
      return
    }
    const holder = workers.find((worker) => worker.running() && running.worker.includes(`:${worker.pid}:`))
    if (holder === undefined) {
      report.check(`${kind}: holder found`, false, `worker ${running.worker}`)
      return
    }
    holder.child.kill("SIGKILL")
    const killedAt = Date.now()
    await holder.exited
    workers.splice(workers.indexOf(holder), 1)
    log(`${kind}: SIGKILLed ${holder.name} (pid ${holder.pid}) at progress ${running.done}/${running.total}`)
    // keep two workers, as a supervisor (systemd Restart=on-failure, compose restart) would
    spawned++
    const replacement = startOne(`worker-${spawned}`)
    const resumed = await waitUntil(
      () => {
        const row = jobRow(env.databaseUrl, jobId)
        return row !== undefined &&
          ((row.state === "running" && row.worker !== running.worker) || terminalStates.has(row.state))
          ? row
          : undefined
      },
      120_000,
      50
    )
    const resumedAfter = Date.now() - killedAt
    const finished = await waitUntil(
      () => {
        const row = jobRow(env.databaseUrl, jobId)
        return row !== undefined && terminalStates.has(row.state) ? row : undefined
      },
      240_000,
      100
    )
    const finishedAfter = Date.now() - killedAt
    await replacement
    report.check(
      `${kind}: the job of the killed worker ends succeeded`,
      finished?.state === "succeeded",
      `state ${finished?.state ?? "still running"}`
    )
    report.check(
      `${kind}: another worker finished it`,
      finished !== undefined && finished.worker !== running.worker && finished.worker !== "",
      `killed ${running.worker}, finished by ${finished?.worker ?? "?"}`
    )
    report.figure(`${kind}: progress when killed`, `${running.done}/${running.total}`)
    report.figure(`${kind}: taken over after (s)`, resumed === undefined ? "never" : (resumedAfter / 1000).toFixed(1))
    report.figure(`${kind}: finished after the kill (s)`, (finishedAfter / 1000).toFixed(1))
    report.figure(`${kind}: attempts recorded`, finished?.attempts ?? 0)
  }

  const started = psql(env.databaseUrl, "SELECT now()::text")

  // --- mail.sync --------------------------------------------------------------------------------
  // the account's first sync may already be queued by its creation; otherwise ask for one
  let syncId = latestJobOf(env.databaseUrl, "mail.sync", started)
  if (syncId === undefined) {
    const sync = await request(base, "POST", `/api/v1/accounts/${accountId}/sync`, { headers: user.headers })
    if (sync.status !== 202) throw new Error(`sync: ${sync.status} ${sync.text}`)
    syncId = String(field(sync.body, "jobId"))
  }
  await killMidJob("mail.sync", syncId, Math.floor(messages / 10))
  const onServer = await checkStoredOnce(
    report,
    "mail.sync: every message stored exactly once",
    dovecot,
    env.databaseUrl
  )

  // --- mail.analyze: queued by the sync for the new mail ------------------------------------------
  const analyzeId = await waitUntil(() => latestJobOf(env.databaseUrl, "mail.analyze", started), 30_000)
  if (analyzeId === undefined) report.check("mail.analyze: queued after the sync", false)
  else await killMidJob("mail.analyze", analyzeId, 50)
  // the sync also queued embeddings of the new mail; let that settle before re-embedding everything
  await waitUntil(
    () =>
      psql(env.databaseUrl, "SELECT count(*) FROM jobs WHERE state NOT IN ('succeeded','failed','cancelled')") === "0"
        ? true
        : undefined,
    180_000,
    250
  )

  // --- mail.embed: re-embed every message (POST /embeddings/reprocess) ----------------------------
  const reembed = await request(base, "POST", "/api/v1/embeddings/reprocess", { headers: user.headers })
  if (reembed.status !== 202) throw new Error(`embeddings/reprocess: ${reembed.status} ${reembed.text}`)
  await killMidJob("mail.embed", String(field(reembed.body, "jobId")), 50)

  // --- search.index: every vector again, queued by a sync that finds vectors missing -------------
  const indexStarted = psql(env.databaseUrl, "SELECT now()::text")
  psql(env.databaseUrl, "UPDATE emails SET search_vector = NULL")
  const resync = await request(base, "POST", `/api/v1/accounts/${accountId}/sync`, { headers: user.headers })
  if (resync.status !== 202) throw new Error(`sync: ${resync.status} ${resync.text}`)
  const indexId = await waitUntil(() => latestJobOf(env.databaseUrl, "search.index", indexStarted), 60_000)
  if (indexId === undefined) report.check("search.index: queued by a sync that found vectors missing", false)
  else await killMidJob("search.index", indexId, 100)
  const unindexed = psql(env.databaseUrl, "SELECT count(*) FROM emails WHERE search_vector IS NULL")
  report.check("search.index: every message has its full-text vector", unindexed === "0", `${unindexed} without`)

  const emails = Number(psql(env.databaseUrl, "SELECT count(*) FROM emails"))
  const analysed = psql(
    env.databaseUrl,
    "SELECT count(*) FILTER (WHERE analysis_state = 'analysed') || '|' || (SELECT count(*) FROM email_analysis) FROM emails"
  ).split("|")
  report.check(
    "mail.analyze: every message analysed once",
    Number(analysed[0]) === emails && Number(analysed[1]) === emails,
    `emails ${emails}, analysed ${analysed[0]}, analysis rows ${analysed[1]}`
  )
  const embedded = psql(
    env.databaseUrl,
    "SELECT (SELECT count(*) FROM emails WHERE embedding_state <> 'pending') || '|' || (SELECT count(*) FROM embeddings)"
  ).split("|")
  report.check(
    "mail.embed: every message embedded once",
    Number(embedded[1]) === emails,
    `emails ${emails}, embedded state ${embedded[0]}, embedding rows ${embedded[1]}`
  )

  // --- rules.apply ------------------------------------------------------------------------------
  const rule = await request(base, "POST", "/api/v1/rules", {
    json: {
      name: "flag everything",
      priority: 1,
      conditions: [{ field: "from", op: "contains", value: "@" }],
      actions: [{ type: "flag" }, { type: "addTag", tag: "drill" }]
    },
    headers: user.headers
  })
  if (rule.status !== 201) throw new Error(`rule: ${rule.status} ${rule.text}`)
  // past mail needs the count it will change: the first answer (409) carries it
  const preview = await request(base, "POST", "/api/v1/rules/apply", { json: {}, headers: user.headers })
  if (preview.status !== 409) throw new Error(`rules/apply preview: ${preview.status} ${preview.text}`)
  const apply = await request(base, "POST", "/api/v1/rules/apply", {
    json: { confirm: field(preview.body, "count") },
    headers: user.headers
  })
  if (apply.status !== 202) throw new Error(`rules/apply: ${apply.status} ${apply.text}`)
  const applyId = String(field(apply.body, "jobId"))
  await killMidJob("rules.apply", applyId, 50)
  const runs = psql(
    env.databaseUrl,
    `SELECT count(*) || '|' || count(DISTINCT email_id) FROM rule_runs WHERE job_id = '${applyId}'`
  ).split("|")
  report.check(
    "rules.apply: at most one run per message (no action applied twice)",
    Number(runs[0]) === Number(runs[1]),
    `runs ${runs[0]}, distinct messages ${runs[1]}`
  )
  const flaggedOnServer = (await dovecot.doveadmFetch("drill", "INBOX")).filter((message) =>
    message.flags.includes("\\Flagged")
  ).length
  report.check(
    "rules.apply: every message flagged on the IMAP server",
    flaggedOnServer === onServer,
    `${flaggedOnServer} of ${onServer} flagged`
  )

  // --- debug.ping -------------------------------------------------------------------------------
  const ping = await request(base, "POST", "/api/v1/debug/ping", {
    json: { sleepMillis: 5_000, steps: 50, message: "survivor" },
    headers: user.headers
  })
  if (ping.status !== 202) throw new Error(`ping: ${ping.status} ${ping.text}`)
  const pingId = String(field(ping.body, "jobId"))
  await killMidJob("debug.ping", pingId, 5)
  const result = psql(env.databaseUrl, `SELECT result->>'message' FROM jobs WHERE id = '${pingId}'`)
  report.check("debug.ping: the result is the one asked for", result === "survivor", result)

  const unfinished = psql(
    env.databaseUrl,
    "SELECT count(*) FROM jobs WHERE state NOT IN ('succeeded','failed','cancelled')"
  )
  report.check("no job left unfinished", unfinished === "0", `${unfinished} unfinished`)
  const failedJobs = psql(
    env.databaseUrl,
    "SELECT coalesce(string_agg(kind || ':' || coalesce(error_code,''), ', '), '') FROM jobs WHERE state = 'failed'"
  )
  report.check("no job failed", failedJobs === "", failedJobs)
  report.figure("workers started in all", spawned)
  report.figure("messages", messages)
})
