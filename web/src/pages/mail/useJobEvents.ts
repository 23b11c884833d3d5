import { Option, Schema } from "effect"
import { useEffect, useState } from "react"
import { JobView } from "../../../../src/contract/jobs/Job.ts"

const decodeJob = Schema.decodeUnknownOption(Schema.fromJsonString(Schema.toCodecJson(JobView)))

export type FollowedJob = typeof JobView.Type

/**
 * One job, live: its Server-Sent Event stream (`GET /jobs/:id/events`, `progress` and `state`
 * events whose data is the job as JSON, decoded by the contract's schema). The stream is closed on
 * a terminal state, so EventSource does not reconnect to a finished job.
 */
export const useJobEvents = (jobId: string | null): FollowedJob | null => {
  const [job, setJob] = useState<FollowedJob | null>(null)
  useEffect(() => {
    setJob(null)
    if (jobId === null) return
    const source = new EventSource(`/api/v1/jobs/${encodeURIComponent(jobId)}/events`)
    const onEvent = (event: MessageEvent) => {
      const decoded = decodeJob(event.data)
      if (Option.isNone(decoded)) return
      setJob(decoded.value)
      if (
        decoded.value.state === "succeeded" ||
        decoded.value.state === "failed" ||
        decoded.value.state === "cancelled"
      ) {
        source.close()
      }
    }
    source.addEventListener("progress", onEvent)
    source.addEventListener("state", onEvent)
    return () => source.close()
  }, [jobId])
  return job
}
