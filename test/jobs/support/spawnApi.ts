import { type ChildProcess, spawn } from "node:child_process"
import { Effect } from "effect"
import { freePort } from "../../harness/workerProcess.ts"
import type { TestEnv } from "../../harness/TestEnv.ts"

export interface ApiProcess {
  readonly child: ChildProcess
  readonly base: string
  readonly output: () => string
  readonly exited: Promise<{ readonly code: number | null; readonly signal: NodeJS.Signals | null }>
}

/**
 * Starts test/jobs/support/apiProcess.ts as a real child process on the test's database and Redis
 * prefix (plus `extraEnv`), and waits until it answers /health/live. The scope kills it (SIGKILL)
 * if the test has not ended it already.
 */
export const spawnApi = (testEnv: TestEnv, extraEnv: Record<string, string> = {}) =>
  Effect.acquireRelease(
    Effect.promise(async (): Promise<ApiProcess> => {
      const port = await freePort()
      const child = spawn(process.execPath, ["--import", "tsx", "test/jobs/support/apiProcess.ts"], {
        env: { ...process.env, ...testEnv.env, PORT: String(port), LOG_FORMAT: "json", ...extraEnv },
        stdio: ["ignore", "pipe", "pipe"]
      })
      let output = ""
      child.stdout?.on("data", (chunk: Buffer) => {
        output += chunk.toString("utf8")
      })
      child.stderr?.on("data", (chunk: Buffer) => {
        output += chunk.toString("utf8")
      })
      const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
        child.once("exit", (code, signal) => resolve({ code, signal }))
      )
      const base = `http://127.0.0.1:${port}`
      const deadline = Date.now() + 30_000
      for (;;) {
        if (child.exitCode !== null || child.signalCode !== null) throw new Error(`API exited during start:\n${output}`)
        // bounded: the acquisition of a scope cannot be interrupted, so nothing in it may wait for ever
        const live = await fetch(`${base}/health/live`, { signal: AbortSignal.timeout(1_000) }).then(
          (response) => response.ok,
          () => false
        )
        if (live) break
        if (Date.now() > deadline) throw new Error(`API did not start in time:\n${output}`)
        await new Promise((resolve) => setTimeout(resolve, 100))
      }
      return { child, base, output: () => output, exited }
    }),
    (api) =>
      Effect.promise(async () => {
        if (api.child.exitCode === null && api.child.signalCode === null) api.child.kill("SIGKILL")
        await api.exited
      })
  )
