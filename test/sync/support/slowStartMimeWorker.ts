/**
 * The real MIME worker for the first thread of a test; every later thread never finishes loading
 * (a thread still starting, for as long as the test runs). The first one is the thread that creates
 * `<SLOW_START_DIR>/first`; each later one writes `<SLOW_START_DIR>/later-<threadId>`.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { threadId } from "node:worker_threads"

const dir = process.env["SLOW_START_DIR"] ?? ""
let first = false
try {
  fs.mkdirSync(path.join(dir, "first"))
  first = true
} catch {
  first = false
}
if (first) await import("../../../src/sync/mimeWorker.ts")
else {
  // each later thread leaves a mark: the test counts the threads started, whether or not they live on
  fs.writeFileSync(path.join(dir, `later-${threadId}`), "")
  await new Promise(() => {})
}
