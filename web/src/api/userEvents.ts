import { Option, Schema } from "effect"
import { type UserEvent, UserEventJson } from "../../../src/contract/events/UserEvent.ts"

/**
 * The user's live event stream, `GET /api/v1/events` (Server-Sent Events): `id:` the stream entry
 * id, `event:` the type, `data:` one UserEvent as JSON (src/contract/events/UserEvent.ts). The
 * browser's EventSource resumes by itself with `Last-Event-ID` after a dropped connection; when the
 * server cannot resume (the id is past its window) it sends `event: reset`, and so does this module
 * when it has to open a new stream (a new EventSource cannot send the last id): everything shown
 * is reloaded then.
 *
 * One stream per tab, shared by every page that listens. While the endpoint does not exist (404)
 * the status is `unavailable` and the pages keep following the job event streams (useMailActivity).
 */

/** One SSE `data:` field as the event it carries; None for data this client cannot read. */
export const decodeEvent = Schema.decodeUnknownOption(UserEventJson)

export type StreamEvent = UserEvent | { readonly _tag: "reset" }
export type StreamStatus = "connecting" | "live" | "unavailable"

const eventTypes = ["mail.stored", "mail.analysed", "rule.applied", "job.changed", "account.changed"] as const

const listeners = new Set<(event: StreamEvent) => void>()
const statusListeners = new Set<(status: StreamStatus) => void>()
let status: StreamStatus = "connecting"
let source: EventSource | undefined
let retryTimer: ReturnType<typeof setTimeout> | undefined
let retryDelay = 1_000
/** Set after the first stream opened: a later new stream missed events, so it starts with a reset. */
let everOpened = false

const setStatus = (next: StreamStatus) => {
  if (status === next) return
  status = next
  for (const listener of statusListeners) listener(next)
}

const emit = (event: StreamEvent) => {
  for (const listener of listeners) listener(event)
}

/** Why the stream closed: 404 means the API has no event stream (yet); anything else is retried. */
const probe = async (): Promise<"missing" | "retry"> => {
  const controller = new AbortController()
  try {
    const response = await fetch("/api/v1/events", {
      signal: controller.signal,
      headers: { accept: "text/event-stream" }
    })
    return response.status === 404 ? "missing" : "retry"
  } catch {
    return "retry"
  } finally {
    // an open stream is not read here: only its status mattered
    controller.abort()
  }
}

const close = () => {
  source?.close()
  source = undefined
  if (retryTimer !== undefined) clearTimeout(retryTimer)
  retryTimer = undefined
}

const open = () => {
  if (source !== undefined || listeners.size === 0) return
  const stream = new EventSource("/api/v1/events")
  source = stream
  stream.addEventListener("open", () => {
    retryDelay = 1_000
    setStatus("live")
    if (everOpened) emit({ _tag: "reset" })
    everOpened = true
  })
  for (const type of eventTypes) {
    stream.addEventListener(type, (message: Event) => {
      if (!(message instanceof MessageEvent)) return
      const decoded = decodeEvent(message.data)
      // an event this client cannot read is skipped; the next one (or a reset) brings the pages up to date
      if (Option.isSome(decoded)) emit(decoded.value)
    })
  }
  stream.addEventListener("reset", () => emit({ _tag: "reset" }))
  stream.addEventListener("error", () => {
    // CONNECTING: the browser retries by itself, with Last-Event-ID; CLOSED: it gave up (an answer
    // that is not a 200 event stream), so ask why
    if (stream.readyState !== EventSource.CLOSED) return
    if (source === stream) source = undefined
    void probe().then((verdict) => {
      if (verdict === "missing") {
        setStatus("unavailable")
        return
      }
      setStatus("connecting")
      retryTimer = setTimeout(() => {
        retryTimer = undefined
        open()
      }, retryDelay)
      retryDelay = Math.min(retryDelay * 2, 30_000)
    })
  })
}

/** Listens to the user's events while subscribed; the stream closes when nobody listens. */
export const subscribeUserEvents = (listener: (event: StreamEvent) => void): (() => void) => {
  listeners.add(listener)
  if (status !== "unavailable") open()
  return () => {
    listeners.delete(listener)
    if (listeners.size === 0) close()
  }
}

/** The stream's status now and on every change (`unavailable`: fall back to the job streams). */
export const watchStreamStatus = (listener: (status: StreamStatus) => void): (() => void) => {
  statusListeners.add(listener)
  listener(status)
  return () => statusListeners.delete(listener)
}

/** Events that mean the mail shown (inbox, matrix, a message) may have changed. */
export const changesMail = (event: StreamEvent): boolean =>
  event._tag === "reset" ||
  event._tag === "mail.stored" ||
  event._tag === "mail.analysed" ||
  event._tag === "rule.applied"

/** Events that mean the job list may have changed. */
export const changesJobs = (event: StreamEvent): boolean => event._tag === "reset" || event._tag === "job.changed"
