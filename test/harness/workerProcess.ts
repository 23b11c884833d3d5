import { type ChildProcess, spawn } from "node:child_process"
import { Effect } from "effect"
import { expect } from "vitest"
import { appendTestLog } from "./testLogs.ts"
import type { TestEnv } from "./TestEnv.ts"

export interface WorkerProcess {
  readonly child: ChildProcess
  readonly pid: number
  /** Everything the worker wrote, for diagnostics. */
  readonly output: () => string
  /** Resolves with the exit code or signal once the process has ended. */
  readonly exited: Promise<{
    readonly code: number | null
    readonly signal: NodeJS.Signals | null
    readonly at: number
  }>
}

import { freePort } from "./freePort.ts"

export { freePort }

/**
 * Starts `src/main/worker.ts` as a real child process against the test's
 * database and Redis prefix, and waits until it consumes its queues. The
 * scope kills it (SIGKILL) if the test has not ended it already.
 */
export const spawnWorker = (testEnv: TestEnv, extraEnv: Record<string, string> = {}) =>
  Effect.acquireRelease(
    Effect.promise(async (): Promise<WorkerProcess> => {
      const port = await freePort()
      const child = spawn(process.execPath, ["--import", "tsx", "src/main/worker.ts"], {
        env: {
          ...process.env,
          ...testEnv.env,
          LOG_LEVEL: "Info",
          LOG_FORMAT: "json",
          WORKER_METRICS_PORT: String(port),
          ...extraEnv
        },
        stdio: ["ignore", "pipe", "pipe"]
      })
      let output = ""
      // everything the worker writes also goes to this test file's log (.tmp/test-logs)
      const testFile = expect.getState().testPath
      const toTestLog = (chunk: Buffer) => {
        if (testFile !== undefined) appendTestLog(testFile, `[worker ${child.pid}] ${chunk.toString("utf8")}`)
      }
      child.stdout?.on("data", toTestLog)
      child.stderr?.on("data", toTestLog)
      const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) =>
        child.once("exit", (code, signal) => resolve({ code, signal, at: Date.now() }))
      )
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`worker did not start in time:\n${output}`)), 120_000)
        const onData = (chunk: Buffer) => {
          output += chunk.toString("utf8")
          if (output.includes('"message":"worker started')) {
            clearTimeout(timer)
            resolve()
          }
        }
        child.stdout?.on("data", onData)
        child.stderr?.on("data", onData)
        void exited.then(() => reject(new Error(`worker exited during start:\n${output}`)))
      })
      if (child.pid === undefined) throw new Error("worker has no pid")
      return { child, pid: child.pid, output: () => output, exited }
    }),
    (worker) =>
      Effect.promise(async () => {
        if (worker.child.exitCode === null && worker.child.signalCode === null) worker.child.kill("SIGKILL")
        await worker.exited
      })
  )
