import { Effect, Stream } from "effect"
import { useEffect, useState } from "react"
import type { JobId, JobView } from "../../../src/contract/jobs/Job.ts"
import { type ApiFailure, callApi } from "./client.ts"

export type { JobId, JobView }

const terminal: ReadonlySet<JobView["state"]> = new Set(["succeeded", "failed", "cancelled"])
export const isFinished = (job: JobView): boolean => terminal.has(job.state)

/**
 * Follows one job through `GET /jobs/:id/events` (Server-Sent Events, typed by the contract): the
 * snapshot first, then each progress and state change, until the job finishes or `signal` aborts.
 */
export const watchJob = (id: JobId, onJob: (job: JobView) => void, signal: AbortSignal) =>
  callApi(
    "jobs",
    (jobs) =>
      jobs.events({ params: { id } }).pipe(
        Effect.flatMap((events) =>
          events.pipe(
            Stream.takeUntil((event) => isFinished(event.data)),
            Stream.runForEach((event) => Effect.sync(() => onJob(event.data)))
          )
        )
      ),
    signal
  )

export type WatchedJob =
  | { readonly status: "waiting" }
  | { readonly status: "live"; readonly job: JobView }
  | { readonly status: "error"; readonly failure: ApiFailure; readonly job: JobView | undefined }

/** The latest view of a job while the component shows it (undefined id: nothing to watch). */
export const useWatchedJob = (id: JobId | undefined): WatchedJob => {
  const [state, setState] = useState<WatchedJob>({ status: "waiting" })
  useEffect(() => {
    setState({ status: "waiting" })
    if (id === undefined) return
    const controller = new AbortController()
    let last: JobView | undefined
    void watchJob(
      id,
      (job) => {
        last = job
        setState({ status: "live", job })
      },
      controller.signal
    ).then((result) => {
      if (!result.ok && !controller.signal.aborted) setState({ status: "error", failure: result.failure, job: last })
    })
    return () => controller.abort()
  }, [id])
  return state
}
