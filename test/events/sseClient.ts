import { Effect, Schedule } from "effect"

export interface SseMessage {
  readonly id: string | undefined
  readonly event: string | undefined
  readonly data: string | undefined
  /** The text of a comment line (`: heartbeat`), for comment-only blocks. */
  readonly comment: string | undefined
}

export interface SseConnection {
  readonly status: number
  readonly contentType: string | null
  /** Every block received so far, in order (comments included). */
  readonly messages: ReadonlyArray<SseMessage>
  /** The blocks that are events (they have an `event` field). */
  readonly events: () => ReadonlyArray<SseMessage>
  readonly ended: () => boolean
  readonly close: () => void
}

const parseBlock = (block: string): SseMessage => {
  let id: string | undefined
  let event: string | undefined
  let data: string | undefined
  let comment: string | undefined
  for (const line of block.split("\n")) {
    if (line.startsWith(":")) comment = line.slice(1).trim()
    else if (line.startsWith("id: ")) id = line.slice(4)
    else if (line.startsWith("event: ")) event = line.slice(7)
    else if (line.startsWith("data: ")) data = data === undefined ? line.slice(6) : `${data}\n${line.slice(6)}`
  }
  return { id, event, data, comment }
}

/** A real SSE client over fetch: the connection is closed (the client hangs up) with the scope. */
export const openSse = (url: string, headers: Record<string, string>) =>
  Effect.acquireRelease(
    Effect.promise(async (): Promise<SseConnection> => {
      const controller = new AbortController()
      const response = await fetch(url, { headers, signal: controller.signal })
      const messages: Array<SseMessage> = []
      let ended = false
      const body = response.body
      if (body !== null && response.status === 200) {
        const reader = body.pipeThrough(new TextDecoderStream()).getReader()
        let buffer = ""
        const pump = async () => {
          try {
            for (;;) {
              const { value, done } = await reader.read()
              if (done) break
              buffer += value
              let index = buffer.indexOf("\n\n")
              while (index >= 0) {
                messages.push(parseBlock(buffer.slice(0, index)))
                buffer = buffer.slice(index + 2)
                index = buffer.indexOf("\n\n")
              }
            }
          } catch {
            // aborted by close()
          }
          ended = true
        }
        void pump()
      } else {
        ended = true
        await response.text().catch(() => "")
      }
      return {
        status: response.status,
        contentType: response.headers.get("content-type"),
        messages,
        events: () => messages.filter((message) => message.event !== undefined),
        ended: () => ended,
        close: () => controller.abort()
      }
    }),
    (connection) => Effect.sync(() => connection.close())
  )

/** Polls until `check` holds (bounded: 30 s), failing with `what` otherwise. */
export const eventually = (what: string, check: () => boolean) =>
  Effect.suspend(() => (check() ? Effect.void : Effect.fail(what))).pipe(
    Effect.retry(Schedule.spaced("20 millis").pipe(Schedule.upTo({ times: 1500 }))),
    Effect.mapError((message) => new Error(`timed out waiting: ${message}`)),
    Effect.orDie
  )

/** Waits until the stream says its subscription is in place (the `: connected` comment). */
export const connected = (connection: SseConnection) =>
  eventually("connected", () => connection.messages.some((message) => message.comment === "connected"))
