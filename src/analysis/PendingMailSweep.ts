import { Effect, Layer, Schema } from "effect"
import { SqlClient } from "effect/sql"
import { AnalyzeMailJob } from "../contract/jobs/AnalyzeMailJob.ts"
import { EmbedMailJob } from "../contract/jobs/EmbedMailJob.ts"
import { UserId } from "../contract/users/UserId.ts"
import { decodeRows } from "../platform/Database.ts"
import { UserScope } from "../users/UserScope.ts"
import { enqueuePendingProcessing } from "./enqueue.ts"
import { MailProcessingConfig } from "./MailProcessingConfig.ts"

/**
 * Mail is analysed and embedded by jobs the sync queues after it stored it; a message whose job is
 * gone before it wrote the outcome (a job cancelled, out of attempts after a crash, a claim leaked)
 * waits, once its claim expired, for the owner's next sync that stores new mail: days, for a quiet
 * mailbox. So each worker, every MAIL_PENDING_SWEEP_SECONDS, looks for owners with such mail and
 * queues their bulk `mail.analyze` / `mail.embed` for all pending mail.
 *
 * Due: pending (canonical copy), unclaimed or its claim expired, stored and last changed more than
 * `GRACE_SECONDS` ago (fresh mail's own jobs are queued right after its store: not raced), of an owner
 * with no unfinished job of that kind (a queued, running or retrying one takes it, a bulk job that
 * yielded too). One statement as the system role over all users: per user, a read of the partial
 * pending index (0052) that stops at the first due row (one probe for a user without pending mail),
 * and an anti-join with the unfinished jobs (their partial index). No owner's backlog is read in
 * full. (A loose scan of the pending indexes for the owners with pending mail was planned over the
 * user_id index and read every message of the owners after the last one with pending mail.)
 *
 * Several workers run it at once with no election: the submits de-duplicate (one unfinished job per
 * owner, kind and key), so a second pass finds the job the first one queued, or excludes the owner.
 * Finding something means a job was lost: a warning with the number of owners and jobs queued.
 */
const GRACE_SECONDS = 60

const Due = Schema.Struct({ owner: UserId, analysis: Schema.Boolean, embedding: Schema.Boolean })

/** What one pass queued: owners with due mail, and the jobs created (not joined to queued or running ones). */
export interface SweepSummary {
  readonly owners: number
  readonly analyze: number
  readonly embed: number
}

export const sweepPendingMail = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  const scope = yield* UserScope
  const decode = decodeRows(Due)
  const columns = (state: "analysis" | "embedding") => ({
    state: sql(`${state}_state`),
    until: sql(`${state}_claimed_until`)
  })
  // whether the owner has due mail of `state` and no unfinished job of `kind`: the first due row in
  // the pending index's order (a scalar subquery with LIMIT 1: it stops there, per owner)
  const due = (state: "analysis" | "embedding", kind: string) => {
    const c = columns(state)
    return sql`(
      NOT EXISTS (SELECT 1 FROM busy b WHERE b.user_id = u.id AND b.kind = ${kind})
      AND (
        SELECT true FROM emails e
        WHERE e.user_id = u.id AND e.${c.state} = 'pending'
          AND e.created_at < now() - make_interval(secs => ${GRACE_SECONDS})
          AND e.updated_at < now() - make_interval(secs => ${GRACE_SECONDS})
          AND e.canonical
          AND (e.${c.until} IS NULL OR e.${c.until} <= now())
        ORDER BY e.created_at, e.id
        LIMIT 1) IS NOT NULL)`
  }
  const owners = yield* scope
    .system(
      "pending mail sweep",
      sql`
        WITH busy AS MATERIALIZED (
          SELECT DISTINCT j.user_id, j.kind FROM jobs j
          WHERE j.state IN ('queued', 'running', 'retrying')
            AND j.kind IN (${AnalyzeMailJob.name}, ${EmbedMailJob.name}) AND j.user_id IS NOT NULL),
        due AS (
          SELECT u.id AS owner, ${due("analysis", AnalyzeMailJob.name)} AS analysis,
            ${due("embedding", EmbedMailJob.name)} AS embedding
          FROM users u)
        SELECT owner, analysis, embedding FROM due WHERE analysis OR embedding`
    )
    .pipe(Effect.flatMap(decode))
  let analyze = 0
  let embed = 0
  for (const row of owners) {
    const queued = yield* enqueuePendingProcessing(row.owner, row)
    if (queued.analyze) analyze++
    if (queued.embed) embed++
  }
  const summary: SweepSummary = { owners: owners.length, analyze, embed }
  if (analyze + embed > 0) {
    // pending mail no job was going to take: something lost its job (counts only, never mail or owners)
    yield* Effect.logWarning("pending mail without a job: queued its analysis/embedding", summary)
  }
  return summary
}).pipe(Effect.withSpan("analysis.pendingSweep"))

/** The sweep in each worker, every MAIL_PENDING_SWEEP_SECONDS (the first one interval after start). */
export const PendingMailSweepLive = Layer.effectDiscard(
  Effect.gen(function* () {
    const config = yield* MailProcessingConfig
    yield* sweepPendingMail.pipe(
      Effect.catch((error) =>
        Effect.logWarning("pending mail sweep failed; the next pass tries again", { reason: error.message })
      ),
      Effect.delay(`${config.pendingSweepSeconds} seconds`),
      Effect.forever,
      Effect.forkScoped
    )
  })
)
