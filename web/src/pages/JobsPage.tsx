import { type JSX, useCallback, useEffect, useState } from "react"
import { Link } from "wouter"
import { type ApiFailure, callApi } from "../api/client.ts"
import { isFinished, type JobView, useWatchedJob } from "../api/jobs.ts"
import { changesJobs, subscribeUserEvents } from "../api/userEvents.ts"
import { JobProgress } from "../components/JobProgress.tsx"
import { EmptyState, ErrorMessage, Loading, DataTable } from "../components/ui.tsx"
import { formatDateTime, useLanguage, useStrings } from "../i18n/index.ts"
import { jobsStrings } from "./JobsPage.i18n.ts"

const states = ["queued", "running", "retrying", "succeeded", "failed", "cancelled"] as const
type StateFilter = (typeof states)[number] | "all"

/** How often the first page is asked again for jobs started elsewhere (until a user event stream exists). */
const refreshMillis = 5000

/**
 * At most this many rows hold an event stream open: a browser keeps about six HTTP/1.1 connections
 * per origin, and streams beyond that would leave no connection for the app's own requests. The
 * other unfinished rows move with the periodic refresh.
 */
const maxStreams = 3

/** One job; while it is unfinished its row follows the job's event stream. */
function JobRow({
  job: listed,
  live: follow,
  onChanged
}: {
  readonly job: JobView
  readonly live: boolean
  readonly onChanged: () => void
}): JSX.Element {
  const t = useStrings(jobsStrings)
  const language = useLanguage()
  const watched = useWatchedJob(follow && !isFinished(listed) ? listed.id : undefined)
  const [cancelled, setCancelled] = useState<JobView | undefined>(undefined)
  const [failure, setFailure] = useState<ApiFailure | undefined>(undefined)
  const live = watched.status === "live" ? watched.job : undefined
  const job = [live, cancelled, listed]
    .filter((candidate): candidate is JobView => candidate !== undefined)
    .reduce((latest, candidate) => (candidate.updatedAt > latest.updatedAt ? candidate : latest))
  const created = formatDateTime(language, job.createdAt)

  const cancel = async () => {
    setFailure(undefined)
    const result = await callApi("jobs", (jobs) => jobs.cancel({ params: { id: job.id } }))
    if (result.ok) setCancelled(result.value)
    else setFailure(result.failure)
    onChanged()
  }

  return (
    <tr data-job-id={job.id} data-state={job.state}>
      <td data-label={t("kind")}>
        <code>{job.kind}</code>
      </td>
      <td data-label={t("state")}>
        <div aria-live="polite">
          <JobProgress job={job} />
        </div>
        {failure !== undefined ? <ErrorMessage failure={failure}>{t("cancelFailed")}</ErrorMessage> : null}
      </td>
      <td data-label={t("created")}>{created}</td>
      <td data-label={t("actions")}>
        {!isFinished(job) && !job.cancelRequested ? (
          <button
            type="button"
            className="secondary"
            aria-label={t("cancelNamed", { kind: job.kind, time: created })}
            onClick={() => void cancel()}
          >
            {t("cancel")}
          </button>
        ) : null}
      </td>
    </tr>
  )
}

export function JobsPage(): JSX.Element {
  const t = useStrings(jobsStrings)
  const [filter, setFilter] = useState<StateFilter>("all")
  const [first, setFirst] = useState<{ items: ReadonlyArray<JobView>; nextCursor: string | null } | undefined>()
  const [older, setOlder] = useState<ReadonlyArray<JobView>>([])
  const [olderCursor, setOlderCursor] = useState<string | null | undefined>(undefined)
  const [failure, setFailure] = useState<ApiFailure | undefined>(undefined)

  const query = useCallback(
    (cursor?: string) => ({
      ...(filter === "all" ? {} : { state: filter }),
      limit: 50,
      ...(cursor === undefined ? {} : { cursor })
    }),
    [filter]
  )

  const loadFirst = useCallback(
    async (signal?: AbortSignal) => {
      const result = await callApi("jobs", (jobs) => jobs.list({ query: query() }), signal)
      if (signal?.aborted === true) return
      if (result.ok) {
        setFirst(result.value)
        setFailure(undefined)
      } else setFailure(result.failure)
    },
    [query]
  )

  // the first page on load, on a filter change and every few seconds while the page is visible
  useEffect(() => {
    const controller = new AbortController()
    setFirst(undefined)
    setOlder([])
    setOlderCursor(undefined)
    void loadFirst(controller.signal)
    const timer = window.setInterval(() => {
      if (document.visibilityState === "visible") void loadFirst(controller.signal)
    }, refreshMillis)
    // a job of the user's changed (the event stream, when the API has one): refresh now
    let pending: number | undefined
    const unsubscribe = subscribeUserEvents((event) => {
      if (!changesJobs(event) || pending !== undefined) return
      pending = window.setTimeout(() => {
        pending = undefined
        void loadFirst(controller.signal)
      }, 300)
    })
    return () => {
      controller.abort()
      window.clearInterval(timer)
      if (pending !== undefined) window.clearTimeout(pending)
      unsubscribe()
    }
  }, [loadFirst])

  const loadOlder = async () => {
    const cursor = olderCursor === undefined ? first?.nextCursor : olderCursor
    if (cursor === null || cursor === undefined) return
    const result = await callApi("jobs", (jobs) => jobs.list({ query: query(cursor) }))
    if (!result.ok) {
      setFailure(result.failure)
      return
    }
    setOlder((previous) => [...previous, ...result.value.items])
    setOlderCursor(result.value.nextCursor)
  }

  const firstIds = new Set(first?.items.map((job) => job.id))
  const jobs = [...(first?.items ?? []), ...older.filter((job) => !firstIds.has(job.id))]
  const moreCursor = olderCursor === undefined ? first?.nextCursor : olderCursor
  const streamed = new Set(
    jobs
      .filter((job) => !isFinished(job))
      .slice(0, maxStreams)
      .map((job) => job.id)
  )

  return (
    <>
      <h1>{t("title")}</h1>
      <p className="hint">{t("intro")}</p>
      <div className="filters">
        <div className="field">
          <label htmlFor="jobs-filter">{t("filter")}</label>
          <select
            id="jobs-filter"
            value={filter}
            onChange={(event) => {
              const chosen = (["all", ...states] as const).find((s) => s === event.currentTarget.value)
              if (chosen !== undefined) setFilter(chosen)
            }}
          >
            <option value="all">{t("all")}</option>
            {states.map((state) => (
              <option key={state} value={state}>
                {t(state)}
              </option>
            ))}
          </select>
        </div>
      </div>
      {failure !== undefined ? <ErrorMessage failure={failure}>{t("failedLoad")}</ErrorMessage> : null}
      {first === undefined && failure === undefined ? <Loading label={t("loading")} /> : null}
      {first !== undefined && jobs.length === 0 ? (
        <EmptyState title={t("empty")}>
          <p>{t("emptyHint")}</p>
          <p>
            <Link href="/accounts">{t("connectAccount")}</Link>
          </p>
        </EmptyState>
      ) : null}
      {jobs.length > 0 ? (
        <DataTable className="responsive jobs" headings={[t("kind"), t("state"), t("created"), t("actions")]}>
          {jobs.map((job) => (
            <JobRow key={job.id} job={job} live={streamed.has(job.id)} onChanged={() => void loadFirst()} />
          ))}
        </DataTable>
      ) : null}
      {moreCursor !== null && moreCursor !== undefined ? (
        <button type="button" className="secondary" onClick={() => void loadOlder()}>
          {t("more")}
        </button>
      ) : null}
    </>
  )
}
