/**
 * Worker-thread entry of the MIME parser pool (see ParserPool.ts). Loaded by Node directly, with
 * its built-in TypeScript type stripping, so it and its imports must stay erasable syntax only.
 */
import { parentPort, workerData } from "node:worker_threads"
import { defaultMimeLimits, type MimeLimits, parseMessage } from "./mime.ts"

interface ParseTask {
  readonly id: number
  readonly sources: ReadonlyArray<Uint8Array>
}

const isParseTask = (value: unknown): value is ParseTask =>
  typeof value === "object" &&
  value !== null &&
  "id" in value &&
  typeof value.id === "number" &&
  "sources" in value &&
  Array.isArray(value.sources) &&
  value.sources.every((source: unknown) => source instanceof Uint8Array)

const hasLimits = (value: unknown): value is { readonly limits: MimeLimits } =>
  typeof value === "object" && value !== null && "limits" in value && typeof value.limits === "object"

const limits: MimeLimits = hasLimits(workerData) ? { ...defaultMimeLimits, ...workerData.limits } : defaultMimeLimits
const port = parentPort

if (port === null) throw new Error("mimeWorker.ts must run in a worker thread")

port.on("message", async (message: unknown) => {
  if (!isParseTask(message)) return
  const results = []
  for (const source of message.sources) results.push(await parseMessage(source, limits))
  port.postMessage({ id: message.id, results })
})

// loaded: the pool sends work from now on (ParserPool.ts), not while this thread was starting
port.postMessage({ ready: true })
