/**
 * A stand-in OpenAI-compatible provider that counts what it is sent, for measuring duplicate work
 * of the mail.analyze / mail.embed jobs in a bench run (issue: two jobs of one owner analysing the
 * same pending messages). It answers every chat completion with one valid analysis and every
 * embedding request with fixed vectors, each after `delayMs`, and prints, on SIGINT/SIGTERM and
 * every 10 s: chat requests, distinct mails among them, duplicates (requests - distinct), tokens
 * reported, and the same for embedded texts. A mail is told apart by its prompt text with the
 * per-request random delimiter id removed.
 *
 *   npx tsx bench/countingProvider.ts [port=18080] [delayMs=20]
 *   AI_PROVIDER=openai AI_BASE_URL=http://127.0.0.1:18080/v1 npx tsx bench/fairness.ts imap 2000 3 20
 */
import { createHash } from "node:crypto"
import { createServer } from "node:http"

const port = Number(process.argv[2] ?? 18_080)
const delayMs = Number(process.argv[3] ?? 20)
const TOKENS_PER_CHAT = 140

const chats = new Map<string, number>()
const texts = new Map<string, number>()
let chatRequests = 0
let embeddingRequests = 0
let embeddedTexts = 0

const digest = (text: string) => createHash("sha256").update(text).digest("hex")
const duplicates = (seen: Map<string, number>) => [...seen.values()].reduce((n, c) => n + c - 1, 0)

const report = () =>
  console.log(
    JSON.stringify({
      chatRequests,
      distinctMails: chats.size,
      duplicateAnalyses: duplicates(chats),
      chatTokens: chatRequests * TOKENS_PER_CHAT,
      duplicateTokens: duplicates(chats) * TOKENS_PER_CHAT,
      embeddingRequests,
      embeddedTexts,
      distinctTexts: texts.size,
      duplicateEmbeddings: duplicates(texts)
    })
  )

const analysis = JSON.stringify({
  urgency: 2,
  importance: 2,
  category: "other",
  spam: false,
  summary: "A message.",
  tags: ["bench"],
  language: "en",
  confidence: 0.5
})

createServer((req, res) => {
  const chunks: Array<Buffer> = []
  req.on("data", (c: Buffer) => chunks.push(c))
  req.on("end", () => {
    const raw = Buffer.concat(chunks).toString("utf8")
    let body: unknown
    try {
      body = JSON.parse(raw)
    } catch {
      body = undefined
    }
    let answer: unknown
    if (req.url === "/v1/chat/completions") {
      chatRequests++
      const key = digest(raw.replace(/id=[0-9a-f]{24}/g, "id=*"))
      chats.set(key, (chats.get(key) ?? 0) + 1)
      answer = {
        id: "chatcmpl-bench",
        object: "chat.completion",
        created: 1_773_136_800,
        model: "bench-model",
        choices: [{ index: 0, message: { role: "assistant", content: analysis }, finish_reason: "stop" }],
        usage: { prompt_tokens: 100, completion_tokens: 40, total_tokens: TOKENS_PER_CHAT }
      }
    } else if (req.url === "/v1/embeddings") {
      embeddingRequests++
      const input =
        typeof body === "object" && body !== null && "input" in body && Array.isArray(body.input) ? body.input : []
      for (const text of input) {
        embeddedTexts++
        const key = digest(String(text))
        texts.set(key, (texts.get(key) ?? 0) + 1)
      }
      answer = {
        object: "list",
        model: "bench-embed",
        data: input.map((_: unknown, index: number) => ({ object: "embedding", index, embedding: [1, 0, 0, 0] })),
        usage: { prompt_tokens: input.length, total_tokens: input.length }
      }
    } else {
      res.writeHead(404).end()
      return
    }
    setTimeout(() => {
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(answer))
    }, delayMs)
  })
}).listen(port, "127.0.0.1", () => console.log(`counting provider on http://127.0.0.1:${port}/v1`))

setInterval(report, 10_000).unref()
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    report()
    process.exit(0)
  })
}
