/**
 * The real MIME worker plus two faults for the pool's recovery tests: a source containing
 * "X-Test-Fault: crash" kills the thread, "X-Test-Fault: hang" blocks it for ever.
 *
 * The thread parses the tests' kind of mail before it loads the worker (which tells the pool it is
 * ready): a test's short parse limit then measures a warm thread's parse, not a cold thread
 * compiling the parser on a loaded machine.
 */
import { parentPort } from "node:worker_threads"
import { generateMessages } from "../../harness/mailgen.ts"
import { defaultMimeLimits, parseMessage } from "../../../src/sync/mime.ts"

for (const message of generateMessages(20, { seed: 2024 })) {
  await parseMessage(Buffer.from(message.raw), defaultMimeLimits)
}

await import("../../../src/sync/mimeWorker.ts")

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
