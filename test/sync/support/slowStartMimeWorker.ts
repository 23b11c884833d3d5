/**
 * The real MIME worker for the first thread of a test; every later thread never finishes loading
 * (a thread still starting, for as long as the test runs). The first one is the thread that creates
 * `<SLOW_START_DIR>/first`.
 */
import * as fs from "node:fs"
import * as path from "node:path"

const dir = process.env["SLOW_START_DIR"] ?? ""
let first = false
try {
  fs.mkdirSync(path.join(dir, "first"))
  first = true
} catch {
  first = false
}
if (first) await import("../../../src/sync/mimeWorker.ts")
else await new Promise(() => {})
