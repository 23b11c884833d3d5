/**
 * The real MIME worker plus two faults for the pool's recovery tests: a source containing
 * "X-Test-Fault: crash" kills the thread, "X-Test-Fault: hang" blocks it for ever.
 */
import { parentPort } from "node:worker_threads"
import "../../../src/sync/mimeWorker.ts"

parentPort?.on("message", (message: unknown) => {
  if (typeof message !== "object" || message === null || !("sources" in message) || !Array.isArray(message.sources)) {
    return
  }
  for (const source of message.sources) {
    const text = Buffer.from(source).toString("latin1")
    if (text.includes("X-Test-Fault: crash")) process.exit(3)
    if (text.includes("X-Test-Fault: hang")) for (;;) {}
  }
})
