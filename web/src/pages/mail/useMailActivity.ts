import { useEffect, useRef } from "react"
import { callApi } from "../../api/client.ts"
import { changesMail, subscribeUserEvents, watchStreamStatus } from "../../api/userEvents.ts"

/** The job kinds whose progress means the list may have changed: new mail, new analysis, rules run. */
const mailChangingKinds = new Set(["mail.sync", "mail.analyze", "rules.apply", "rules.undo"])

const terminalStates = new Set(["succeeded", "failed", "cancelled"])

/** Whether an event's data (the job as JSON) says the job ended; unreadable data does not end the stream. */
const isTerminalJob = (data: unknown): boolean => {
  if (typeof data !== "string") return false
  let job: unknown
  try {
    job = JSON.parse(data)
  } catch {
    return false
  }
  return typeof job === "object" && job !== null && "state" in job && terminalStates.has(String(job.state))
}

const POLL_MS = 10_000
const DEBOUNCE_MS = 1_000

/**
 * Calls `onActivity` (at most once a second) while mail may be changing.
 *
 * The source is the user's event stream (`GET /api/v1/events`, api/userEvents.ts): a stored,
 * analysed or rule-changed message, or a reset (events were missed), is activity. While that stream
 * is not live (the API has none: 404; or it is reconnecting) the fallback runs: the user's newest
 * sync, analysis and rule jobs are read with `GET /jobs` every 10 s (any change of theirs is
 * activity), and the running ones are followed on their Server-Sent Event streams
 * (`GET /jobs/:id/events`); a job that ends is one last change. The cookie session authenticates
 * the EventSource (same origin, GET: no CSRF question).
 */
export const useMailActivity = (onActivity: () => void): void => {
  const callback = useRef(onActivity)
  callback.current = onActivity
  useEffect(() => {
    let timer: ReturnType<typeof setTimeout> | undefined
    let stopped = false
    const changed = () => {
      if (timer !== undefined || stopped) return
      timer = setTimeout(() => {
        timer = undefined
        if (!stopped) callback.current()
      }, DEBOUNCE_MS)
    }
    const unsubscribe = subscribeUserEvents((event) => {
      if (changesMail(event)) changed()
    })
    let stopFallback: (() => void) | undefined
    const unwatch = watchStreamStatus((status) => {
      if (status === "live") {
        stopFallback?.()
        stopFallback = undefined
      } else stopFallback ??= followJobs(changed)
    })
    return () => {
      stopped = true
      unwatch()
      unsubscribe()
      stopFallback?.()
      if (timer !== undefined) clearTimeout(timer)
    }
  }, [])
}

/** The fallback: polls the mail-changing jobs and follows the running ones' streams; returns its stop. */
const followJobs = (changed: () => void): (() => void) => {
  const streams = new Map<string, EventSource>()
  let stopped = false
  const follow = (jobId: string) => {
    if (streams.has(jobId)) return
    const source = new EventSource(`/api/v1/jobs/${encodeURIComponent(jobId)}/events`)
    streams.set(jobId, source)
    const end = () => {
      source.close()
      streams.delete(jobId)
      changed()
    }
    source.addEventListener("progress", changed)
    source.addEventListener("state", (event) => {
      changed()
      // the job as JSON; a terminal state ends the stream (EventSource would otherwise reconnect)
      if (isTerminalJob(event.data)) end()
    })
    // the server closed the stream or it broke: the next poll reopens it if the job still runs
    source.addEventListener("error", end)
  }
  // what the newest mail-changing jobs looked like at the last poll: a job that started and
  // ended between two polls changes it too, though no stream ever saw it
  let lastSignature: string | null = null
  const poll = async () => {
    const result = await callApi("jobs", (jobs) => jobs.list({ query: { limit: 20 } }))
    if (stopped || !result.ok) return
    const relevant = result.value.items.filter((job) => mailChangingKinds.has(job.kind))
    const signature = relevant.map((job) => `${job.id}:${job.state}:${job.updatedAt.getTime()}`).join(",")
    if (lastSignature !== null && signature !== lastSignature) changed()
    lastSignature = signature
    for (const job of relevant) if (job.state === "running" || job.state === "retrying") follow(job.id)
  }
  void poll()
  const interval = setInterval(() => void poll(), POLL_MS)
  return () => {
    stopped = true
    clearInterval(interval)
    for (const source of streams.values()) source.close()
    streams.clear()
  }
}
