import { createServer, type IncomingHttpHeaders, type Server } from "node:http"
import { Effect } from "effect"
import type { AnalysisResult } from "../../src/contract/analysis/Analysis.ts"

/**
 * A small OpenAI-compatible server on 127.0.0.1 (port chosen by the OS) that
 * records every request and answers with whatever the test scripted:
 * `/v1/chat/completions` and `/v1/embeddings`.
 */

export interface RecordedRequest {
  readonly method: string
  readonly path: string
  readonly headers: IncomingHttpHeaders
  readonly body: unknown
  readonly rawBody: string
}

export interface Reply {
  readonly status?: number
  /** sent as JSON */
  readonly json?: unknown
  /** sent as is (wins over json) */
  readonly text?: string
  readonly headers?: Readonly<Record<string, string>>
  /** wait this long before answering (for timeouts) */
  readonly delayMs?: number
}

/** Decides a reply; `n` counts the calls to this endpoint, from 1. */
export type Behaviour = (request: RecordedRequest, n: number) => Reply

export interface FakeOpenAi {
  readonly baseUrl: string
  readonly requests: ReadonlyArray<RecordedRequest>
  readonly chatRequests: () => ReadonlyArray<RecordedRequest>
  readonly embeddingRequests: () => ReadonlyArray<RecordedRequest>
  readonly onChat: (behaviour: Behaviour) => void
  readonly onEmbeddings: (behaviour: Behaviour) => void
}

/** What a chat completion reports as used (OpenAI's `usage` object). */
export interface ChatUsage {
  readonly prompt_tokens: number
  readonly completion_tokens: number
  readonly total_tokens: number
}

/** A chat completion whose message content is `content`, reporting `usage`. */
export const completion = (
  content: string | null,
  finishReason = "stop",
  usage: ChatUsage = { prompt_tokens: 100, completion_tokens: 40, total_tokens: 140 }
): Reply => ({
  json: {
    id: "chatcmpl-test",
    object: "chat.completion",
    created: 1_773_136_800,
    model: "fake-model",
    choices: [{ index: 0, message: { role: "assistant", content }, finish_reason: finishReason }],
    usage
  }
})

export const validAnalysis: AnalysisResult = {
  urgency: 2,
  importance: 3,
  category: "finance",
  spam: false,
  summary: "Die Rechnung über 39,95 € ist am 24.03.2026 fällig.",
  tags: ["invoice", "payment"],
  language: "de",
  confidence: 0.82
}

/** Deterministic pseudo-embedding of a text (dimension 8). */
export const fakeVector = (text: string): Array<number> => {
  const v = [0, 0, 0, 0, 0, 0, 0, 0]
  for (let i = 0; i < text.length; i++) {
    const k = i % 8
    v[k] = (v[k] ?? 0) + (text.charCodeAt(i) % 17) / 17
  }
  const norm = Math.sqrt(v.reduce((s, x) => s + x * x, 0)) || 1
  return v.map((x) => x / norm)
}

export interface EmbeddingsOptions {
  /** The tokens the answer reports as used for a request of `inputs` texts (default: 10 whatever the count). */
  readonly tokens?: (inputs: number) => number
}

/** Answers every input with its `fakeVector`, in input order, reporting `options.tokens` as usage. */
export const embeddings =
  (options: EmbeddingsOptions = {}): Behaviour =>
  (request) => {
    const body = request.body
    const input =
      typeof body === "object" && body !== null && "input" in body && Array.isArray(body.input) ? body.input : []
    const tokens = options.tokens?.(input.length) ?? 10
    return {
      json: {
        object: "list",
        model: "fake-embed",
        data: input.map((text: unknown, index: number) => ({
          object: "embedding",
          index,
          embedding: fakeVector(String(text))
        })),
        usage: { prompt_tokens: tokens, total_tokens: tokens }
      }
    }
  }

const defaultChat: Behaviour = () => completion(JSON.stringify(validAnalysis))
const defaultEmbeddings: Behaviour = embeddings()

const parseJson = (raw: string): unknown => {
  try {
    return JSON.parse(raw)
  } catch {
    return undefined
  }
}

/** Starts the server for the current scope; it is closed when the scope closes. */
export const startFakeOpenAi = Effect.acquireRelease(
  Effect.callback<{ readonly server: Server; readonly fake: FakeOpenAi }>((resume) => {
    const requests: Array<RecordedRequest> = []
    let chat = defaultChat
    let embeddings = defaultEmbeddings
    let chatCount = 0
    let embeddingCount = 0
    const server = createServer((req, res) => {
      const chunks: Array<Buffer> = []
      req.on("data", (c: Buffer) => chunks.push(c))
      req.on("end", () => {
        const rawBody = Buffer.concat(chunks).toString("utf8")
        const recorded: RecordedRequest = {
          method: req.method ?? "",
          path: req.url ?? "",
          headers: req.headers,
          body: parseJson(rawBody),
          rawBody
        }
        requests.push(recorded)
        let reply: Reply
        if (recorded.path === "/v1/chat/completions") reply = chat(recorded, ++chatCount)
        else if (recorded.path === "/v1/embeddings") reply = embeddings(recorded, ++embeddingCount)
        else reply = { status: 404, json: { error: { message: `no route ${recorded.path}` } } }
        const send = () => {
          if (res.destroyed || res.writableEnded) return
          const body = reply.text ?? JSON.stringify(reply.json ?? {})
          res.writeHead(reply.status ?? 200, {
            "content-type": reply.text === undefined ? "application/json" : "text/plain",
            ...reply.headers
          })
          res.end(body)
        }
        if (reply.delayMs === undefined) send()
        else setTimeout(send, reply.delayMs).unref()
      })
    })
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      const port = address !== null && typeof address === "object" ? address.port : 0
      const fake: FakeOpenAi = {
        baseUrl: `http://127.0.0.1:${port}/v1`,
        requests,
        chatRequests: () => requests.filter((r) => r.path === "/v1/chat/completions"),
        embeddingRequests: () => requests.filter((r) => r.path === "/v1/embeddings"),
        onChat: (b) => {
          chat = b
          chatCount = 0
        },
        onEmbeddings: (b) => {
          embeddings = b
          embeddingCount = 0
        }
      }
      resume(Effect.succeed({ server, fake }))
    })
  }),
  ({ server }) =>
    Effect.callback<void>((resume) => {
      server.closeAllConnections()
      server.close(() => resume(Effect.void))
    })
).pipe(Effect.map(({ fake }) => fake))
