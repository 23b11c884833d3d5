import type { JSX } from "react"
import type { JobView } from "../api/jobs.ts"
import { formatNumber, useLanguage, useStrings } from "../i18n/index.ts"
import { jobProgressStrings } from "./JobProgress.i18n.ts"

/** A job's state in words, its progress as a bar (indeterminate without a total) and its last message. */
export function JobProgress({ job }: { readonly job: JobView }): JSX.Element {
  const t = useStrings(jobProgressStrings)
  const language = useLanguage()
  const progress = job.progress
  const percent =
    progress !== null && progress.total !== null && progress.total > 0
      ? Math.min(100, Math.round((progress.done / progress.total) * 100))
      : undefined
  const active = job.state === "running" || job.state === "retrying"
  return (
    <div className="job-progress" data-state={job.state}>
      <span className={`badge state-${job.state}`}>{t(job.state)}</span>
      {job.cancelRequested && active ? <span className="badge">{t("cancelRequested")}</span> : null}
      {job.state === "retrying" ? (
        <span className="hint"> {t("attempt", { attempts: job.attempts, max: job.maxAttempts })}</span>
      ) : null}
      {progress !== null && (active || job.state === "succeeded") ? (
        <div className="progress">
          <progress
            max={100}
            {...(percent === undefined ? {} : { value: job.state === "succeeded" ? 100 : percent })}
            aria-label={t("progressLabel", { kind: job.kind })}
          />
          <span>
            {progress.total !== null
              ? t("progressOf", {
                  phase: progress.phase,
                  done: formatNumber(language, progress.done),
                  total: formatNumber(language, progress.total)
                })
              : t("progressCount", { phase: progress.phase, done: formatNumber(language, progress.done) })}
          </span>
        </div>
      ) : null}
      {progress?.message != null && active ? <p className="hint">{progress.message}</p> : null}
      {job.error !== null ? <p className="server-answer">{job.error.message}</p> : null}
    </div>
  )
}
